"""`mmdg-bench sweep status`: done / running / failed / interrupted / pending for every run that a
sweep under the folder planned."""

import json
import os
import socket
from pathlib import Path

import pandas as pd

from mmdg_bench.engine.checkpoint import CHECKPOINT
from mmdg_bench.engine.run_folder import DONE
from mmdg_bench.errors import UserError
from mmdg_bench.sweep.execute import ERROR, running_marker
from mmdg_bench.sweep.plan import RunSpec, saved_plans

STATES = ["done", "running", "failed", "interrupted", "pending"]


def _alive(marker: Path) -> bool:
    """A run is running while the process that marked it lives (checked on its own host only;
    a marker from another host counts as running)."""
    try:
        owner = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    if owner.get("host") != socket.gethostname():
        return True
    try:
        os.kill(owner["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_state(spec: RunSpec) -> tuple[str, str]:
    """(state, detail) of one planned run."""
    folder = spec.folder()
    if (folder / DONE).is_file():
        return "done", ""
    if _alive(running_marker(spec, folder)):
        return "running", ""
    if (folder / ERROR).is_file():
        return "failed", (folder / ERROR).read_text().splitlines()[0]
    if (folder / CHECKPOINT).is_file():
        return "interrupted", "resumes from its last epoch"
    return "pending", ""


def sweep_status(out: Path) -> pd.DataFrame:
    plan = saved_plans(out)
    if not plan:
        raise UserError(f"no sweep planned under {out}: start one with `mmdg-bench sweep --out {out}`")
    rows = [{"strategy": s.strategy, "target": s.target, "seed": s.seed, "preset": s.preset,
             "state": state, "detail": detail} for s in plan for state, detail in [run_state(s)]]
    return pd.DataFrame(rows)
