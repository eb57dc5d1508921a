"""MMPareto: Boosting Multimodal Learning with Innocent Unimodal Assistance (Wei & Hu, ICML 2024).

Per encoder theta_m, two tasks: the multimodal one (the fused head's CE, gradient g_mm) and its own
unimodal one (modality m's head CE, gradient g_uni). As the official code (github:GeWu-Lab/MMPareto_ICML2024
@a339db3, code/MMPareto.py and code/min_norm_solvers.py) does, at every step and for every encoder:

- weights (k_mm, k_uni) = (1/2, 1/2) when cos(g_mm, g_uni) > 0 (MMPareto.py:165-173), else the MGDA
  two-task min-norm weights, k_mm = argmin_c |c g_mm + (1 - c) g_uni|^2 (min_norm_solvers.py:9-30,
  MMPareto.py:169/174): (|g_uni|^2 - g_mm.g_uni) / |g_mm - g_uni|^2, or the solver's ends 0.999 / 0.001
  when the minimum lies at g_mm / g_uni (only the ends are clipped: an interior weight is used as it is);
  the cosine and the inner products are over the whole encoder;
- per parameter TENSOR t: new_t = 2 (k_mm g_mm_t + k_uni g_uni_t), scaled up to |g_mm_t + g_uni_t| when
  its norm is smaller (never down), times gamma = 1.5 (MMPareto.py:178-207);
- the heads (fused, unimodal, discriminators, a method's modules) keep the plain summed gradient
  (MMPareto.py:181,187: `loss.backward()` and the heads skipped).

In this benchmark's loss L = L_c + lambda L_d: the two tasks are the heads' CE terms (`step.head_terms()`,
tagged by head whatever group the loss setting puts them in, as Gradient-Blending reads them), each with
the weight the loss gives it (fused 1, unimodal `loss.unimodal_weight`), so the heads get exactly
baseline's gradient and every strategy sees the same loss; the official's L_mm + L_a + L_v (weight 1
each, MMPareto.py:180) is `--set loss.unimodal_weight=1`. Every other term (the domain-adversarial loss
behind the gradient reversal, a method's terms) passes through unchanged, as OGM-GE's default does.
MMPareto needs the unimodal CE to reach the encoders, so under `loss.classification: paper` the unimodal
heads read attached features in its runs (`unimodal_heads_train_encoders`).

Differences from the official code, on purpose: the benchmark's model (MLP unimodal heads, any number of
modalities, M = 1 included: each encoder has its own pair; every trainable encoder parameter, where the
official picks them by the names 'audio'/'visual'), the loss weights above, and a tensor whose new_t is
zero stays zero (the official divides by its zero norm: NaN when |g_mm_t + g_uni_t| > 0).

Cost: three backward passes (the fused CE; every unimodal CE at once, each reaching only its own encoder;
the rest), against the official M + 2. The cosine and the per-tensor rescale need g_mm and g_uni at the
parameters, and the rest's gradient is a third independent vector-Jacobian product through each encoder,
so three passes is the floor for the exact rule: about 2.3x a baseline step on the synth preset.

    mmdg-bench run --strategy mmpareto --set strategy.mmpareto.gamma=1.5
"""

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from mmdg_bench.facts import STRATEGY_FACTS
from mmdg_bench.losses import FUSED, StepLosses
from mmdg_bench.search_space import Uniform
from mmdg_bench.strategies.base import STRATEGIES, Strategy
from mmdg_bench.strategies.params import check_finite

# The ends the official two-task solver clips its weight to (min_norm_solvers.py:19,24).
CLIP_HIGH, CLIP_LOW = 0.999, 0.001


def min_norm_weight(v1v1: Tensor, v1v2: Tensor, v2v2: Tensor) -> Tensor:
    """The weight c of x1 in min_c |c x1 + (1 - c) x2|^2 from the inner products, as the official
    `_min_norm_element_from2` (min_norm_solvers.py:9-30): 0.999 when v1v2 >= v1v1, else 0.001 when
    v1v2 >= v2v2, else (v2v2 - v1v2) / |x1 - x2|^2.

    >>> min_norm_weight(torch.tensor(4.0), torch.tensor(-1.0), torch.tensor(1.0))  # (1 + 1) / (4 + 1 + 2)
    tensor(0.2857)
    >>> min_norm_weight(torch.tensor(0.0), torch.tensor(0.0), torch.tensor(1.0))  # x1 = 0: the high end
    tensor(0.9990)
    >>> min_norm_weight(torch.tensor(1.0), torch.tensor(0.0), torch.tensor(0.0))  # x2 = 0: the low end
    tensor(0.0010)
    """
    # The interior formula's 0/0 (x1 == x2) is never selected: then v1v2 == v1v1, the first case.
    interior = (v2v2 - v1v2) / (v1v1 + v2v2 - 2 * v1v2)
    return torch.where(v1v2 >= v1v1, CLIP_HIGH, torch.where(v1v2 >= v2v2, CLIP_LOW, interior))


def pareto_weights(dot: Tensor, sq_mm: Tensor, sq_uni: Tensor) -> Tensor:
    """(k_mm, k_uni) of one encoder from g_mm . g_uni, |g_mm|^2 and |g_uni|^2: equal weights without
    conflict (cosine > 0), the two-task min-norm weights otherwise (MMPareto.py:165-174).

    >>> pareto_weights(torch.tensor(0.5), torch.tensor(4.0), torch.tensor(1.0))  # no conflict
    tensor([0.5000, 0.5000])
    >>> pareto_weights(torch.tensor(-1.0), torch.tensor(4.0), torch.tensor(1.0))  # conflict: min-norm
    tensor([0.2857, 0.7143])
    """
    k_mm = torch.where(dot > 0, 0.5, min_norm_weight(sq_mm, dot, sq_uni))
    return torch.stack((k_mm, 1 - k_mm))


