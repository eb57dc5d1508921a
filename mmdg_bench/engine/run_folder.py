"""A run folder per (preset, strategy, target, seed, config hash), DomainBed's pattern.

    config.yaml     the resolved config
    metrics.jsonl   one line per epoch: losses, every accuracy, strategy diagnostics
    summary.json    identifiers, model selections, clip counts (written atomically)
    done            written last: a folder without it is unfinished and is never read as a result

One process trains a folder at a time: it holds an exclusive lock on <out>/.locks/<folder name>.lock
(outside the folder, which a fresh start deletes and recreates).
"""

import contextlib
import errno
import fcntl
import functools
import json
import os
import shutil
import socket
from pathlib import Path

import yaml

from mmdg_bench.errors import UserError
from mmdg_bench.files import DONE, write_text_atomically

SUMMARY = "summary.json"
METRICS = "metrics.jsonl"
CONFIG = "config.yaml"
LOCKS = ".locks"


class RunFolderBusy(UserError):
    """Another process holds the run folder's lock: it is training that run now."""


def run_folder_of(config, target: str, out_root: Path | str) -> "RunFolder":
    """The folder of the run of `config` (a Config) holding out `target`, under `out_root`."""
    return RunFolder(Path(out_root) / config.folder_name(target))


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str, wait: bool = False, discard=None):
    """Hold a POSIX record lock (fcntl) on `path` for the block. Such a lock works across the hosts of
    a shared file system (NFS, Lustre) and is released by the OS when its holder dies, so a killed
    process never blocks the next one. Raises RunFolderBusy when another process holds it (or waits
    for it with `wait`). The holder writes its pid and host into the file, to be named to the others.
    When `discard()` says so after the block, the holder removes the lock file (and its folder when
    empty) before letting go; a process that locked a file removed meanwhile locks the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError as err:
            os.close(fd)
            if err.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            raise RunFolderBusy(f"{what} is being trained by another process ({lock_holder(path)}); "
                                f"wait for it to finish or stop that process, then run again") from None
        if same_file(fd, path):
            break
        os.close(fd)  # its holder removed it while this process waited: lock the file there now
    try:  # closing the descriptor releases the lock
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
        yield
    finally:
        try:
            if discard is not None and discard():
                path.unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    path.parent.rmdir()  # only when no other lock file is there
        finally:
            os.close(fd)


def same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def lock_holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text())
        return f"pid {holder['pid']} on {holder['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "its pid is unknown"


def one_trainer_per_folder(train):
    """Decorates `train(config, target, out_root, ...)`: the run folder's lock is held while it runs,
    so a second process that would train the same folder gets RunFolderBusy instead."""

    @functools.wraps(train)
    def locked(config, target: str, out_root, *args, **kwargs):
        folder, root_existed = run_folder_of(config, target, out_root), Path(out_root).exists()
        try:  # a run refused before its folder exists leaves nothing behind (it used to leave .locks/)
            with folder.lock(discard=lambda: not folder.path.exists()):
                return train(config, target, out_root, *args, **kwargs)
        finally:
            if not root_existed:
                with contextlib.suppress(OSError):
                    Path(out_root).rmdir()  # only when empty

    return locked


class RunFolder:
    def __init__(self, path: Path):
        self.path = Path(path)

    def is_done(self) -> bool:
        return (self.path / DONE).is_file()

    @property
    def lock_path(self) -> Path:
        return self.path.parent / LOCKS / f"{self.path.name}.lock"

    def lock(self, wait: bool = False, discard=None):
        """The exclusive lock of this run folder, as a context manager (see `exclusive_lock`)."""
        return exclusive_lock(self.lock_path, f"run folder {self.path}", wait, discard)

    def is_locked(self) -> bool:
        """Whether another process holds the lock now (is training this run)."""
        if not self.lock_path.is_file():
            return False
        try:
            with self.lock():
                return False
        except RunFolderBusy:
            return True

    def start(self, config: dict) -> None:
        """Begin a fresh run: an unfinished earlier attempt in this folder is discarded."""
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)
        write_text_atomically(self.path / CONFIG, yaml.safe_dump(config, sort_keys=False))

    def metrics(self, epochs: int | None = None) -> list[dict]:
        """The first `epochs` metric lines (all by default), read up to the first that is not whole JSON:
        a line cut short by a full disk or a kill while it was appended ends what was recorded."""
        path = self.path / METRICS
        lines = []
        for line in (path.read_text(errors="replace").splitlines() if path.is_file() else [])[:epochs]:
            try:
                lines.append(json.loads(line))
            except ValueError:
                break
        return lines

    def keep_metrics(self, epochs: int) -> list[dict]:
        """Drop metric lines past `epochs` (written after the last checkpoint); returns those kept."""
        kept = self.metrics(epochs)
        write_text_atomically(self.path / METRICS, "".join(json.dumps(line) + "\n" for line in kept))
        return kept

    def append_metrics(self, line: dict) -> None:
        with open(self.path / METRICS, "a") as out:
            out.write(json.dumps(line) + "\n")

    def finish(self, summary: dict) -> None:
        write_text_atomically(self.path / SUMMARY, json.dumps(summary, indent=2))
        (self.path / DONE).write_text("")

    def summary(self) -> dict:
        """The finished run's summary; a damaged one (cut short, hand-edited) is one sentence with the repair."""
        path = self.path / SUMMARY
        try:
            summary = json.loads(path.read_text())
            if not (isinstance(summary, dict) and isinstance(summary.get("selection"), dict)
                    and isinstance(summary.get("target_domain"), str)):
                raise ValueError("it is not a summary as a run writes it")
        except (OSError, ValueError) as err:
            reason = err.strerror if isinstance(err, OSError) else str(err).splitlines()[0]
            raise UserError(f"the summary of the finished run {self.path} is damaged ({path.name}: {reason}): "
                            f"retrain it with --force, or delete the folder") from None
        return summary
