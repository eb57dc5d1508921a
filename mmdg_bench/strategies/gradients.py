"""Per-encoder gradient plumbing shared by the strategies (GMP, arXiv 2603.14175, Sec. 3).

Reading, flattening and writing back the gradient of one modality's encoder theta_m, splitting it
into the classification part g_c^m and the domain part g_d^m, and the per-modality confidences
that OGM-GE and GMP turn into coefficients. The maths itself lives in `functional.py`.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdg_bench.errors import UserError
from mmdg_bench.losses import CLASSIFICATION, DOMAIN, PLAIN, StepLosses
from mmdg_bench.models.multimodal import MultimodalModel


def read_gradient(params: list[nn.Parameter]) -> Tensor:
    """The gradients of `params` as one flat vector; a parameter the loss did not reach counts as 0."""
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])


def take_gradient(params: list[nn.Parameter]) -> Tensor:
    """`read_gradient`, then clear the gradients so that the next backward pass starts from zero."""
    flat = read_gradient(params)
    for p in params:
        p.grad = None
    return flat


def write_gradient(params: list[nn.Parameter], flat: Tensor) -> None:
    """Set the `.grad` of `params` from a flat vector laid out as `read_gradient` makes it."""
    for p, chunk in zip(params, torch.split(flat, [p.numel() for p in params])):
        p.grad = chunk.reshape(p.shape)


@dataclass
class EncoderGradients:
    """One encoder's flat gradients per task group (GMP notation): g_c, g_d, and the `plain` part
    that no strategy modulates or projects (zeros when the loss has no plain term)."""

    cls: Tensor
    dom: Tensor
    plain: Tensor


def theta_parameters(model: MultimodalModel, modality: str, with_head: bool = False) -> list[nn.Parameter]:
    """theta_m, the parameters whose gradient a strategy splits, modulates and projects: the encoder's,
    and with `with_head` then its unimodal head's (the first author's parameter set for GMP)."""
    params = model.encoder_parameters(modality)
    if with_head:
        params = params + [p for p in model.unimodal_heads[modality].parameters() if p.requires_grad]
    return params


def split_encoder_gradients(model: MultimodalModel, step: StepLosses,
                            with_heads: bool = False) -> dict[str, EncoderGradients]:
    """g_c^m, g_d^m (and the plain part) of every encoder, flat, one backward pass per group; with
    `with_heads`, of every encoder followed by its unimodal head (`theta_parameters`).

    Each pass but the last keeps the graph; between them the theta gradients are stashed and
    cleared, so each pass leaves exactly its own group's gradient there. The other head gradients
    are left in place: the classifier heads get theirs from the classification pass, the domain
    discriminators from the domain pass, so the heads train as under `baseline`. The thetas'
    `.grad` is left cleared, for the caller to write the combined update.
    """
    groups = [CLASSIFICATION, DOMAIN] + ([PLAIN] if step.has(PLAIN) else [])
    taken = {}
    for i, group in enumerate(groups):
        step.group(group).backward(retain_graph=i < len(groups) - 1)
        taken[group] = {m: take_gradient(theta_parameters(model, m, with_heads)) for m in model.modalities}
    plain = taken.get(PLAIN) or {m: torch.zeros_like(taken[CLASSIFICATION][m]) for m in model.modalities}
    return {m: EncoderGradients(taken[CLASSIFICATION][m], taken[DOMAIN][m], plain[m]) for m in model.modalities}


def head_parameters(model: MultimodalModel) -> list[nn.Parameter]:
    """Every trainable parameter above the encoders: fused head, unimodal heads, discriminators."""
    in_encoders = {id(p) for p in model.encoders.parameters()}
    return [p for p in model.parameters() if p.requires_grad and id(p) not in in_encoders]


def _gradients(loss: Tensor, inputs: list[Tensor]) -> list[Tensor]:
    """d loss / d inputs, zeros for the inputs the loss does not reach (all of them for an empty
    loss group); the graph is kept."""
    if not loss.requires_grad:
        return [torch.zeros_like(x) for x in inputs]
    grads = torch.autograd.grad(loss, inputs, retain_graph=True, allow_unused=True)
    return [g if g is not None else torch.zeros_like(x) for g, x in zip(grads, inputs)]


def split_feature_gradients(model: MultimodalModel, step: StepLosses) -> dict[str, EncoderGradients]:
    """d L_c / d z_m, d L_d / d z_m and the plain part's, at every encoder output z_m (shaped like z_m),
    each by a backward pass through the heads only; the heads get their ordinary gradient, as under
    `baseline`. The encoders get nothing yet: `backward_through_encoders` sends the combined feature
    gradients through them once. Every loss term reaches the encoders through z_m (the methods' terms
    too: they read the embeddings), so a per-modality scalar on a feature gradient is exactly that
    scalar on the encoder's parameter gradient (the backward through the encoder is linear)."""
    features = [step.outputs.features[m] for m in model.modalities]
    heads = head_parameters(model)
    groups = [_gradients(step.group(group), features + heads) for group in (CLASSIFICATION, DOMAIN, PLAIN)]
    n = len(features)
    for i, p in enumerate(heads):
        p.grad = sum(grads[n + i] for grads in groups)
    # In float32: under bf16 autocast z_m, and so its gradients, are bf16, and the strategies' dot products,
    # norms and projections on them must not round to 8 bits (`backward_through_encoders` casts back).
    return {m: EncoderGradients(*(grads[i].float() for grads in groups)) for i, m in enumerate(model.modalities)}


