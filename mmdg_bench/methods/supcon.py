"""Supervised contrastive loss (Khosla et al., NeurIPS 2020, Eq. 2, "L_out") and the projection head
that feeds it (SimCLR-style MLP, L2-normalised output), as SimMMDG, MOOSA and CMRF use them with
each modality's projection as one view of a clip."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Projector(nn.Module):
    """Linear-BN-ReLU-Linear-BN-ReLU-Linear, then L2-normalised (SimMMDG's projection head,
    2048-2048-128 there; the widths are the caller's)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int):
        super().__init__()
        self.head = nn.Sequential(nn.Linear(in_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                                  nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                                  nn.Linear(hidden, out_dim))

    def forward(self, features: Tensor) -> Tensor:
        return F.normalize(self.head(features), dim=1)


def supervised_contrastive(views: Tensor, labels: Tensor, temperature: float, base_temperature: float) -> Tensor:
    """SupCon over `views` [batch, n_views, dim] (L2-normalised): every view of every clip is an
    anchor; its positives are the other views with the same label, its contrast set every other view.

        L = -(T / T_base) * mean_anchors mean_{p in P(a)} log softmax_{c != a}(z_a . z_c / T)[p]
    """
    batch, n_views, _ = views.shape
    features = views.transpose(0, 1).reshape(batch * n_views, -1)  # view-major: all clips of view 1, then 2, ...
    tiled = labels.repeat(n_views)
    logits = features @ features.T / temperature
    not_self = ~torch.eye(len(features), dtype=torch.bool, device=features.device)
    positives = (tiled[:, None] == tiled[None, :]) & not_self
    log_prob = logits - torch.logsumexp(logits.masked_fill(~not_self, float("-inf")), dim=1, keepdim=True)
    # With two views or more every anchor has a positive: its own clip's other view.
    mean_positive = (log_prob * positives).sum(1) / positives.sum(1)
    return -(temperature / base_temperature) * mean_positive.mean()
