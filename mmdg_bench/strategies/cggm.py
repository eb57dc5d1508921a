"""CGGM: Classifier-Guided Gradient Modulation (Guo, Jin, Chen, Zhao, NeurIPS 2024, arXiv 2411.01409).

The rule, as the official code computes it (zrguo/CGGM at 21e428c, src/foodtrain.py:85-135, the same
in src/msatrain.py:75-127 for three modalities):

- Magnitude. eps_m^t is the batch accuracy of modality m's unimodal classifier (its forward on this
  batch, before its update: foodtrain.py:93,112), d_m = eps_m^t - eps_m^{t-1} its change since the
  PREVIOUS BATCH (eps^{t-1} = 0 at the first step, and it carries over epochs: foodtrain.py:54,113,120),
  D = sum_j d_j + 1e-8, B_m = (D - d_m) / D (foodtrain.py:115-119); encoder m's gradient is multiplied
  by rho B_m (foodtrain.py:125-129).
- Direction. L_gm = (1/M) [sum_m |B_m| - sum_m B_m cos_m] (foodtrain.py:122-123), cos_m the cosine
  between the WEIGHT tensors of unimodal classifier m's output layer and the fused model's output layer
  (`cal_cos` receives the Parameter objects, not their .grad: src/eval_metrics.py:165-173). It is
  built at step t and added as lambda L_gm to step t+1's loss (foodtrain.py:86-88): its graph holds
  clones of step t's weights, so what step t+1 back-propagates is lambda dL_gm^t/dW_f evaluated at
  step t's weights, on the fused output layer's weight W_f; the classifiers' share is erased by
  `cls_optimizer.zero_grad()` (foodtrain.py:91). Here that gradient is computed at step t and kept
  as state (`pending`) until step t+1 adds it: the same numbers, without keeping a graph alive.
- Clip. `clip_grad_norm_(model.parameters(), clip)` over everything but the unimodal classifiers,
  which have their own optimizer (foodtrain.py:21,133).

The unimodal heads are the official classifiers: under the default `loss.classification: paper` they
learn on detached features, as the official ones do (msamodel.py:66,74 `hs_detach`). The benchmark's
house convention for a balancing strategy applies: rho B_m scales encoder m's CLASSIFICATION gradient;
the domain-adversarial gradient and the loss's plain part pass through unchanged (the official loss
has only the classification term). Differences from the official code, on purpose:

- `guard`: where |D| < guard the coefficients fall back to B_m = 1 for that step. With batch
  accuracies quantised in steps of 1/batch, opposite changes that cancel (d = +1/16, -1/16) make
  D = 1e-8 and the official B_m about -+6e6 (one encoder ascending its loss, bounded only by the
  clip). guard = 0 is the official rule; guard >= M turns the magnitude modulation off.
- Any M >= 2 modalities (the official loops write out 2 or 3); M = 1 has sum_m B_m = M - 1 = 0.

    mmdg-bench run --strategy cggm --set strategy.cggm.lamda=0.2
"""

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdg_bench.errors import UserError
from mmdg_bench.facts import STRATEGY_FACTS
from mmdg_bench.losses import StepLosses
from mmdg_bench.search_space import Uniform
from mmdg_bench.strategies.base import STRATEGIES, Strategy
from mmdg_bench.strategies.gradients import (
    backward_through_encoders,
    require_two_modalities,
    split_feature_gradients,
)
from mmdg_bench.strategies.params import check_finite

OFFICIAL_EPS = 1e-8  # added to D in the official code (foodtrain.py:115)


# --------------------------------------------------------------------------- #
# the rule as pure functions
# --------------------------------------------------------------------------- #


def batch_accuracy(logits: Tensor, labels: Tensor) -> Tensor:
    """The fraction of the batch whose argmax is the label, in float64 as the official
    `accuracy_score` (src/eval_metrics.py:66-73), detached.

    >>> batch_accuracy(torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1, 1, 1]))
    tensor(0.7500, dtype=torch.float64)
    """
    return (logits.detach().argmax(1) == labels).to(torch.float64).mean()


