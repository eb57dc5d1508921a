"""Cross-modal translation (SimMMDG, NeurIPS 2023, Sec. 3.3): an MLP per ordered modality pair maps
one modality's embedding to another's; the loss is the distance between the L2-normalised
translation and the L2-normalised target embedding, mean over the batch."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def seeded_dropout(x: Tensor, p: float, generator: torch.Generator) -> Tensor:
    """Inverted dropout with a mask drawn from `generator` (so a resumed run repeats it)."""
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= p
    return x * keep / (1.0 - p)


class Translator(nn.Module):
    """Linear-ReLU-Linear-ReLU-Dropout-Linear (SimMMDG's translator: three layers, dropout before
    the last)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int, dropout: float):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.out = nn.Linear(hidden, out_dim)
        self.dropout = dropout

    def forward(self, embedding: Tensor, generator: torch.Generator) -> Tensor:
        hidden = self.body(embedding)
        if self.training and self.dropout > 0:
            hidden = seeded_dropout(hidden, self.dropout, generator)
        return self.out(hidden)


def translation_distance(translated: Tensor, target: Tensor) -> Tensor:
    """mean_i || norm(T(e_m))_i - norm(e_m')_i ||_2 (SimMMDG's translation loss for one pair)."""
    return (F.normalize(translated, dim=1) - F.normalize(target, dim=1)).norm(dim=1).mean()


def pair_key(source: str, target: str) -> str:
    return f"{source}_to_{target}"