def pareto_update(g_mm: list[Tensor], g_uni: list[Tensor], k_mm: Tensor, k_uni: Tensor,
                  gamma: float) -> list[Tensor]:
    """The encoder's MMPareto gradient, per parameter tensor t (MMPareto.py:189-207):
    new_t = 2 (k_mm g_mm_t + k_uni g_uni_t), scaled by max(1, |g_mm_t + g_uni_t| / |new_t|), times gamma.
    A tensor whose new_t is zero stays zero (the official divides by its zero norm).

    >>> pareto_update([torch.tensor([3.0, 0.0])], [torch.tensor([0.0, 4.0])], torch.tensor(0.5),
    ...               torch.tensor(0.5), gamma=1.0)  # equal weights: the plain sum
    [tensor([3., 4.])]
    >>> pareto_update([torch.tensor([3.0, 0.0])], [torch.tensor([-1.0, 1.0])], torch.tensor(0.25),
    ...               torch.tensor(0.75), gamma=1.5)  # new = (0, 1.5), raised to |(2, 1)| = 5 ** 0.5, x 1.5
    [tensor([0.0000, 3.3541])]
    """
    new = [2 * (k_mm * a + k_uni * b) for a, b in zip(g_mm, g_uni, strict=True)]
    new_norms = torch.stack([x.norm() for x in new])
    sum_norms = torch.stack([(a + b).norm() for a, b in zip(g_mm, g_uni)])
    nonzero = new_norms > 0
    # Never scaled down (MMPareto.py:194-197: `diff > 1`), and a zero new_t has nothing to scale.
    scale = torch.where(nonzero, sum_norms / torch.where(nonzero, new_norms, 1.0), 1.0).clamp_min(1.0) * gamma
    return [x * s for x, s in zip(new, scale)]


@dataclass
class MMParetoParams:
    gamma: float = 1.5  # magnitude boost of the encoders' gradient, hard-coded in the official MMPareto.py:178

    # Tuning (`sweep --tune`): the DomainBed-style proposal around the hard-coded 1.5.
    SEARCH: ClassVar[dict] = {"gamma": Uniform(1.0, 2.0)}

    def validate(self) -> None:
        check_finite("MMPareto", "gamma", self.gamma, above_zero=True)


@STRATEGIES.register("mmpareto", **STRATEGY_FACTS["mmpareto"].given())
class MMPareto(Strategy):
    description = "MMPareto: per encoder, fused and unimodal CE gradients merged by min-norm weights on conflict, x1.5"
    Params = MMParetoParams
    unimodal_heads_train_encoders = True  # the unimodal CE is one of MMPareto's two tasks

    def _take(self, loss, params: dict[str, list]) -> dict[str, list[Tensor | None]]:
        """Backward `loss` (keeping the graph), then take and clear every encoder's gradient (None where
        it did not reach); the heads' gradients stay and add up over the passes, so they end as the
        summed loss's, baseline's."""
        if isinstance(loss, Tensor) and loss.requires_grad:
            loss.backward(retain_graph=True)
        taken = {}
        for m, ps in params.items():
            taken[m] = [p.grad for p in ps]
            for p in ps:
                p.grad = None
        return taken

    def backward(self, step: StepLosses) -> dict[str, float]:
        modalities = self.model.modalities
        params = {m: self.model.encoder_parameters(m) for m in modalities}
        heads = step.head_terms()
        taken_mm = self._take(sum(t.value for t in heads if t.head == FUSED), params)
        # Each unimodal CE reaches only its own encoder: one pass gives every encoder's g_uni.
        taken_uni = self._take(sum(t.value for t in heads if t.head != FUSED), params)
        diagnostics = {}
        for m in modalities:
            a = [g if g is not None else torch.zeros_like(p) for g, p in zip(taken_mm[m], params[m])]
            b = [g if g is not None else torch.zeros_like(p) for g, p in zip(taken_uni[m], params[m])]
            dot, sq_mm, sq_uni = (sum((x * y).sum() for x, y in zip(u, v)) for u, v in ((a, b), (a, a), (b, b)))
            k_mm, k_uni = pareto_weights(dot, sq_mm, sq_uni)
            update = pareto_update(a, b, k_mm, k_uni, self.params.gamma)
            for p, u, g_mm, g_uni in zip(params[m], update, taken_mm[m], taken_uni[m]):
                # A tensor neither CE reached keeps no gradient, as under baseline (the optimizer skips it).
                p.grad = u if g_mm is not None or g_uni is not None else None
            # |g_mm + g_uni|^2 from the products: clamped, as rounding can take it below 0 when they cancel.
            norms = torch.stack((sq_mm + sq_uni + 2 * dot, sum((x * x).sum() for x in update))).clamp_min(0).sqrt()
            # Left on the device, read once per epoch by the engine (float64, as the Python floats they replace).
            cos, k, boost = torch.stack((dot / (sq_mm * sq_uni).sqrt().clamp_min(1e-30), k_mm,
                                         norms[1] / norms[0].clamp_min(1e-30))).double()
            diagnostics |= {f"mmpareto/{m}/cos": cos, f"mmpareto/{m}/conflict": (~(cos > 0)).double(),
                            f"mmpareto/{m}/k_mm": k, f"mmpareto/{m}/boost": boost}
        # The rest (the domain-adversarial loss, a method's terms) last: it adds its gradient unchanged.
        rest = [t.value for t in step.terms if t.head is None]
        rest_loss = sum(rest) if rest else None
        if isinstance(rest_loss, Tensor) and rest_loss.requires_grad:
            rest_loss.backward()
        return diagnostics
