"""OGM-GE: On-the-fly Gradient Modulation with Generalisation Enhancement (Peng et al., CVPR 2022).

Per modality m: score s_m = sum over the batch of the unimodal head's true-class probability, ratio
r_m = s_m / mean_{j != m} s_j, coefficient k_m = 1 - tanh(alpha r_m) for a dominant modality
(r_m > 1), else 1, and every encoder parameter tensor's gradient g gets g <- k_m g + N(0, std(g)^2),
the noise drawn with the (unbiased, + 1e-8) std of the unscaled gradient (GE), as the official code
draws it. Active for the epochs in [start_epoch, end_epoch], counted from 0 as the official loop
counts them (the engine's first epoch is epoch 0 here); outside the window the gradients are exactly
baseline's.

Which gradient g is (`modulate`): OGM-GE knows only a classification loss, so by default
(`classification`) it modulates g_c, the classification gradient, and leaves the domain-adversarial
gradient and the loss's plain part untouched; that takes one backward pass per task group.
`all` modulates (and adds noise to) the encoders' whole gradient, domain part included, after one
backward pass: the first version of this benchmark did that.

Differences from the official code, on purpose: it scales only the conv weights (and silently does
nothing without DataParallel); here every trainable encoder parameter is modulated. Its score comes
from the fused classifier's per-modality share of the logits; here from the unimodal heads that
every strategy of the benchmark has.

    mmdg-bench run --strategy ogm-ge --set strategy.ogm-ge.alpha=0.3
"""

from dataclasses import dataclass
from typing import ClassVar

import torch

from mmdg_bench.errors import check_choice
from mmdg_bench.facts import STRATEGY_FACTS
from mmdg_bench.losses import StepLosses
from mmdg_bench.search_space import LogUniform
from mmdg_bench.seeding import stream
from mmdg_bench.strategies.base import STRATEGIES, Strategy
from mmdg_bench.strategies.functional import dominance_ratios, tanh_modulation
from mmdg_bench.strategies.gradients import (
    require_two_modalities,
    semantic_confidences,
    split_encoder_gradients,
    write_gradient,
)
from mmdg_bench.strategies.params import check_finite, check_window


@dataclass
class OGMGEParams:
    alpha: float = 0.5  # modulation strength; the paper tunes it per dataset in 0.1..0.8 (GMP's alpha_k is 0.5)
    start_epoch: int = 0  # first epoch of the modulation window, counted from 0 (official default 0)
    end_epoch: int = 50  # last epoch of the window, inclusive (official default 50)
    modulate: str = "classification"  # the gradient modulated: "classification" (g_c) or "all" (see above)

    # Tuning (`sweep --tune`): the DomainBed-style proposal, 10^U(-1, 0.5) around the official 0.1..0.8.
    SEARCH: ClassVar[dict] = {"alpha": LogUniform(0.1, 10**0.5)}

    def validate(self) -> None:
        check_finite("OGM-GE", "alpha", self.alpha)
        check_window("OGM-GE", self.start_epoch, self.end_epoch)
        check_choice(self.modulate, MODULATE, "OGM-GE's modulate")


MODULATE = ("classification", "all")


def ge_noise_std(grad: torch.Tensor) -> torch.Tensor:
    """The official GE noise scale: the unbiased std of the gradient + 1e-8 (a one-element tensor,
    whose unbiased std is undefined, gets 1e-8)."""
    std = grad.std() if grad.numel() > 1 else grad.new_zeros(())
    return std + 1e-8


def modulate_with_noise(grads: list[torch.Tensor], coeff: float, generator: torch.Generator) -> list[torch.Tensor]:
    """coeff g + N(0, std(g)^2) per parameter tensor (OGM-GE Eq. 10 and its GE noise)."""
    modulated = []
    for g in grads:
        noise = torch.randn(g.shape, generator=generator, device=g.device, dtype=g.dtype)
        # In place on the fresh noise tensor: this runs on every parameter at every step.
        modulated.append(noise.mul_(ge_noise_std(g)).add_(g, alpha=coeff))
    return modulated


@STRATEGIES.register("ogm-ge", **STRATEGY_FACTS["ogm-ge"].given())
class OGMGE(Strategy):
    description = "OGM-GE: slow the dominant modality's classification gradient by 1 - tanh(alpha r), plus noise"
    state_attributes = ("generator",)
    Params = OGMGEParams

    def __init__(self, params: OGMGEParams, model, seed: int = 0):
        super().__init__(params, model, seed)
        require_two_modalities(model, "OGM-GE")
        self.generator = stream(seed, "ogm-ge/noise", device=next(model.parameters()).device)

    def active(self) -> bool:
        official_epoch = self.epoch - 1  # the official `for epoch in range(epochs)`: the first is 0
        return self.params.start_epoch <= official_epoch <= self.params.end_epoch

    def backward(self, step: StepLosses) -> dict[str, float]:
        modalities = self.model.modalities
        ratios = dominance_ratios(semantic_confidences(step, modalities))
        coeffs = tanh_modulation(ratios, self.params.alpha).tolist() if self.active() else [1.0] * len(modalities)
        if not self.active():
            step.total.backward()
        elif self.params.modulate == "all":
            step.total.backward()
            for m, coeff in zip(modalities, coeffs):
                params = [p for p in self.model.encoder_parameters(m) if p.grad is not None]
                for p, g in zip(params, modulate_with_noise([p.grad for p in params], coeff, self.generator)):
                    p.grad = g
        else:
            for m, g in split_encoder_gradients(self.model, step).items():
                params = self.model.encoder_parameters(m)
                sizes = [p.numel() for p in params]
                g_c = modulate_with_noise(list(torch.split(g.cls, sizes)), coeffs[modalities.index(m)], self.generator)
                write_gradient(params, torch.cat([x.reshape(-1) for x in g_c]) + g.dom + g.plain)
        diagnostics = {"ogm/active": float(self.active())}
        for m, ratio, coeff in zip(modalities, ratios, coeffs):  # the ratios stay on the device (read per epoch)
            diagnostics[f"ogm/{m}/ratio"] = ratio
            diagnostics[f"ogm/{m}/coeff"] = coeff
        return diagnostics
