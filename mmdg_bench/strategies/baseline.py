"""baseline: the plain sum of the loss terms, one backward pass."""

from mmdg_bench.strategies.base import STRATEGIES, StepLosses, Strategy


@STRATEGIES.register("baseline", family="baseline", block="main", paper_row="Base", order=0, colour="#4d4d4d", cost=1.0,
                    neutral={})
class Baseline(Strategy):
    description = "plain sum L_c + lambda L_d, one backward pass (concat-fusion ERM with DANN heads)"

    def backward(self, step: StepLosses) -> dict[str, float]:
        step.total.backward()
        return {}
