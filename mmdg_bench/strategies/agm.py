"""AGM: Adaptive Gradient Modulation (Li, Li, Hu, Lei, Li, Zhou, ICCV 2023, arXiv 2308.07686).

The rule, as the official code runs it (github.com/lihong2303/AGM_ICCV2023 at 5a65542; two modalities:
run/CREMAD_main.py:130-159 and model/CREMAD_net.py:25-72; three: run/URFunny_main.py:109-143 and
model/URFunny_net.py:6-126), at every training step:

1. Mono-modal responses. f(S) = the fused classifier's logits with only the modalities in S present;
   phi_m = m's Shapley value, sum over S without m of |S|! (M - |S| - 1)! / M! (f(S + m) - f(S)), with
   f(empty) taken as 0: the official code computes `zero_padding_out` and never uses it, so
   sum_m phi_m = f(all). Two modalities: phi_a = (f(a, v) - f(v) + f(a)) / 2 (CREMAD_net.py:10-17).
2. Scores s_m = batch mean of -log softmax(phi_m)[y], a probability under 1e-8 counted as 1e-8
   (CREMAD_main.py:130-143); on detached values.
3. Ratios r_m = exp(M / (M - 1) (mean_j s_j - s_m)) = exp(mean_{j != m} s_j - s_m) (CREMAD_main.py:145-146,
   URFunny_main.py:117-121), reference ratios rbar_m the same of S_m, the running mean of s_m over every
   step so far, taken before this step's score joins it (CREMAD_main.py:148-155); S starts at 0.
4. B_m = exp(alpha min(rbar_m - r_m, cap)) (CREMAD_main.py:151-152): a modality that leads more than it
   has on average is slowed, one that trails is sped up (B can exceed 1, unlike OGM-GE's).
5. B_m scales the classification gradient of encoder m (the official GradMod's backward hooks,
   CREMAD_net.py:42-51, scale the gradient through phi_m).
6. The conditional clip (CREMAD_main.py:233-238): when an entry of the gradient of the fused classifier's
   output layer's weight is outside [-clip, clip], the gradients are clipped to a total norm of clip.

Steps 1-4 and 6 run at every step; B_m is applied in the window start_epoch <= epoch <= end_epoch,
epochs counted from 1 as in the official loop (CREMAD_main.py:611, 635, 159).

Here, on purpose (`mmdg-bench` conventions; each is a setting where one makes sense):
- A modality is absent when its feature z_m is 0: the fused head alone is evaluated on the detached
  features, the 2^M - 1 coalitions as one batch, in eval mode. The official code zeroes the raw input
  and re-runs the encoders (2^M forward passes, about 4x a step for two modalities), its padded passes
  in eval mode and its full one in train mode (the same for our heads: no dropout, no BatchNorm).
- Only encoder m's classification gradient d L_c / d z_m is scaled by B_m, at the encoder output
  (exact at the encoder's parameters, one backward through the encoders); the domain-adversarial
  gradient and the loss's plain part pass unchanged and every head gets baseline's gradient. The
  official hooks scale the gradient through the coalition passes: for a linear fused classifier on
  zeroed features that is exactly B_m on encoder m's gradient, but it also scales that classifier's
  weights for m by B_m (and its bias by the mean of the B's).
- Outside the window B = 1: the step is baseline's but for the clip. The official hooks keep the last
  coefficients after the window (`update_scale` is never reset): `keep_last` does that.
- The clip reads our fused head's output layer (late fusion has none: the unimodal heads' output
  layers, which make its logits) and clips the encoders' gradients only (`clip_scope: encoders`): the
  heads keep baseline's gradients; `clip_scope: all` clips every trainable parameter as the official
  `model.parameters()` does.

    mmdg-bench run --strategy agm --set strategy.agm.alpha=1.5
"""

import contextlib
import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from mmdg_bench.errors import check_choice
from mmdg_bench.facts import STRATEGY_FACTS
from mmdg_bench.losses import StepLosses
from mmdg_bench.search_space import LogUniform
from mmdg_bench.strategies.base import STRATEGIES, Strategy
from mmdg_bench.strategies.functional import others_mean
from mmdg_bench.strategies.gradients import backward_through_encoders, require_two_modalities, split_feature_gradients
from mmdg_bench.strategies.params import check_finite, check_window

