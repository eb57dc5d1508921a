"""baseline: the plain sum of losses, one backward pass (SPEC §4)."""

from mmdg_bench.strategies.base import STRATEGIES, StepLosses, Strategy


@STRATEGIES.register("baseline")
class Baseline(Strategy):
    description = "plain sum L_c + lambda L_d, one backward pass (concat-fusion ERM with DANN heads)"

    def backward(self, step: StepLosses) -> dict[str, float]:
        (step.classification + step.domain).backward()
        return {}
