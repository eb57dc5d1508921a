"""PCGrad (Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020; SPEC §4) per encoder.

The two tasks are classification and domain invariance: for every modality m, g_c^m and g_d^m are
taken separately (two backward passes, `split_encoder_gradients`), a gradient that conflicts with
the other (negative dot product over all of theta_m) loses its component along it, and the encoder
update is the sum. The heads get their ordinary gradients. Works for any number of modalities.

    mmdg-bench run --strategy pcgrad
"""

import torch

from mmdg_bench.strategies.base import STRATEGIES, StepLosses, Strategy
from mmdg_bench.strategies.functional import pcgrad
from mmdg_bench.strategies.gradients import pair_diagnostics, seeded_generator, split_encoder_gradients, write_gradient


@STRATEGIES.register("pcgrad")
class PCGrad(Strategy):
    description = "PCGrad per encoder between the classification and domain-invariance gradients"
    state_attributes = ("generator",)

    def __init__(self, params, model):
        super().__init__(params, model)
        self.generator = seeded_generator(model)  # PCGrad's random task order, repeatable per seed

    def backward(self, step: StepLosses) -> dict[str, float]:
        diagnostics = {}
        for m, (g_c, g_d) in split_encoder_gradients(self.model, step).items():
            # PCGrad Alg. 1: project each task's gradient off the others it conflicts with, then sum.
            write_gradient(self.model.encoder_parameters(m), pcgrad(torch.stack((g_c, g_d)), self.generator))
            diagnostics.update(pair_diagnostics(m, g_c, g_d))
        return diagnostics