# --------------------------------------------------------------------------- #
# the maths, on plain tensors
# --------------------------------------------------------------------------- #

PROBABILITY_FLOOR = 1e-8  # CREMAD_main.py:133-141: a true-class probability under 1e-8 counts as 1e-8


def coalition_masks(num_modalities: int) -> Tensor:
    """The non-empty coalitions of M modalities, [2^M - 1, M] booleans: row k - 1 holds the bits of k
    (modality i is present when bit i is set), so the last row is the full set.

    >>> coalition_masks(2)
    tensor([[ True, False],
            [False,  True],
            [ True,  True]])
    """
    k = torch.arange(1, 2**num_modalities)
    return (k[:, None] >> torch.arange(num_modalities)) & 1 == 1


def shapley_matrix(num_modalities: int) -> Tensor:
    """[M, 2^M - 1] float64 weights C such that phi = C @ f is every modality's Shapley value from the
    values f of the non-empty coalitions (`coalition_masks` order), f(empty) being 0 as in the official
    code. A coalition T holding m enters phi_m as f(S + m) with S = T - m, weight |S|! (M - |S| - 1)! / M!;
    one without m as -f(S) with S = T. Two modalities (CREMAD_net.py:10-17):

    >>> shapley_matrix(2)
    tensor([[ 0.5000, -0.5000,  0.5000],
            [-0.5000,  0.5000,  0.5000]], dtype=torch.float64)

    Each column sums to 0 but the full coalition's, which sums to 1: sum_m phi_m = f(all).

    >>> shapley_matrix(3).sum(0)
    tensor([0., 0., 0., 0., 0., 0., 1.], dtype=torch.float64)
    """
    def weight(size: int) -> float:
        return math.factorial(size) * math.factorial(num_modalities - size - 1) / math.factorial(num_modalities)

    masks = coalition_masks(num_modalities)
    matrix = torch.zeros(num_modalities, masks.shape[0], dtype=torch.float64)
    for k, mask in enumerate(masks.tolist()):
        size = sum(mask)
        for m, present in enumerate(mask):
            matrix[m, k] = weight(size - 1) if present else -weight(size)
    return matrix


def shapley_values(coalition_values: Tensor, matrix: Tensor) -> Tensor:
    """phi [M, ...] from the coalitions' values [2^M - 1, ...] and `shapley_matrix(M)`.

    >>> shapley_values(torch.tensor([[1.0], [3.0], [10.0]]), shapley_matrix(2))  # f(a), f(v), f(a, v)
    tensor([[4.],
            [6.]])
    """
    return torch.tensordot(matrix.to(coalition_values), coalition_values, dims=1)


def response_scores(responses: Tensor, labels: Tensor, floor: float = PROBABILITY_FLOOR) -> Tensor:
    """Per modality, the batch mean of -log softmax(phi_m)[y] with the probability floored at `floor`
    (CREMAD_main.py:130-143): responses [M, B, C], labels [B] -> [M]. Uniform logits over 4 classes
    score log 4; a true class at probability e^-30 scores -log 1e-8:

    >>> response_scores(torch.tensor([[[0.0, 0.0, 0.0, 0.0]], [[30.0, 0.0, 0.0, 0.0]]]), torch.tensor([1]))
    tensor([ 1.3863, 18.4207])
    """
    probability = torch.softmax(responses, dim=-1).gather(-1, labels.expand(responses.shape[0], -1)[..., None])
    return -torch.log(probability.squeeze(-1).clamp_min(floor)).mean(-1)


def agm_ratios(scores: Tensor) -> Tensor:
    """r_m = exp(M / (M - 1) (mean_j s_j - s_m)) = exp(mean_{j != m} s_j - s_m): above 1 for a modality
    whose score (a loss) is below the others' (CREMAD_main.py:145-146, URFunny_main.py:117-121).

    >>> agm_ratios(torch.tensor([1.0, 2.0]))  # exp(s_v - s_a), exp(s_a - s_v)
    tensor([2.7183, 0.3679])
    >>> agm_ratios(torch.tensor([1.0, 2.0, 3.0])).log()  # the others' means: 2.5, 2, 1.5
    tensor([ 1.5000,  0.0000, -1.5000])
    """
    return torch.exp(others_mean(scores) - scores)


