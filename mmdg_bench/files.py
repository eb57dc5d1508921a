"""Where the benchmark keeps what it makes for itself, and writing files so that a reader, or a process
started after a crash, never sees half of one."""

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

FULL = 1 << 16  # bytes left on a file system that a failed write is taken to have filled
DONE = "done"  # <run>/done: written last, when the run finished
WEIGHTS = "weights"  # <run>/weights/{last,best-val}.pt: a run's kept weights (evaluate, UMT's teachers)
FEATURES = "features.npz"  # <run>/features.npz: pooled features at the selected epoch (evaluate --features)


def cache_dir() -> Path:
    """$MMDG_BENCH_CACHE, else ~/.cache/mmdg-bench: the synthetic set, feature caches, crash reports."""
    return Path(os.environ.get("MMDG_BENCH_CACHE", Path.home() / ".cache" / "mmdg-bench"))


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """`write(temporary path)`, then a rename onto `path`: a killed or failing writer (a full disk) leaves
    either the old file or the new one, and never its temporary sibling."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        full = not isinstance(err, OSError) and free_bytes(path.parent) < FULL
        tmp.unlink(missing_ok=True)
        if full:  # torch.save reports a full disk as a RuntimeError of its own: say what it is
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from err
        raise


def free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return FULL


def write_text_atomically(path: Path, text: str) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(text))
