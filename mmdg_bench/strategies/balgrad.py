"""BalGrad (Kwon, Kim, Lee, Choi, Kim, "See-Saw Modality Balance: See Gradient, and Sew Impaired
Vision-Language Balance to Mitigate Dominant Modality Bias", NAACL 2025, pp. 4364-4378; arXiv 2503.13834),
FROM THE PAPER'S TEXT: no official code exists, and what the paper establishes is its abstract and its
Figure 3 caption, read here as follows.

- The losses: the fused classifier f_T's CE (its gradient g_T), each modality's own CE (g_T^v, g_T^l),
  and a KL divergence between the two modalities' predictions, whose gradients on the two embedding
  branches are g_kl^v and g_kl^l (Fig. 3a).
- Inter-modality gradient reweighting: g_kl^v and g_kl^l are rescaled by "each modality's contribution"
  ("learning status") and summed into g_kl (Fig. 3b).
- Inter-task gradient projection: if g_T . g_kl < 0, g_T^perp = g_T - (g_T . g_kl / |g_kl|^2) g_kl, else
  g_T^perp = g_T (Fig. 3b; the PCGrad form, Yu et al. 2020).
- Who gets what: f_T is updated with g_T^perp; the embedding layers h_v, h_l with g_T^perp, their own
  CE's gradient and the reweighted KL gradient (Fig. 3a).

On our model: f_T is the fused head, the per-modality predictions are the unimodal heads', the embedding
layers are the encoders. Everything the text leaves open is chosen here, and each choice is a named
setting where one is reasonable:

- learning status: the unimodal head's batch CE L_m; weight w_m = M L_m / sum_j L_j (a lagging modality,
  higher loss, gets more of the KL's pull towards the others; equal losses give w_m = 1);
- the KL: symmetric, 1/2 [KL(p_a||p_b) + KL(p_b||p_a)] per clip, mean over the batch, temperature 1,
  weight `kl_weight`; with M > 2 modalities its mean over the pairs (the paper is defined for two);
- the projection acts on the gradients at the encoder outputs z_m (rep-grad, as gmp-fast does): g_T and
  g_kl are the concatenations over the modalities of d/dz_m, so one backward pass through the encoders
  suffices; on f_T and the other heads g_kl is zero, so every head gets baseline's gradient;
- the KL trains the encoders only (its gradient is taken at z_m), not the unimodal heads.

The benchmark's other tasks are outside BalGrad and pass through unprojected: the domain-adversarial
loss (lambda L_d) and the loss's plain part. What g_T is: every classification term but the unimodal
heads' CE (the fused CE under `loss.classification: paper` or `both`, and a method's own classification
terms); under `author` the fused CE is plain, so nothing is projected. The unimodal heads' CE reaches the
encoders unprojected: as it is under `author`/`both`, added here under `paper` (`unimodal_ce`), where the
model trains those heads on detached features.

    mmdg-bench run --strategy balgrad --set strategy.balgrad.kl_weight=0.5
"""

from dataclasses import dataclass
from itertools import combinations
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdg_bench.facts import STRATEGY_FACTS
from mmdg_bench.losses import CLASSIFICATION, StepLosses
from mmdg_bench.search_space import LogUniform
from mmdg_bench.strategies.base import STRATEGIES, Strategy
from mmdg_bench.strategies.functional import project_out
from mmdg_bench.strategies.gradients import backward_through_encoders, head_parameters, require_two_modalities
from mmdg_bench.strategies.params import check_finite

# --------------------------------------------------------------------------- #
# the rule, on plain tensors
# --------------------------------------------------------------------------- #


def learning_status_weights(losses: Tensor) -> Tensor:
    """Inter-modality reweighting: ``w_m = M L_m / sum_j L_j`` from each modality's unimodal CE L_m, so the
    lagging modality (higher loss) gets the larger share and equal losses give 1 each; all-zero losses
    (nothing left to learn) give 1 each.

    >>> learning_status_weights(torch.tensor([0.3, 0.1]))
    tensor([1.5000, 0.5000])
    >>> learning_status_weights(torch.zeros(2))
    tensor([1., 1.])
    """
    if losses.dim() != 1 or losses.numel() < 2:
        raise ValueError(f"need a 1-D tensor of M >= 2 losses, got shape {tuple(losses.shape)}")
    total = losses.sum()
    weights = losses * losses.numel() / torch.where(total > 0, total, torch.ones_like(total))
    return torch.where(total > 0, weights, torch.ones_like(losses))