def agm_coefficients(reference_ratios: Tensor, ratios: Tensor, alpha: float, cap: float) -> Tensor:
    """B_m = exp(alpha min(rbar_m - r_m, cap)) (CREMAD_main.py:151-152).

    >>> agm_coefficients(torch.tensor([1.0, 1.0]), torch.tensor([1.5, 0.5]), alpha=2.0, cap=10.0).log()
    tensor([-1.,  1.])
    >>> agm_coefficients(torch.tensor([30.0]), torch.tensor([1.0]), alpha=0.5, cap=10.0).log()  # capped
    tensor([5.])
    """
    return torch.exp(alpha * (reference_ratios - ratios).clamp_max(cap))


def running_mean(mean: Tensor, value: Tensor, count: int) -> Tensor:
    """The mean of `count` values from that of the first count - 1 (CREMAD_main.py:154-155).

    >>> running_mean(torch.tensor([2.0]), torch.tensor([5.0]), count=4)
    tensor([2.7500])
    """
    return mean * (count - 1) / count + value / count


# --------------------------------------------------------------------------- #
# the model side
# --------------------------------------------------------------------------- #


@contextlib.contextmanager
def evaluating(*modules: nn.Module):
    """Eval mode inside, each submodule's own mode restored after (the official padded passes run
    under `net.eval()`, CREMAD_net.py:61-66)."""
    modes = [(module, module.training) for root in modules for module in root.modules()]
    for root in modules:
        root.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


@torch.no_grad()
def coalition_logits(model, features: dict[str, Tensor], masks: Tensor) -> Tensor:
    """f(S) of every coalition (rows of `masks`), [2^M - 1, B, C]: the fused head on the detached
    features with the absent ones set to 0, all coalitions as one batch (eval mode: per-sample layers),
    in float32 at least (the step's forward may have run under bf16 autocast)."""
    count = masks.shape[0]
    batch = {}
    for i, m in enumerate(model.modalities):
        z = features[m].detach()
        z = z.to(torch.promote_types(z.dtype, torch.float32))
        present = masks[:, i].to(z.device).view(count, *[1] * z.dim())
        batch[m] = torch.where(present, z.unsqueeze(0), z.new_zeros(())).reshape(count * z.shape[0], *z.shape[1:])
    with evaluating(model.fused_head, model.unimodal_heads):
        logits = model.fused_head(batch, model.unimodal_heads)
    return logits.reshape(count, -1, logits.shape[-1])


def output_weights(model) -> list[nn.Parameter]:
    """The weights whose gradient the official clip condition reads (`fusion_module.fc_out` or
    `head.fc`, CREMAD_main.py:235-242): the last linear layer of the fused head's classifier; a fusion
    without parameters (late: the mean of the unimodal heads' logits) has the unimodal heads' last ones."""
    def last_linear(module: nn.Module) -> list[nn.Parameter]:
        linears = [layer for layer in module.modules() if isinstance(layer, nn.Linear)]
        return [linears[-1].weight] if linears else []

    # The classifier (`head`) first: FiLM and gated fusions register their conditioning layer after it.
    weights = last_linear(getattr(model.fused_head, "head", model.fused_head))
    return weights or [w for m in model.modalities for w in last_linear(model.unimodal_heads[m])]


# --------------------------------------------------------------------------- #
# the strategy
# --------------------------------------------------------------------------- #

CLIP_SCOPES = ("encoders", "all")


@dataclass
class AGMParams:
    alpha: float = 1.0  # modulation strength: utils/config.py:76 (README: 2.5 on AV-MNIST; issue lihongcs/AGM#3: 1.5)
    start_epoch: int = 0  # first epoch of the window, counted from 1 (utils/config.py:74 `modulation_starts`)
    end_epoch: int = 20  # last epoch of the window, inclusive (utils/config.py:75 `modulation_ends`)
    cap: float = 10.0  # cap on rbar - r: run/CREMAD_main.py:151-152 (7: URFunny_main.py:128); 0: none, as AVE's
    # The clip's threshold and max norm, run/CREMAD_main.py:235-238 (5.0: URFunny_main.py:206-207); 0: no clip.
    clip: float = 1.0
    clip_scope: str = "encoders"  # the gradients clipped: "encoders", or "all" trainable (official model.parameters())
    keep_last: bool = False  # after the window, keep the window's last coefficients, as the official hooks do

    # Tuning (`sweep --tune`): the DomainBed-style proposal, 10^U(-1, 0.4), spanning the official 1.0-2.5.
    SEARCH: ClassVar[dict] = {"alpha": LogUniform(0.1, 10**0.4)}

    def validate(self) -> None:
        check_finite("AGM", "alpha", self.alpha)
        check_window("AGM", self.start_epoch, self.end_epoch)
        check_finite("AGM", "cap", self.cap, note="0: no cap")
        check_finite("AGM", "clip", self.clip, note="0 turns the clip off")
        check_choice(self.clip_scope, CLIP_SCOPES, "AGM's clip_scope")


