"""RNA-Net: Relative Norm Alignment (Planamente et al., "Domain Generalization through Audio-Visual
Relative Norm Alignment in First Person Action Recognition", WACV 2022; IJCV 2024 extension).

The modality whose features have the larger mean L2 norm dominates the fused prediction; RNA
aligns the modalities' mean feature norms:

    L_RNA = (E_i ||z_a,i||_2 / E_i ||z_b,i||_2 - 1)^2                       (WACV 2022, Eq. 3)

added to the classification loss with weight 1.0 (MMDG_Benchmark's `train_RNA.py`). With three
modalities it is the mean over the pairs (video/audio, video/flow, flow/audio in the official
script: audio always in the denominator); here, over every pair of the run's modalities ordered
video, flow, audio, then any other, which gives those three pairs.

Task group: `domain`. The term uses no label; it aligns the modalities' feature statistics with
each other, the invariance side of GMP's split (its gradient is g_d, modulated by p, not k).

Departures from the official code: the term sits on top of the benchmark's shared model, so ERM's
terms are kept (fused CE, unimodal heads, DANN discriminators; RNA-Net has no discriminator), and
the norms are taken of our encoders' features z_m at their own widths (RNA-Net: the backbones'
pooled features, I3D 1024-d and BN-Inception audio 1024-d).

    mmdg-bench run --method rna-net --strategy gmp
"""

import itertools
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from mmdg_bench.facts import METHOD_FACTS
from mmdg_bench.losses import DOMAIN, LossTerm
from mmdg_bench.methods.base import METHODS, Method
from mmdg_bench.methods.params import check_ranges
from mmdg_bench.methods.seeded import require_modalities
from mmdg_bench.search_space import LogUniform

NUMERATOR_FIRST = ("video", "flow", "audio")  # the official pairs: v/a, v/f, f/a


@dataclass
class RNANetParams:
    weight: float = 1.0  # weight of L_RNA (MMDG_Benchmark train_RNA.py)
    # Our choice: a decade either side of the official weight.
    SEARCH: ClassVar[dict] = {"weight": LogUniform(0.1, 10.0)}

    def validate(self) -> None:
        check_ranges("rna-net", self, nonnegative=("weight",))


def norm_pairs(modalities: list[str]) -> list[tuple[str, str]]:
    """(numerator, denominator) pairs, video before flow before audio before any other modality."""
    rank = {m: NUMERATOR_FIRST.index(m) if m in NUMERATOR_FIRST else len(NUMERATOR_FIRST) for m in modalities}
    return list(itertools.combinations(sorted(modalities, key=lambda m: rank[m]), 2))


def relative_norm_alignment(features: dict[str, Tensor], pairs: list[tuple[str, str]]) -> Tensor:
    """Mean over `pairs` of (mean feature norm ratio - 1)^2."""
    mean_norm = {m: z.norm(dim=1).mean() for m, z in features.items()}
    return torch.stack([(mean_norm[a] / mean_norm[b] - 1) ** 2 for a, b in pairs]).mean()


@METHODS.register("rna-net", **METHOD_FACTS["rna-net"].given())
class RNANet(Method):
    description = "RNA-Net: ERM + relative norm alignment of the modalities' mean feature norms"
    Params = RNANetParams

    def __init__(self, params: RNANetParams, context):
        super().__init__(params, context)
        require_modalities(context, "RNA-Net")
        self.pairs = norm_pairs(context.modalities)

    def terms(self, out, batch) -> list[LossTerm]:
        rna = relative_norm_alignment(out.features, self.pairs)
        return super().terms(out, batch) + [LossTerm("rna/norm_alignment", rna, self.params.weight, DOMAIN)]
