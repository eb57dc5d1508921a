"""The protocol every tracker implements, and the group the engine talks to.

The engine calls `start` once per training process (again after a resume), `log_epoch` after each
epoch with the epoch's flat metrics (`train/loss_cls`, `val/fused`, `target/audio`,
`strategy/video/rho`, ...), and `finish` with the run's summary (None when training stopped early).
"""

import importlib
from pathlib import Path
from typing import Protocol

from mmdg_bench.errors import UserError
from mmdg_bench.registry import Registry
from mmdg_bench.settings import flat_settings

LOGS = "logs"  # <run>/logs/: where every tracker writes


class RunLogger(Protocol):
    def start(self, run_name: str, folder: Path, config: dict) -> None: ...
    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None: ...
    def finish(self, summary: dict | None) -> None: ...


# Entries: classes built without arguments; the constructor checks that the tracker's library is installed.
LOGGERS: Registry[type[RunLogger]] = Registry("logger")


def require(module: str, logger: str, extra: str):
    """Import the tracker's library, or say in one sentence which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"the {logger} logger needs {module.split('.')[0]}, which is not installed: "
                        f"pip install 'mmdg-bench[{extra}]'") from None


def flat_metrics(line: dict, prefix: str = "") -> dict[str, float]:
    """An epoch's metrics line as {"val/fused": 81.2, "strategy/video/rho": 1.1, ...} (no epoch)."""
    flat = {}
    for key, value in line.items():
        if key == "epoch" and not prefix:
            continue
        if isinstance(value, dict):
            flat.update(flat_metrics(value, f"{prefix}{key}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[f"{prefix}{key}"] = float(value)
    return flat


def flat_config(config: dict) -> dict[str, str]:
    """A config dict as {"optim.lr": "0.001", ...}, for trackers whose parameters are flat strings."""
    return {path: str(value) for path, value in flat_settings(config).items()}


class LoggerGroup:
    """Several trackers as one."""

    def __init__(self, loggers: list[RunLogger]):
        self.loggers = loggers

    def start(self, run_name: str, folder: Path, config: dict) -> None:
        if self.loggers:
            (Path(folder) / LOGS).mkdir(parents=True, exist_ok=True)
        for logger in self.loggers:
            logger.start(run_name, Path(folder), config)

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        for logger in self.loggers:
            logger.log_epoch(epoch, metrics)

    def finish(self, summary: dict | None) -> None:
        for logger in self.loggers:
            logger.finish(summary)


def make_loggers(names: list[str]) -> LoggerGroup:
    """The trackers named (each once); an unknown name or a missing library is a UserError."""
    return LoggerGroup([LOGGERS.get(name)() for name in dict.fromkeys(names)])