def symmetric_kl(logits_a: Tensor, logits_b: Tensor) -> Tensor:
    """``1/2 [KL(p_a||p_b) + KL(p_b||p_a)]`` of the softmax predictions, summed over the classes and
    averaged over the batch; it equals ``1/2 sum_k (p_a - p_b)(log p_a - log p_b)``.

    Uniform against (3/4, 1/4): 1/2 [(-1/4) ln(2/3) + (1/4) ln 2] = 0.1373

    >>> symmetric_kl(torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(3.0), 0.0]]))
    tensor(0.1373)
    """
    log_a, log_b = F.log_softmax(logits_a, dim=1), F.log_softmax(logits_b, dim=1)
    return 0.5 * ((log_a.exp() - log_b.exp()) * (log_a - log_b)).sum(dim=1).mean()


def pairwise_kl(logits: list[Tensor]) -> Tensor:
    """The mean of `symmetric_kl` over every pair of modalities: the two modalities' KL when M = 2.

    >>> pairwise_kl([torch.zeros(1, 2), torch.zeros(1, 2), torch.zeros(1, 2)])
    tensor(0.)
    """
    pairs = list(combinations(logits, 2))
    if not pairs:
        raise ValueError("need the predictions of at least two modalities")
    return sum(symmetric_kl(a, b) for a, b in pairs) / len(pairs)


def project_task_gradient(g_task: Tensor, g_kl: Tensor) -> tuple[Tensor, bool]:
    """Inter-task projection: on a conflict (``g_task . g_kl < 0``) remove from g_task its component along
    g_kl, ``g_task - (g_task . g_kl / |g_kl|^2) g_kl``; else g_task unchanged. Returns (gradient, conflict).

    >>> project_task_gradient(torch.tensor([1.0, 1.0]), torch.tensor([-1.0, 0.0]))
    (tensor([0., 1.]), True)
    >>> project_task_gradient(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 0.0]))
    (tensor([1., 1.]), False)
    """
    conflict = bool(torch.sum(g_task * g_kl) < 0)
    return (project_out(g_task, g_kl) if conflict else g_task), conflict


# --------------------------------------------------------------------------- #
# the strategy
# --------------------------------------------------------------------------- #


@dataclass
class BalGradParams:
    # No official code and no hyper-parameter in the text available to us: defaults are ours.
    kl_weight: float = 1.0  # weight of the KL between the modalities' predictions (0: no KL, no projection)
    reweight: bool = True  # inter-modality gradient reweighting (paper Table 2's "w/ Gradient reweighting")
    project: bool = True  # inter-task gradient projection (paper Table 2's "w/ Gradient projection")
    # The unimodal heads' CE reaches the encoders (Fig. 3a: h_v, h_l get g_T^v, g_T^l) also under
    # loss.classification=paper, whose model trains those heads on detached features.
    unimodal_ce: bool = True
    SEARCH: ClassVar[dict] = {"kl_weight": LogUniform(0.1, 10.0)}  # our choice: our default's decade either side

    def validate(self) -> None:
        check_finite("BalGrad", "kl_weight", self.kl_weight)


def _feature_gradients(loss: Tensor, inputs: list[Tensor]) -> list[Tensor]:
    """d loss / d inputs, zeros where the loss does not reach (all of them for a constant loss); the graph
    is kept for the backward pass through the encoders."""
    if not loss.requires_grad:
        return [torch.zeros_like(x) for x in inputs]
    grads = torch.autograd.grad(loss, inputs, retain_graph=True, allow_unused=True)
    # float32: under bf16 autocast the features' gradients are bf16, and the projection must not round.
    return [g.float() if g is not None else torch.zeros_like(x, dtype=torch.float32) for g, x in zip(grads, inputs)]


def _flat(tensors: list[Tensor]) -> Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


