"""Running one planned run inside a sweep: skip it when done, resume it when interrupted, and
record its error instead of stopping the sweep when it fails."""

import json
import os
import socket
import time
import traceback
from pathlib import Path

from mmdg_bench.engine.run_folder import DONE
from mmdg_bench.sweep.plan import RunSpec

ERROR = "error.txt"
RUNNING = ".running"  # <out>/.running/<run folder name>: which process is training it


def running_marker(spec: RunSpec, folder: Path) -> Path:
    return Path(spec.out) / RUNNING / folder.name


def run_spec(spec: RunSpec, threads: int = 0) -> str:
    """Train one run; returns "done", "skipped" (already done) or "failed". Never raises for a run
    that fails (its error goes to <folder>/error.txt); Ctrl-C still stops the sweep."""
    from mmdg_bench.engine import train_run

    folder = spec.folder()
    if (folder / DONE).is_file():
        return "skipped"
    marker = running_marker(spec, folder)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}))
    (folder / ERROR).unlink(missing_ok=True)
    try:
        config = spec.config()
        if threads:
            config.threads = threads
        train_run(config, spec.target, spec.out)
        return "done"
    except Exception as err:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ERROR).write_text(f"{type(err).__name__}: {err}\n\n{traceback.format_exc()}")
        return "failed"
    finally:
        marker.unlink(missing_ok=True)
