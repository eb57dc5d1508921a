"""OGM-GE: On-the-fly Gradient Modulation with Generalisation Enhancement (Peng et al., CVPR 2022;
SPEC §4).

One backward pass of the plain loss, then per modality m: score s_m = sum over the batch of the
unimodal head's true-class probability, ratio r_m = s_m / mean_{j != m} s_j, coefficient
k_m = 1 - tanh(alpha r_m) for a dominant modality (r_m > 1), else 1, and every encoder parameter
tensor gets g <- k_m g + N(0, std(g)^2), the noise drawn with the std of the unscaled gradient (GE).
Active for the epochs in [start_epoch, end_epoch] (the engine counts epochs from 1); outside the
window the gradients are exactly baseline's.

Differences from the official code, on purpose: it scales only the conv weights (and silently does
nothing without DataParallel); here every trainable encoder parameter is modulated. Its score comes
from the fused classifier's per-modality share of the logits; here from the unimodal heads that
every strategy of the benchmark has (SPEC §3).

    mmdg-bench run --strategy ogm-ge --set strategy.ogm-ge.alpha=0.3
"""

import math
from dataclasses import dataclass

import torch
from torch import nn

from mmdg_bench.errors import UserError
from mmdg_bench.strategies.base import STRATEGIES, StepLosses, Strategy
from mmdg_bench.strategies.functional import dominance_ratios, tanh_modulation
from mmdg_bench.strategies.gradients import require_two_modalities, seeded_generator, semantic_confidences


@dataclass
class OGMGEParams:
    alpha: float = 0.5  # modulation strength; the paper tunes it per dataset in 0.1..0.8 (GMP's alpha_k is 0.5)
    start_epoch: int = 0  # first epoch of the modulation window (official default 0)
    end_epoch: int = 50  # last epoch of the window, inclusive (official default 50)

    def validate(self) -> None:
        if not (self.alpha >= 0 and math.isfinite(self.alpha)):
            raise UserError(f"OGM-GE's alpha must be a finite number >= 0, got {self.alpha}")
        if not 0 <= self.start_epoch <= self.end_epoch:
            raise UserError(f"OGM-GE's window needs 0 <= start_epoch <= end_epoch, "
                            f"got start_epoch={self.start_epoch}, end_epoch={self.end_epoch}")


def modulate_with_noise(params: list[nn.Parameter], coeff: float, generator: torch.Generator) -> None:
    """g <- coeff g + N(0, std(g)^2) per parameter tensor (OGM-GE Eq. 10 and its GE noise)."""
    for p in params:
        if p.grad is None:
            continue
        noise = torch.randn(p.grad.shape, generator=generator, device=p.grad.device, dtype=p.grad.dtype)
        # Population std (correction=0): defined for one-element tensors too, and NaN stays NaN.
        # In place on the fresh noise tensor: this runs on every parameter at every step.
        p.grad = noise.mul_(p.grad.std(correction=0)).add_(p.grad, alpha=coeff)


@STRATEGIES.register("ogm-ge")
class OGMGE(Strategy):
    description = "OGM-GE: slow the dominant modality's encoder by 1 - tanh(alpha r), plus gradient noise"
    state_attributes = ("generator",)
    Params = OGMGEParams

    def __init__(self, params: OGMGEParams, model):
        super().__init__(params, model)
        require_two_modalities(model, "OGM-GE")
        self.generator = seeded_generator(model)

    def active(self) -> bool:
        return self.params.start_epoch <= self.epoch <= self.params.end_epoch

    def backward(self, step: StepLosses) -> dict[str, float]:
        (step.classification + step.domain).backward()
        modalities = self.model.modalities
        ratios = dominance_ratios(semantic_confidences(step, modalities))
        coeffs = tanh_modulation(ratios, self.params.alpha).tolist() if self.active() else [1.0] * len(modalities)
        diagnostics = {"ogm/active": float(self.active())}
        for m, ratio, coeff in zip(modalities, ratios.tolist(), coeffs):
            if self.active():
                modulate_with_noise(self.model.encoder_parameters(m), coeff, self.generator)
            diagnostics[f"ogm/{m}/ratio"] = ratio
            diagnostics[f"ogm/{m}/coeff"] = coeff
        return diagnostics