def cggm_coefficients(improvements: Tensor, guard: float = 0.0) -> tuple[Tensor, Tensor]:
    """B_m = (D - d_m) / D with D = sum_j d_j + 1e-8 (foodtrain.py:115-119); every B_m = 1 where
    |D| < guard. Returns (B, whether the guard acted, as a 0-d bool tensor).

    >>> b, guarded = cggm_coefficients(torch.tensor([0.25, 0.125], dtype=torch.float64))
    >>> [round(x, 6) for x in b.tolist()], bool(guarded)  # the one that improved more is slowed
    ([0.333333, 0.666667], False)
    >>> cggm_coefficients(torch.tensor([0.0, 0.0]))[0]  # no change: D = 1e-8, B = 1 (official too)
    tensor([1., 1.])
    >>> cggm_coefficients(torch.tensor([0.0625, -0.0625], dtype=torch.float64))[0]  # official: explodes
    tensor([-6249999.0000,  6250001.0000], dtype=torch.float64)
    >>> cggm_coefficients(torch.tensor([0.0625, -0.0625], dtype=torch.float64), guard=1e-6)[0]
    tensor([1., 1.], dtype=torch.float64)
    """
    total = improvements.sum() + OFFICIAL_EPS
    guarded = total.abs() < guard
    coeffs = (total - improvements) / torch.where(guarded, torch.ones_like(total), total)
    return torch.where(guarded, torch.ones_like(coeffs), coeffs), guarded


def direction_loss(coeffs: Tensor, cosines: Tensor) -> Tensor:
    """L_gm = (1/M) [sum_m |B_m| - sum_m B_m cos_m] (foodtrain.py:122-123): 0 when every cos_m = 1
    and B_m >= 0.

    >>> direction_loss(torch.tensor([0.5, 1.5]), torch.tensor([1.0, 0.0]))  # (2 - 0.5) / 2
    tensor(0.7500)
    """
    return (coeffs.abs().sum() - (coeffs * cosines).sum()) / coeffs.numel()


def direction_gradient(coeffs: Tensor, unimodal_weights: list[Tensor], fused_weight: Tensor) -> tuple[Tensor, Tensor]:
    """(d L_gm / d W_f, the cosines cos_m): L_gm's gradient on the fused output layer's weight, the
    only one of L_gm's gradients the official code keeps (foodtrain.py:86-91), with the cosines of
    `F.cosine_similarity` over the flattened weights as `cal_cos` takes them (eval_metrics.py:165-173).

    >>> grad, cos = direction_gradient(torch.tensor([1.0]), [torch.tensor([[1.0, 0.0]])], torch.tensor([[0.0, 2.0]]))
    >>> grad, cos  # -(1/M) B (w_m / (|w_m||w_f|) - cos w_f / |w_f|^2), here cos = 0
    (tensor([[-0.5000,  0.0000]]), tensor([0.]))
    """
    with torch.enable_grad():
        fused = fused_weight.detach().reshape(-1).requires_grad_()
        cosines = torch.stack([F.cosine_similarity(w.detach().reshape(-1).to(fused.dtype), fused, dim=0)
                               for w in unimodal_weights])
        (grad,) = torch.autograd.grad(direction_loss(coeffs.to(cosines.dtype), cosines), fused)
    return grad.reshape(fused_weight.shape), cosines.detach()


# --------------------------------------------------------------------------- #
# the strategy
# --------------------------------------------------------------------------- #


@dataclass
class CGGMParams:
    # Defaults: run/food_run.py:51,63,64 (Food-101, the official two-modality classification run);
    # MOSI and IEMOCAP use lamda 0.2 (run/mosi_run.py:59, run/iemo_run.py:56), BraTS rou 1.0, lamda 0.1.
    rho: float = 1.3  # `--rou`: scale of every encoder's (classification) gradient, times B_m
    lamda: float = 0.05  # `--lamda`: weight of the direction term L_gm (the paper's lambda)
    clip: float = 0.8  # `--clip`: max total gradient norm of all but the unimodal heads; 0: no clip
    guard: float = 1e-6  # |D| below it: B_m = 1 this step (not official; 0: the official rule, >= M: no B)

    # Tuning (`sweep --tune`): the DomainBed-style proposal, spanning the official runs' values.
    SEARCH: ClassVar[dict] = {"rho": Uniform(1.0, 1.5), "lamda": Uniform(0.05, 0.2)}

    def validate(self) -> None:
        check_finite("CGGM", "rho", self.rho, above_zero=True)
        check_finite("CGGM", "lamda", self.lamda)
        check_finite("CGGM", "clip", self.clip, note="0 turns the clip off")
        check_finite("CGGM", "guard", self.guard, note="0 is the official rule")


def output_layer(head: nn.Module, shape: torch.Size | None = None) -> nn.Linear | None:
    """A head's output layer, the official `out_layer`: its last Linear (of `shape`, when given).
    A fusion's classifier MLP is its `head` (mmdg_bench/models/fusion.py); it is searched first, so
    that FiLM's and gated fusion's conditioning maps are never taken for it."""
    for module in (getattr(head, "head", None), head):
        if isinstance(module, nn.Module):
            found = [layer for layer in module.modules()
                     if isinstance(layer, nn.Linear) and (shape is None or layer.weight.shape == shape)]
            if found:
                return found[-1]
    return None


