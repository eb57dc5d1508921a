"""How the fused classifier combines the modalities' features (`model.fusion`; GMP's Table 5).

    concat  the default: an MLP head on [z_1 | z_2 | ...] (GMP, SimMMDG)
    sum     each z_m mapped to a common width, summed, then the MLP head
    film    FiLM (Perez et al., AAAI 2018): the first modality's mapped feature scaled and shifted
            by (gamma, beta) predicted from the others
    gated   gated fusion (as in OGM-GE's comparison of fusions): the first modality's mapped feature
            times sigmoid of a map of the others
    late    no fused head: the average of the unimodal heads' logits

Table 5's "Activation" fusion is not defined in the text we have; the closest variant here is
`gated` (a sigmoid activation of one modality gating another). That mapping is an assumption (its
facts say so, mmdg_bench/facts.py), and the Table 5 layout of `compare` says so too.

With one modality, film and gated have nothing to condition on and act as sum does.
"""

import torch
from torch import nn

from mmdg_bench.facts import FUSION_FACTS, FusionInfo
from mmdg_bench.models.heads import mlp_head
from mmdg_bench.registry import Registry

FUSIONS: Registry[type[nn.Module]] = Registry("fusion", facts=FusionInfo)


@FUSIONS.register("concat", **FUSION_FACTS["concat"].given())
class ConcatFusion(nn.Module):
    def __init__(self, dims: dict[str, int], hidden: int, num_classes: int):
        super().__init__()
        self.modalities = list(dims)
        self.head = mlp_head(sum(dims.values()), hidden, num_classes)

    def forward(self, features: dict[str, torch.Tensor], heads) -> torch.Tensor:
        return self.head(torch.cat([features[m] for m in self.modalities], dim=1))


class _Mapped(nn.Module):
    """Each modality's feature mapped to one common width (the widest), for fusions that combine
    features element-wise."""

    def __init__(self, dims: dict[str, int], hidden: int, num_classes: int):
        super().__init__()
        self.modalities = list(dims)
        self.width = max(dims.values())
        self.maps = nn.ModuleDict({m: nn.Linear(d, self.width) for m, d in dims.items()})
        self.head = mlp_head(self.width, hidden, num_classes)

    def mapped(self, features: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        return [self.maps[m](features[m]) for m in self.modalities]


@FUSIONS.register("sum", **FUSION_FACTS["sum"].given())
class SumFusion(_Mapped):
    def forward(self, features, heads) -> torch.Tensor:
        return self.head(torch.stack(self.mapped(features)).sum(0))


class _Conditioned(_Mapped):
    """The first modality's mapped feature, modulated by a map of the others' (concatenated)."""

    def __init__(self, dims: dict[str, int], hidden: int, num_classes: int, outputs: int):
        super().__init__(dims, hidden, num_classes)
        others = sum(d for m, d in dims.items() if m != self.modalities[0])
        self.condition = nn.Linear(others, outputs * self.width) if others else None

    def split(self, features):
        first, *rest = self.mapped(features)
        if self.condition is None:
            return first, None
        others = torch.cat([features[m] for m in self.modalities[1:]], dim=1)
        return first, self.condition(others)


@FUSIONS.register("film", **FUSION_FACTS["film"].given())
class FiLMFusion(_Conditioned):
    def __init__(self, dims, hidden, num_classes):
        super().__init__(dims, hidden, num_classes, outputs=2)

    def forward(self, features, heads) -> torch.Tensor:
        first, condition = self.split(features)
        if condition is None:
            return self.head(first)
        gamma, beta = condition.chunk(2, dim=1)
        return self.head(gamma * first + beta)


@FUSIONS.register("gated", **FUSION_FACTS["gated"].given())
class GatedFusion(_Conditioned):
    def __init__(self, dims, hidden, num_classes):
        super().__init__(dims, hidden, num_classes, outputs=1)

    def forward(self, features, heads) -> torch.Tensor:
        first, condition = self.split(features)
        return self.head(first if condition is None else torch.sigmoid(condition) * first)


@FUSIONS.register("late", **FUSION_FACTS["late"].given())
class LateFusion(nn.Module):
    """The fused prediction is the mean of the unimodal heads' logits, on attached features (the
    heads are the classifier here, whatever `loss.classification` detaches for their own CE)."""

    def __init__(self, dims: dict[str, int], hidden: int, num_classes: int):
        super().__init__()
        self.modalities = list(dims)

    def forward(self, features, heads) -> torch.Tensor:
        return torch.stack([heads[m](features[m]) for m in self.modalities]).mean(0)
