"""Per-encoder gradient plumbing shared by the strategies (SPEC §3-§4).

Reading, flattening and writing back the gradient of one modality's encoder theta_m, splitting it
into the classification part g_c^m and the domain part g_d^m, and the per-modality confidences
that OGM-GE and GMP turn into coefficients. The maths itself lives in `functional.py`.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdg_bench.errors import UserError
from mmdg_bench.models.multimodal import MultimodalModel
from mmdg_bench.strategies.base import StepLosses


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


def split_encoder_gradients(model: MultimodalModel, step: StepLosses) -> dict[str, tuple[Tensor, Tensor]]:
    """(g_c^m, g_d^m) of every encoder, flat, from two backward passes (SPEC §4 notation).

    The classification pass keeps the graph for the domain pass; between them the encoder gradients
    are stashed and cleared, so each pass leaves exactly its own loss's gradient there. The head
    gradients are left in place: the classifier heads get theirs from the first pass, the domain
    discriminators from the second, so the heads train as under `baseline`. The encoders' `.grad`
    is left cleared, for the caller to write the combined update.
    """
    step.classification.backward(retain_graph=True)
    g_c = {m: take_gradient(model.encoder_parameters(m)) for m in model.modalities}
    step.domain.backward()
    g_d = {m: take_gradient(model.encoder_parameters(m)) for m in model.modalities}
    return {m: (g_c[m], g_d[m]) for m in model.modalities}


def head_parameters(model: MultimodalModel) -> list[nn.Parameter]:
    """Every trainable parameter above the encoders: fused head, unimodal heads, discriminators."""
    in_encoders = {id(p) for p in model.encoders.parameters()}
    return [p for p in model.parameters() if p.requires_grad and id(p) not in in_encoders]


def true_class_confidence(logits: Tensor, targets: Tensor) -> Tensor:
    """sum_i softmax(logits_i)[target_i], detached: a confidence score, not a loss."""
    return F.softmax(logits.detach(), dim=1).gather(1, targets[:, None]).sum()


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


def seeded_generator(model: MultimodalModel) -> torch.Generator:
    """A generator on the model's device seeded from the run's seed (the engine seeds torch before it
    builds the strategy), so that random draws repeat exactly with the seed."""
    device = next(model.parameters()).device
    return torch.Generator(device=device).manual_seed(torch.initial_seed())


def pair_diagnostics(modality: str, g_c: Tensor, g_d: Tensor) -> dict[str, float]:
    """cos(g_c, g_d), conflict (dot < 0) and both norms of one encoder's gradient pair."""
    dot, norm_c, norm_d = torch.stack((g_c @ g_d, g_c.norm(), g_d.norm())).tolist()
    return {
        f"{modality}/cos_cd": dot / max(norm_c * norm_d, 1e-30),
        f"{modality}/conflict": float(dot < 0),
        f"{modality}/norm_c": norm_c,
        f"{modality}/norm_d": norm_d,
    }