@STRATEGIES.register("cggm", **STRATEGY_FACTS["cggm"].given())
class CGGM(Strategy):
    description = ("CGGM: scale each encoder's classification gradient by rho B_m from the unimodal heads' "
                   "accuracy gains; pull the fused output layer toward theirs")
    state_attributes = ("previous_accuracy", "pending")
    Params = CGGMParams

    def __init__(self, params: CGGMParams, model, seed: int = 0):
        super().__init__(params, model, seed)
        require_two_modalities(model, "CGGM")
        self.unimodal_layers = [output_layer(model.unimodal_heads[m]) for m in model.modalities]
        shape = self.unimodal_layers[0].weight.shape
        fused = output_layer(model.fused_head, shape)
        self.fused_layer = None if fused is None or any(fused is u for u in self.unimodal_layers) else fused
        if self.fused_layer is None and params.lamda > 0:
            raise UserError(f"CGGM's direction term needs a fused head with its own output layer shaped like the "
                            f"unimodal heads' {tuple(shape)}, which this model.fusion has not: set "
                            f"strategy.cggm.lamda=0")
        device = next(model.parameters()).device
        # eps^{t-1}: the official acc1 = [0] * num_mod before the first batch (foodtrain.py:54).
        self.previous_accuracy = torch.zeros(len(model.modalities), dtype=torch.float64, device=device)
        self.pending: Tensor | None = None  # d L_gm^{t-1} / d W_f, added (times lamda) at step t
        unimodal = {id(p) for p in model.unimodal_heads.parameters()}
        # The official clip covers `model.parameters()`, which hold no classifier (foodtrain.py:133).
        self.clipped = [p for p in model.parameters() if p.requires_grad and id(p) not in unimodal]

    def backward(self, step: StepLosses) -> dict[str, float]:
        modalities, params = self.model.modalities, self.params
        split = split_feature_gradients(self.model, step)  # every head gets baseline's gradient
        if self.pending is not None and params.lamda > 0:
            # Step t-1's lamda L_gm, back-propagated with step t's loss (foodtrain.py:86-88).
            weight = self.fused_layer.weight
            weight.grad = weight.grad + params.lamda * self.pending.to(weight.grad.dtype)
        accuracy = torch.stack([batch_accuracy(step.outputs.unimodal_logits[m], step.labels) for m in modalities])
        coeffs, guarded = cggm_coefficients(accuracy - self.previous_accuracy, params.guard)
        self.previous_accuracy = accuracy  # foodtrain.py:120
        scale = (params.rho * coeffs).to(split[modalities[0]].cls.dtype)
        backward_through_encoders(self.model, step, {m: scale[i] * split[m].cls + split[m].dom + split[m].plain
                                                     for i, m in enumerate(modalities)})
        values = [accuracy, coeffs]
        if self.fused_layer is not None:
            # L_gm^t on this step's (not yet updated) weights, as foodtrain.py:110-123 builds it.
            self.pending, cosines = direction_gradient(coeffs, [u.weight for u in self.unimodal_layers],
                                                       self.fused_layer.weight)
            values += [cosines.to(torch.float64), direction_loss(coeffs, cosines.to(torch.float64))[None]]
        if params.clip > 0:
            grads = [p for p in self.clipped if p.grad is not None]
            values.append(torch.nn.utils.clip_grad_norm_(grads, params.clip).to(torch.float64)[None])
        values.append(guarded.to(torch.float64)[None])
        # Left on the device, read once per epoch by the engine: no host sync per step.
        flat = torch.cat([v.to(torch.float64).reshape(-1) for v in values])
        n = len(modalities)
        diagnostics = {f"cggm/{m}/acc": flat[i] for i, m in enumerate(modalities)}
        diagnostics |= {f"cggm/{m}/coeff": flat[n + i] for i, m in enumerate(modalities)}
        at = 2 * n
        if self.fused_layer is not None:
            diagnostics |= {f"cggm/{m}/cos": flat[at + i] for i, m in enumerate(modalities)}
            diagnostics["cggm/l_gm"] = flat[at + n]
            at += n + 1
        if params.clip > 0:
            diagnostics["cggm/grad_norm"] = flat[at]  # before the clip
            at += 1
        diagnostics["cggm/guarded"] = flat[at]
        return diagnostics
