"""baseline: the plain sum of the loss terms, one backward pass."""

from mmdg_bench.facts import STRATEGY_FACTS
from mmdg_bench.losses import StepLosses
from mmdg_bench.strategies.base import STRATEGIES, Strategy


@STRATEGIES.register("baseline", **STRATEGY_FACTS["baseline"].given())
class Baseline(Strategy):
    description = "plain sum L_c + lambda L_d, one backward pass (concat-fusion ERM with DANN heads)"

    def backward(self, step: StepLosses) -> dict[str, float]:
        step.total.backward()
        return {}
