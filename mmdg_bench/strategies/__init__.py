"""Gradient strategies: each turns the per-modality losses of a step into parameter gradients.

The engine calls `strategy.backward(step)` and then the optimizer; it never branches on a
strategy's name. A new strategy is one file in this package with a `@STRATEGIES.register("name",
...)` class: every module here is imported, so it needs no import line.
"""

from mmdg_bench.losses import LossTerm, StepLosses
from mmdg_bench.registry import import_submodules
from mmdg_bench.strategies.base import STRATEGIES, Strategy

import_submodules(__name__)

__all__ = ["STRATEGIES", "LossTerm", "StepLosses", "Strategy"]