def backward_through_encoders(model: MultimodalModel, step: StepLosses, feature_grads: dict[str, Tensor]) -> None:
    """One backward pass through the encoders from the given gradient at each z_m."""
    features = [step.outputs.features[m] for m in model.modalities]
    torch.autograd.backward(features, grad_tensors=[feature_grads[m].reshape(z.shape).to(z.dtype)
                                                    for m, z in zip(model.modalities, features)])


def true_class_confidence(logits: Tensor, targets: Tensor) -> Tensor:
    """sum_i softmax(logits_i)[target_i], detached: a confidence score, not a loss. In float32 whatever
    the autocast dtype: a bf16 sum of 16 probabilities rounds GMP's sigma = 1.0024 to 1, which turns its
    domain modulation p off."""
    return F.softmax(logits.detach().float(), dim=1).gather(1, targets[:, None]).sum()


def semantic_confidences(step: StepLosses, modalities: list[str]) -> Tensor:
    """Per modality, sum over the batch of the unimodal head's true-class probability:
    OGM-GE's score s_m and GMP's sum_i q_i^m."""
    return torch.stack([true_class_confidence(step.outputs.unimodal_logits[m], step.labels) for m in modalities])


def domain_confidences(step: StepLosses, modalities: list[str]) -> Tensor:
    """Per modality, sum over the batch of the discriminator's true-domain probability: GMP's
    sum_i c_i^m (lower = more domain-invariant features)."""
    return torch.stack([true_class_confidence(step.outputs.domain_logits[m], step.domains) for m in modalities])


def require_two_modalities(model: MultimodalModel, method: str) -> None:
    """Ratio-based strategies compare each modality with the others; one modality has no other."""
    if len(model.modalities) < 2:
        raise UserError(f"{method} compares each modality with the others, so it needs at least two modalities, "
                        f"but data.modalities is {model.modalities}: add a modality or use baseline or pcgrad")


def pair_diagnostics(modality: str, g_c: Tensor, g_d: Tensor, level: str = "") -> dict[str, Tensor]:
    """cos(g_c, g_d), conflict (dot < 0) and both norms of one encoder's gradient pair; `level`
    prefixes the names of gradients taken elsewhere than at the encoder parameters ("feature_").
    Tensors left on the device, for the engine to read once per epoch; in float64, as the Python
    floats they replace were computed."""
    dot, norm_c, norm_d = torch.stack((g_c @ g_d, g_c.norm(), g_d.norm())).double()
    return {
        f"{modality}/{level}cos_cd": dot / (norm_c * norm_d).clamp_min(1e-30),
        f"{modality}/{level}conflict": (dot < 0).double(),
        f"{modality}/{level}norm_c": norm_c,
        f"{modality}/{level}norm_d": norm_d,
    }
