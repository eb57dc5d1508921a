"""`mmdg-bench sweep status`: done / running / failed / interrupted / pending for every run that a
sweep under the folder planned."""

import shlex
from pathlib import Path

import pandas as pd

from mmdg_bench.engine.checkpoint import CHECKPOINT
from mmdg_bench.engine.run_folder import RunFolder
from mmdg_bench.errors import UserError
from mmdg_bench.sweep.execute import ERROR, lacks_weights
from mmdg_bench.sweep.plan import RunSpec, saved_plans

STATES = ["done", "running", "failed", "interrupted", "pending"]


def run_state(spec: RunSpec) -> tuple[str, str]:
    """(state, detail) of one planned run. "running": a process holds its folder's lock, on any host
    of the file system (call this from a process that holds no run folder lock)."""
    folder = RunFolder(spec.folder())
    if folder.is_done() and lacks_weights(spec, folder.path):
        return "pending", "finished without kept weights, which the runs that read it need: trained again with them"
    if folder.is_done():
        return "done", ""
    if folder.is_locked():
        return "running", ""
    if (folder.path / ERROR).is_file():
        return "failed", (folder.path / ERROR).read_text().splitlines()[0]
    if (folder.path / CHECKPOINT).is_file():
        return "interrupted", "resumes from its last epoch"
    return "pending", ""


def sweep_status(out: Path) -> pd.DataFrame:
    plan = saved_plans(out)
    if not plan:
        raise UserError(f"no sweep planned under {out}: start one with "
                        f"`mmdg-bench sweep --out {shlex.quote(str(out))}`")
    rows = [{"strategy": s.strategy, "target": s.target, "seed": s.seed, "preset": s.preset,
             "state": state, "detail": detail} for s in plan for state, detail in [run_state(s)]]
    return pd.DataFrame(rows)
