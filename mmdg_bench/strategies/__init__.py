"""Gradient strategies: each turns the per-modality losses of a step into parameter gradients.

The engine calls `strategy.backward(step)` and then the optimizer; it never branches on a
strategy's name. A new strategy is one file with a `@STRATEGIES.register("name")` class.
"""

from mmdg_bench.strategies.base import STRATEGIES, StepLosses, Strategy

# Register the strategies.
from mmdg_bench.strategies import baseline as _baseline  # noqa: F401,E402
from mmdg_bench.strategies import gmp as _gmp  # noqa: F401,E402
from mmdg_bench.strategies import gmp_fast as _gmp_fast  # noqa: F401,E402
from mmdg_bench.strategies import grad_blending as _grad_blending  # noqa: F401,E402
from mmdg_bench.strategies import ogm_ge as _ogm_ge  # noqa: F401,E402
from mmdg_bench.strategies import pcgrad as _pcgrad  # noqa: F401,E402

__all__ = ["STRATEGIES", "StepLosses", "Strategy"]
