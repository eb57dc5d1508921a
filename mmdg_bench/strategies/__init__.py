"""Gradient strategies: each turns the per-modality losses of a step into parameter gradients.

The engine calls `strategy.backward(step)` and then the optimizer; it never branches on a
strategy's name. A new strategy is one file with a `@STRATEGIES.register("name")` class.
"""

from mmdg_bench.strategies.base import STRATEGIES, StepLosses, Strategy

# Register the strategies.
from mmdg_bench.strategies import baseline as _baseline  # noqa: F401,E402

__all__ = ["STRATEGIES", "StepLosses", "Strategy"]
