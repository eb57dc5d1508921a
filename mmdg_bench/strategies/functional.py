"""Pure gradient-balancing primitives shared by the strategies.

Everything here works on plain tensors (no model, no autograd state) so that
the maths can be tested on hand-computed inputs. References:

* OGM-GE: Peng et al., "Balanced Multimodal Learning via On-the-fly Gradient
  Modulation", CVPR 2022.
* GMP: Li et al., "Balancing Multimodal Domain Generalization via Gradient
  Modulation and Projection", AAAI 2026 (IGDM modulation, CAGP projection).
* PCGrad: Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020.
* Gradient-Blending: Wang, Tran, Feiszli, "What Makes Training Multi-modal
  Classification Networks Hard?", CVPR 2020.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "CagpChoice",
    "cagp",
    "cagp_choice",
    "dominance_ratios",
    "others_mean",
    "shifted_ratios",
    "gradient_blending_weights",
    "pcgrad",
    "project_out",
    "tanh_modulation",
]

CagpChoice = Literal["none", "cls", "dom"]


def _dot(a: Tensor, b: Tensor) -> Tensor:
    # Sum of the elementwise product: works for flat or shaped gradients alike.
    return torch.sum(a * b)


def dominance_ratios(scores: Tensor, *, eps: float = 1e-8) -> Tensor:
    """Ratio of each modality's score to the mean score of the other modalities.

    ``out[m] = scores[m] / mean_{j != m} scores[j]``. With two modalities this is
    OGM-GE's ``s_a / s_v``; GMP's rho uses semantic confidence sums and its sigma
    is ``1 / dominance_ratios(domain_confidence_sums)``. Scores are expected to be
    non-negative; the denominator is clamped to ``eps`` so the output stays
    finite when all the other scores are zero.

    >>> dominance_ratios(torch.tensor([3.0, 1.0]))
    tensor([3.0000, 0.3333])
    >>> dominance_ratios(torch.tensor([2.0, 1.0, 1.0]))  # each against the mean of the others
    tensor([2.0000, 0.6667, 0.6667])
    """
    if scores.dim() != 1 or scores.numel() < 2:
        raise ValueError(f"need a 1-D tensor of M >= 2 scores, got shape {tuple(scores.shape)}")
    if not scores.is_floating_point():
        scores = scores.to(torch.get_default_dtype())
    return scores / others_mean(scores).clamp_min(eps)


def others_mean(scores: Tensor) -> Tensor:
    """``out[m] = mean_{j != m} scores[j]``, without a loop: the own score removed from the total.

    >>> others_mean(torch.tensor([2.0, 1.0, 3.0]))
    tensor([2.0000, 2.5000, 1.5000])
    """
    return (scores.sum() - scores) / (scores.numel() - 1)


def shifted_ratios(confidences: Tensor, domain_confidences: Tensor, eps: float = 1e-6) -> tuple[Tensor, Tensor]:
    """GMP's rho and sigma as its first author computes them (train_GMP.py, `_compute_diff_ratios`
    and `_compute_diff_ratios_domain`): from batch-mean confidences, with `eps` added to each
    denominator, ``rho[m] = q[m] / (mean_{j!=m} q[j] + eps)`` and
    ``sigma[m] = mean_{j!=m} c[j] / (c[m] + eps)``. Within about eps of `dominance_ratios`.

    >>> rho, sigma = shifted_ratios(torch.tensor([0.6, 0.3]), torch.tensor([0.2, 0.4]))
    >>> rho, sigma
    (tensor([2.0000, 0.5000]), tensor([2.0000, 0.5000]))
    """
    return (confidences / (others_mean(confidences) + eps),
            others_mean(domain_confidences) / (domain_confidences + eps))


def tanh_modulation(ratio: Tensor, alpha: float) -> Tensor:
    """OGM-GE / GMP coefficient: ``1 - tanh(alpha * ratio)`` if ratio > 1, else 1.

    Only the dominant modalities (ratio > 1) are slowed down; the others keep
    their full gradient (GMP Eq. 9/10).

    >>> tanh_modulation(torch.tensor([2.0, 0.5]), alpha=0.5)  # 1 - tanh(1) for the leader
    tensor([0.2384, 1.0000])
    """
    if not alpha >= 0:  # also rejects NaN
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    # 1 - tanh(x) == 2 * sigmoid(-2x) exactly in real arithmetic; the sigmoid
    # form avoids the cancellation that rounds 1 - tanh(x) to 0 for x > ~9.
    damped = 2.0 * torch.sigmoid(-2.0 * alpha * ratio)
    return torch.where(ratio > 1, damped, torch.ones_like(damped))


def project_out(g: Tensor, onto: Tensor) -> Tensor:
    """Remove from ``g`` its component along ``onto``: ``g - (g.onto / |onto|^2) onto``.

    A zero ``onto`` has no direction to remove, so ``g`` comes back unchanged
    in value (and no 0/0 is ever evaluated).

    >>> project_out(torch.tensor([1.0, 1.0]), torch.tensor([2.0, 0.0]))
    tensor([0., 1.])
    >>> project_out(torch.tensor([1.0, 1.0]), torch.zeros(2))
    tensor([1., 1.])
    """
    if g.shape != onto.shape:
        raise ValueError(f"shape mismatch: {tuple(g.shape)} vs {tuple(onto.shape)}")
    sq_norm = _dot(onto, onto)
    nonzero = sq_norm > 0
    # Divide by 1 instead of 0 and zero the coefficient: branch-free, no host sync.
    coef = torch.where(nonzero, _dot(g, onto) / torch.where(nonzero, sq_norm, 1.0), 0.0)
    return g - coef * onto


def cagp_choice(dot: float, rho: float, sigma: float) -> CagpChoice:
    """Which gradient CAGP projects: "none" (no conflict), "cls" or "dom".

    ``dot`` is ``g_c . g_d``. On conflict (dot < 0) GMP compares
    Gamma = rho / sigma with 1: classification dominant (Gamma >= 1) -> the
    classification gradient ``g_c`` yields ("cls"); otherwise ``g_d`` ("dom").

    >>> cagp_choice(-1.0, rho=1.5, sigma=1.0), cagp_choice(-1.0, rho=0.5, sigma=1.0), cagp_choice(0.3, 2.0, 1.0)
    ('cls', 'dom', 'none')
    """
    rho, sigma = float(rho), float(sigma)
    if not (rho >= 0 and sigma >= 0):  # also rejects NaN
        raise ValueError(f"rho and sigma must be >= 0, got rho={rho}, sigma={sigma}")
    if not float(dot) < 0:
        return "none"
    # Gamma >= 1 <=> rho >= sigma for sigma > 0; comparing avoids 0/0 and
    # extends sensibly to sigma == 0 (Gamma = inf) and sigma == inf (Gamma = 0).
    return "cls" if rho >= sigma else "dom"


def cagp(g_c: Tensor, g_d: Tensor, rho: float, sigma: float) -> tuple[Tensor, Tensor]:
    """GMP conflict-adaptive gradient projection (CAGP) of one modality's gradients.

    ``g_c``: classification gradient, ``g_d``: domain-invariance gradient. If they
    conflict (dot < 0), the gradient of the dominant task (see ``cagp_choice``)
    is projected onto the normal plane of the other. The other gradient, and both
    when there is no conflict, are returned as the very same tensor objects.

    >>> cagp(torch.tensor([1.0, 1.0]), torch.tensor([-1.0, 0.0]), rho=2.0, sigma=1.0)  # g_c yields
    (tensor([0., 1.]), tensor([-1.,  0.]))
    >>> cagp(torch.tensor([1.0, 1.0]), torch.tensor([-1.0, 0.0]), rho=0.5, sigma=1.0)  # g_d yields
    (tensor([1., 1.]), tensor([-0.5000,  0.5000]))
    """
    if g_c.shape != g_d.shape:
        raise ValueError(f"shape mismatch: {tuple(g_c.shape)} vs {tuple(g_d.shape)}")
    choice = cagp_choice(float(_dot(g_c, g_d)), rho, sigma)
    if choice == "cls":
        # Classification dominates: drop the part of g_c that undoes g_d.
        return project_out(g_c, g_d), g_d
    if choice == "dom":
        # Domain invariance dominates: drop the part of g_d that undoes g_c.
        return g_c, project_out(g_d, g_c)
    return g_c, g_d


def pcgrad(grads: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """PCGrad (Yu et al. 2020, Alg. 1): project away pairwise conflicts, then sum.

    ``grads`` is ``[T, P]``. For each task i the other tasks j are visited in an
    order drawn with ``torch.randperm(..., generator=generator)``; whenever the
    running ``g_i`` conflicts with the ORIGINAL ``g_j`` (dot < 0), ``g_i`` is
    projected onto the normal plane of ``g_j``. Returns the sum, shape ``[P]``.

    >>> pcgrad(torch.tensor([[1.0, 1.0], [-1.0, 0.0]]), torch.Generator().manual_seed(0))
    tensor([-0.5000,  1.5000])
    """
    if grads.dim() != 2 or grads.shape[0] < 1:
        raise ValueError(f"need grads of shape [T >= 1, P], got {tuple(grads.shape)}")
    t = grads.shape[0]
    device = generator.device if generator is not None else torch.device("cpu")
    projected = []
    for i in range(t):
        g_i = grads[i]
        # Random order per task, as in the paper; self is skipped, not projected. The order is drawn even for
        # two tasks, where it cannot matter (the other task is the only one), so the generator's stream is the
        # same for any T; only then it is not read from the device (a read waits for the GPU).
        order = torch.randperm(t, generator=generator, device=device)
        for j in ([1 - i] if t == 2 else order.tolist()):
            if j != i:
                # The conflict test as a select, not a branch: `float(dot) < 0` would wait for the GPU. Both
                # sides are computed; the values kept are the very ones the branch would give (NaN: no conflict).
                g_i = torch.where(_dot(g_i, grads[j]) < 0, project_out(g_i, grads[j]), g_i)  # the original g_j
        projected.append(g_i)
    return torch.stack(projected).sum(dim=0)


def gradient_blending_weights(
    train_prev: Tensor,
    train_now: Tensor,
    val_prev: Tensor,
    val_now: Tensor,
    eps: float = 1e-6,
) -> Tensor:
    """Gradient-Blending weights (Wang et al. 2020), one per head, summing to 1.

    Per head k: O = L_V - L_T (overfitting), dG = L_V(prev) - L_V(now)
    (generalisation gain), dO = O(now) - O(prev); w_k is proportional to
    dG / dO^2 (the inverse overfitting-to-generalisation ratio, squared in dO).
    ``eps`` (default 1e-6) floors both dO^2 (no division by zero when the
    overfitting did not change) and w_k (a head that did not generalise keeps a
    tiny positive weight; if none did, the weights come out uniform).

    Two heads: the first gains 0.2 while overfitting by 0.3 more, the second gains 0.1 for 0.1 more,
    so the second gets dG / dO^2 = 10 against the first's 2.2:

    >>> gradient_blending_weights(torch.tensor([1.0, 1.0]), torch.tensor([0.5, 0.8]),
    ...                           torch.tensor([1.2, 1.2]), torch.tensor([1.0, 1.1]))
    tensor([0.1818, 0.8182])
    """
    shapes = {tuple(x.shape) for x in (train_prev, train_now, val_prev, val_now)}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1 or not eps > 0:
        raise ValueError(f"need four 1-D loss tensors of one length K and eps > 0, got {shapes}")
    losses = torch.stack((train_prev, train_now, val_prev, val_now))
    if not bool(torch.isfinite(losses).all()):
        raise ValueError("losses must be finite")
    if not losses.is_floating_point():
        losses = losses.to(torch.get_default_dtype())
    t_prev, t_now, v_prev, v_now = losses
    gain = v_prev - v_now  # dG: drop of the held-out loss
    d_overfit = (v_now - t_now) - (v_prev - t_prev)  # dO = O(now) - O(prev)
    w = (gain.clamp_min(0) / (d_overfit**2).clamp_min(eps)).clamp_min(eps)
    return w / w.sum()
