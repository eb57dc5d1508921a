"""Running one planned run inside a sweep: skip it when done, leave it to the process that is
training it, resume it when interrupted, and record its error instead of stopping the sweep."""

import traceback
import warnings
from pathlib import Path

from mmdg_bench.engine.run_folder import RunFolderBusy, run_folder_of
from mmdg_bench.files import write_text_atomically
from mmdg_bench.sweep.plan import RunSpec

ERROR = "error.txt"


def error_file(spec: RunSpec) -> Path:
    return spec.folder() / ERROR


def say(text: str) -> None:
    """One line of a sweep's output, from this process or a pool worker (flushed at once)."""
    print(text, flush=True)


def run_spec(spec: RunSpec, threads: int = 0, wait: bool = False) -> str:
    """Train one run; returns "done", "skipped" (finished already, here or by another process),
    "busy" (another process is training it) or "failed". With `wait`, first wait until no other
    process trains it. Never raises for a run that fails (its error goes to <folder>/error.txt);
    Ctrl-C still stops the sweep."""
    from mmdg_bench.engine import train_run
    from mmdg_bench.progress import EpochLines

    config = spec.config()  # once: it names the folder and trains the run
    folder = run_folder_of(config, spec.target, spec.out)
    if folder.is_done():
        return "skipped"
    if wait:
        with folder.lock(wait=True):
            pass
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *_: say(f"warning: {spec.label}: {message}")
        try:
            if threads:
                config.threads = threads
            result = train_run(config, spec.target, spec.out, progress=EpochLines(spec.label, say))
        except RunFolderBusy:
            return "busy"
        except Exception as err:
            folder.path.mkdir(parents=True, exist_ok=True)
            reason = str(err).splitlines()[0] if str(err) else ""
            try:  # on a full disk the error cannot be recorded: the outcome still says "failed"
                write_text_atomically(folder.path / ERROR,
                                      f"{type(err).__name__}: {reason}\n\n{traceback.format_exc()}")
            except OSError:
                pass
            return "failed"
    (folder.path / ERROR).unlink(missing_ok=True)
    return "skipped" if result.reused else "done"