@STRATEGIES.register("agm", **STRATEGY_FACTS["agm"].given())
class AGM(Strategy):
    description = "AGM: scale each encoder's classification gradient by exp(alpha (running - current Shapley ratio))"
    # S_m, the step count they average over, the last in-window coefficients (for keep_last).
    state_attributes = ("running_scores", "iteration", "last_coeffs")
    Params = AGMParams

    def __init__(self, params: AGMParams, model, seed: int = 0):
        super().__init__(params, model, seed)
        require_two_modalities(model, "AGM")
        count = len(model.modalities)
        device = next(model.parameters()).device  # the masks and weights stay there: no copy per step
        self.masks = coalition_masks(count).to(device)
        self.shapley = shapley_matrix(count).to(device)
        self.running_scores = torch.zeros(count, dtype=torch.float64)  # S = 0 at the start (CREMAD_main.py:612)
        self.iteration = 0
        self.last_coeffs = torch.ones(count, dtype=torch.float64)  # GradMod's scales start at 1 (CREMAD_net.py:39)
        self.output_weights = output_weights(model)

    def active(self) -> bool:
        return self.params.start_epoch <= self.epoch <= self.params.end_epoch

    def backward(self, step: StepLosses) -> dict[str, float]:
        responses = shapley_values(coalition_logits(self.model, step.outputs.features, self.masks), self.shapley)
        scores = response_scores(responses, step.labels).double().cpu()
        ratios, references = agm_ratios(scores), agm_ratios(self.running_scores)
        coeffs = agm_coefficients(references, ratios, self.params.alpha, self.params.cap or math.inf)
        # S joins this step's scores after rbar is taken, inside the window or not (CREMAD_main.py:148-159).
        self.iteration += 1
        self.running_scores = running_mean(self.running_scores, scores, self.iteration)
        if self.active():
            self.last_coeffs = coeffs
            applied = coeffs
        else:
            applied = self.last_coeffs if self.params.keep_last else torch.ones_like(coeffs)
        if bool((applied == 1).all()):
            step.total.backward()  # exactly baseline's step (alpha 0, or outside the window)
        else:
            split = split_feature_gradients(self.model, step)  # the heads get baseline's gradient
            backward_through_encoders(self.model, step, {m: b * split[m].cls + split[m].dom + split[m].plain
                                                         for m, b in zip(self.model.modalities, applied.tolist())})
        diagnostics = {"agm/active": float(self.active()), "agm/clipped": float(self.conditional_clip())}
        # float64 tensors (on the CPU, where the running scores live), summed by the engine and read per epoch.
        for i, m in enumerate(self.model.modalities):
            for key, values in zip(("score", "ratio", "reference", "coeff"), (scores, ratios, references, applied)):
                diagnostics[f"agm/{m}/{key}"] = values[i]
        return diagnostics

    def conditional_clip(self) -> bool:
        """The official conditional clip (CREMAD_main.py:233-238): whether it clipped."""
        if not self.params.clip:
            return False
        grads = [w.grad for w in self.output_weights if w.grad is not None]
        if not grads or not bool(torch.stack([g.abs().max() for g in grads]).max() > self.params.clip):
            return False
        if self.params.clip_scope == "all":
            params = [p for p in self.model.parameters() if p.requires_grad]
        else:
            params = [p for m in self.model.modalities for p in self.model.encoder_parameters(m)]
        torch.nn.utils.clip_grad_norm_(params, max_norm=self.params.clip)
        return True
