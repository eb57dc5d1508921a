"""Experiment trackers behind one small protocol (`RunLogger`), chosen by name: `--logger csv`,
`tensorboard`, `mlflow`, `wandb` (repeatable; the `loggers` setting). Each writes under the run
folder, in `<run>/logs/`. The trackers are optional extras: `pip install 'mmdg-bench[tensorboard]'`.

A tracker of your own is a class registered with `@LOGGERS.register("name")` in a plugin.
"""

from mmdg_bench.loggers.base import LOGGERS, LoggerGroup, RunLogger, flat_metrics, make_loggers
from mmdg_bench.registry import import_submodules

import_submodules(__name__)

__all__ = ["LOGGERS", "LoggerGroup", "RunLogger", "flat_metrics", "make_loggers"]
