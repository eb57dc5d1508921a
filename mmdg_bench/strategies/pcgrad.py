"""PCGrad (Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020) per encoder; the
PCGrad row of GMP's Table 4 projection block.

The two tasks are classification and domain invariance: for every modality m, g_c^m and g_d^m are
taken separately (`split_encoder_gradients`), a gradient that conflicts with the other (negative dot
product over all of theta_m) loses its component along it, and the encoder update is the sum (plus
the loss's plain part, untouched). The heads get their ordinary gradients. Any number of modalities.

    mmdg-bench run --strategy pcgrad
"""

import torch

from mmdg_bench.facts import STRATEGY_FACTS
from mmdg_bench.losses import StepLosses
from mmdg_bench.seeding import stream
from mmdg_bench.strategies.base import STRATEGIES, Strategy
from mmdg_bench.strategies.functional import pcgrad
from mmdg_bench.strategies.gradients import pair_diagnostics, split_encoder_gradients, write_gradient


@STRATEGIES.register("pcgrad", **STRATEGY_FACTS["pcgrad"].given())
class PCGrad(Strategy):
    description = "PCGrad per encoder between the classification and domain-invariance gradients"
    state_attributes = ("generator",)

    def __init__(self, params, model, seed: int = 0):
        super().__init__(params, model, seed)
        device = next(model.parameters()).device
        self.generator = stream(seed, "pcgrad/order", device=device)  # PCGrad's random task order

    def backward(self, step: StepLosses) -> dict[str, float]:
        diagnostics = {}
        for m, g in split_encoder_gradients(self.model, step).items():
            # PCGrad Alg. 1: project each task's gradient off the others it conflicts with, then sum.
            update = pcgrad(torch.stack((g.cls, g.dom)), self.generator) + g.plain
            write_gradient(self.model.encoder_parameters(m), update)
            diagnostics.update(pair_diagnostics(m, g.cls, g.dom))
        return diagnostics