@STRATEGIES.register("balgrad", **STRATEGY_FACTS["balgrad"].given())
class BalGrad(Strategy):
    description = ("BalGrad (from the paper's text, no official code): loss-reweighted KL between the modalities' "
                   "predictions, task gradient projected off it on a conflict")
    Params = BalGradParams

    def __init__(self, params: BalGradParams, model, seed: int = 0):
        super().__init__(params, model, seed)
        require_two_modalities(model, "BalGrad")

    def backward(self, step: StepLosses) -> dict[str, float]:
        model, p = self.model, self.params
        modalities = model.modalities
        z = [step.outputs.features[m] for m in modalities]
        heads = head_parameters(model)
        unimodal = [t for t in step.terms if t.group == CLASSIFICATION and t.head in modalities]
        zero = step.outputs.fused_logits.new_zeros(())
        # g_T: the classification task but the unimodal heads' CE, which (Fig. 3a) reaches h_m beside
        # g_T^perp, unprojected, like the domain-adversarial loss and the plain part.
        task = sum((t.value for t in step.terms if t.group == CLASSIFICATION and t.head not in modalities), zero)
        rest = sum((t.value for t in unimodal), zero) + step.domain + step.plain
        grads_task, grads_rest = (_feature_gradients(loss, z + heads) for loss in (task, rest))
        n = len(z)
        for i, param in enumerate(heads):  # every head: baseline's gradient (g_kl is 0 there, so g_T^perp = g_T)
            param.grad = grads_task[n + i] + grads_rest[n + i]

        # The per-modality predictions: the unimodal heads on z_m itself (under loss.classification=paper
        # the step's were computed on detached features, which would keep the KL off the encoders).
        # In float32 (the cast is differentiable): the step's forward may have run under bf16 autocast, and
        # these heads run outside it on float32 weights.
        own = model.unimodal_heads
        logits = [(own[m](x.float()) if model.detach_unimodal else step.outputs.unimodal_logits[m]).float()
                  for m, x in zip(modalities, z)]
        status = torch.stack([F.cross_entropy(u.detach(), step.labels) for u in logits])
        weights = learning_status_weights(status) if p.reweight else torch.ones_like(status)
        kl = pairwise_kl(logits)
        grads_kl = _feature_gradients(kl, z) if p.kl_weight > 0 else [torch.zeros_like(x) for x in z]
        # g_kl = sum_m w_m g_kl^m: each branch's part of the KL gradient, scaled by its modality's weight.
        # Each scale as the float32 of the float64 product, as `kl_weight * w` in Python then multiplied into
        # g: the same numbers without reading the weights from the device at every step.
        scales = (p.kl_weight * weights.double()).to(torch.float32)
        scaled_kl = [scales[i] * g for i, g in enumerate(grads_kl)]
        grads_ce = [torch.zeros_like(x) for x in z]
        if model.detach_unimodal and p.unimodal_ce:
            ce = sum((t.weight * F.cross_entropy(logits[modalities.index(t.head)], step.labels) for t in unimodal),
                     zero)
            grads_ce = _feature_gradients(ce, z)

        flat_task, flat_kl = _flat(grads_task[:n]), _flat(scaled_kl)
        projected, conflict = project_task_gradient(flat_task, flat_kl) if p.project else (flat_task, False)
        task_perp = torch.split(projected, [x.numel() for x in z])
        backward_through_encoders(model, step, {m: task_perp[i].reshape(z[i].shape) + grads_rest[i] + grads_ce[i]
                                                + scaled_kl[i] for i, m in enumerate(modalities)})

        # Diagnostics left on the device (the engine reads them once per epoch), in float64 as the Python
        # floats they replace were computed; only the projection's conflict test is read per step.
        dot, norm_task, norm_kl = torch.stack((flat_task @ flat_kl, flat_task.norm(), flat_kl.norm())).double()
        diagnostics = {"balgrad/kl": kl.detach().double(), "balgrad/cos": dot / (norm_task * norm_kl).clamp_min(1e-30),
                       "balgrad/conflict": (dot < 0).double(), "balgrad/projected": float(conflict)}
        for i, m in enumerate(modalities):
            diagnostics[f"balgrad/{m}/loss"] = status[i].double()
            diagnostics[f"balgrad/{m}/weight"] = weights[i].double()
        return diagnostics
