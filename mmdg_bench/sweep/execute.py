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


def lacks_weights(spec: RunSpec, folder: Path) -> bool:
    """Whether `spec` is a run that others read (a teacher) and its finished folder kept no weights (it ran
    with keep_weights false): it is trained again, with them."""
    from mmdg_bench.engine.checkpoint import WEIGHTS

    return bool(spec.role) and not all((folder / WEIGHTS / f"{name}.pt").is_file() for name in ("best-val", "last"))


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
    force = folder.is_done() and lacks_weights(spec, folder.path)
    if folder.is_done() and not force:
        return "skipped"
    if force:
        say(f"retraining {spec.label}: it finished without kept weights, which the runs that read it need "
            f"(training is deterministic: the same run, with its weights)")
    if wait:
        with folder.lock(wait=True):
            pass
    with warnings.catch_warnings():
        warnings.showwarning = lambda message, *_: say(f"warning: {spec.label}: {message}")
        try:
            if threads:
                config.threads = threads
            result = train_run(config, spec.target, spec.out, progress=EpochLines(spec.label, say), force=force)
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
