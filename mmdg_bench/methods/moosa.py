"""MOOSA, closed-set (Dong, Chatzi, Fink, "Towards Multimodal Open-Set Domain Generalization and
Adaptation through Self-supervision", ECCV 2024; code donghao51/MOOSA; the closed-set variant is
SimMMDG's code with MOOSA's training step, MOOSA issue #3).

SimMMDG's terms (simmmdg.py), with the translators reading masked embeddings, plus:
- entropy-weighted heads: per clip, weights w_k = softmax_k(-H(p_k) / T) over the heads {fused,
  unimodal...}; the heads' CE becomes mean_i sum_k w_ik CE_ik (T = 1); the weights are not detached
  (as the official code computes them: their gradient sharpens the confident heads further);
- entropy minimisation of every head, -sum p log(p + 1e-5) as the official code writes it, averaged
  over heads and clips (weight 1e-3);
- multimodal jigsaw: each modality's embedding cut into S parts (S = 4 for two modalities, 2 for
  three), the M*S parts concatenated in each of P = 128 permutations drawn once from the (M*S)!
  possible ones, and an MLP (in -> 512 -> P) predicts which (CE over every clip under every
  permutation, B x P samples a batch, as the official code; weight 1.0). `jigsaw_samples: one` draws
  one permutation per clip instead (the same expectation, P times fewer samples);
- masked cross-modal translation: a random mask_ratio (0.3) of each translator input's entries zeroed.

Task groups (as SimMMDG's, rule: label-driven or prediction-driven terms are classification-side,
label-free feature alignment/self-supervision is invariance-side):
- ERM's head CEs, replaced (same names, heads and groups as ERM's; weight 1 each): each head's
  term is mean_i w_ik CE_ik, so together they are MOOSA's entropy-weighted loss. Gradient-Blending
  still reweighs them per head.
- `moosa/entropy`: classification. It sharpens the class predictions (semantic confidence).
- `moosa/jigsaw`: domain. Label-free self-supervision on the structure of the embeddings across
  modalities (JiGen's rationale: an auxiliary task that regularises towards invariant features).
- `moosa/contrast`, `moosa/distance`, `moosa/translation`: as SimMMDG's.
ERM's domain-adversarial terms are kept.

Departures from the official code: closed-set only (no unknown class, no H-score); the shared model
(our fused head, unimodal heads — MOOSA's per-modality CE heads are ours — and DANN discriminators);
under `loss.classification: paper` the unimodal heads read detached features, so their
entropy-weighted CEs train the heads only and never reach the encoders (they do in the official
code, and here under `author` or `both`);
widths as in simmmdg.py; parts of an embedding whose width S does not divide leave its last units
out of the jigsaw; the permutation set, each clip's permutation, the masks and the dropout come from
seeded streams: the set from (seed, "moosa/permutations"), the per-step draws from (seed, name, step).

    mmdg-bench run --method moosa --strategy gmp --set method.moosa.mask_ratio=0.7
"""

import itertools
import math
from dataclasses import dataclass, replace
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdg_bench.errors import UserError, check_choice
from mmdg_bench.facts import METHOD_FACTS
from mmdg_bench.losses import CLASSIFICATION, DOMAIN, FUSED, LossTerm
from mmdg_bench.methods.base import METHODS
from mmdg_bench.methods.params import check_ranges
from mmdg_bench.methods.simmmdg import SimMMDG, SimMMDGParams
from mmdg_bench.models.heads import mlp_head
from mmdg_bench.search_space import LogUniform
from mmdg_bench.seeding import stream

JIGSAW_SAMPLES = ("all", "one")


@dataclass
class MOOSAParams(SimMMDGParams):
    entropy_weight: float = 1e-3  # entropy minimisation weight (official 1e-3; 0.1 or 1.0 in some settings)
    entropy_temperature: float = 1.0  # T in the heads' weights softmax(-H / T)
    jigsaw_weight: float = 1.0
    jigsaw_parts: int = 0  # S, parts per modality; 0: 4 for two modalities, 2 for three or more
    jigsaw_permutations: int = 128  # P, the permutation classes (fewer when (M*S)! < P)
    jigsaw_hidden: int = 512  # jigsaw MLP hidden width
    # "all": every clip under every permutation (official, B x P samples); "one": one drawn per clip
    jigsaw_samples: str = "all"
    mask_ratio: float = 0.3  # share of each translator input zeroed (official 0.3 or 0.7)
    # SimMMDG's, and the entropy weight over the official values (1e-3, 0.1 or 1.0); the jigsaw weight our
    # choice, a decade either side of the official 1.0.
    SEARCH: ClassVar[dict] = {**SimMMDGParams.SEARCH, "entropy_weight": LogUniform(1e-3, 1.0),
                              "jigsaw_weight": LogUniform(0.1, 10.0)}

    def validate(self) -> None:
        super().validate()
        check_ranges("moosa", self, nonnegative=("entropy_weight", "jigsaw_weight"),
                     positive=("entropy_temperature",), fractions=("mask_ratio",), widths=("jigsaw_parts",))
        check_choice(self.jigsaw_samples, JIGSAW_SAMPLES, "'method.moosa.jigsaw_samples'")
        if self.jigsaw_permutations < 1 or self.jigsaw_hidden < 1:
            raise UserError(f"method.moosa.jigsaw_permutations and jigsaw_hidden must be integers >= 1, got "
                            f"{self.jigsaw_permutations} and {self.jigsaw_hidden}")


def entropy(logits: Tensor) -> Tensor:
    """Per clip, the Shannon entropy (nats) of softmax(logits)."""
    return -(F.softmax(logits, dim=1) * F.log_softmax(logits, dim=1)).sum(1)


def floored_entropy(logits: Tensor) -> Tensor:
    """Per clip, -sum p log(p + 1e-5): the entropy the official code minimises."""
    p = F.softmax(logits, dim=1)
    return -(p * torch.log(p + 1e-5)).sum(1)


def entropy_weights(logits: list[Tensor], temperature: float) -> Tensor:
    """[batch, heads]: softmax over heads of -H(p_k) / T (confident heads weigh more), not detached."""
    return F.softmax(-torch.stack([entropy(x) for x in logits], dim=1) / temperature, dim=1)


def permutation_set(parts: int, count: int, generator: torch.Generator) -> Tensor:
    """`count` distinct permutations of range(parts) (all of them when parts! <= count), [count, parts]."""
    if math.factorial(parts) <= count:
        return torch.tensor(list(itertools.permutations(range(parts))))
    chosen: dict[tuple, None] = {}
    while len(chosen) < count:
        chosen.setdefault(tuple(torch.randperm(parts, generator=generator).tolist()))
    return torch.tensor(list(chosen))


def part_columns(dims: list[int], parts: int) -> list[Tensor]:
    """The columns of each part in the concatenated embeddings [z_1 | z_2 | ...], modality-major."""
    columns, offset = [], 0
    for d in dims:
        width = d // parts
        columns += [torch.arange(offset + s * width, offset + (s + 1) * width) for s in range(parts)]
        offset += d
    return columns


@METHODS.register("moosa", **METHOD_FACTS["moosa"].given())
class MOOSA(SimMMDG):
    description = ("MOOSA (closed-set): SimMMDG + entropy-weighted heads, entropy minimisation, "
                   "multimodal jigsaw, masked translation")
    Params = MOOSAParams
    name = "moosa"

    def __init__(self, params: MOOSAParams, context):
        super().__init__(params, context)
        modalities = context.modalities
        parts = params.jigsaw_parts or (4 if len(modalities) == 2 else 2)
        if parts > min(context.dims.values()):
            raise UserError(f"MOOSA's jigsaw cuts each embedding into {parts} parts, more than the narrowest "
                            f"feature's {min(context.dims.values())} units; lower method.moosa.jigsaw_parts")
        permutations = permutation_set(len(modalities) * parts, params.jigsaw_permutations,
                                       stream(context.seed, "moosa/permutations"))
        columns = part_columns([context.dims[m] for m in modalities], parts)
        # Per permutation class, the column order of the shuffled concatenation.
        self.register_buffer("jigsaw_columns", torch.stack([torch.cat([columns[i] for i in order])
                                                            for order in permutations.tolist()]))
        self.jigsaw = mlp_head(self.jigsaw_columns.shape[1], params.jigsaw_hidden, len(permutations))

    def terms(self, out, batch) -> list[LossTerm]:
        labels = batch["label"]
        logits = {FUSED: out.fused_logits, **out.unimodal_logits}
        weights = entropy_weights(list(logits.values()), self.params.entropy_temperature)
        weighted = {head: (weights[:, k] * F.cross_entropy(logits[head], labels, reduction="none")).mean()
                    for k, head in enumerate(logits)}
        terms = [replace(t, loss=weighted[t.head], weight=1.0) if t.head is not None else t
                 for t in super().terms(out, batch)]
        entropy_min = torch.stack([floored_entropy(x).mean() for x in logits.values()]).mean()
        return terms + [
            LossTerm("moosa/entropy", entropy_min, self.params.entropy_weight, CLASSIFICATION),
            LossTerm("moosa/jigsaw", self.jigsaw_loss(out.features), self.params.jigsaw_weight, DOMAIN),
        ]

    def jigsaw_loss(self, z: dict[str, Tensor]) -> Tensor:
        joined = torch.cat([z[m] for m in self.context.modalities], dim=1)
        classes = len(self.jigsaw_columns)
        if self.params.jigsaw_samples == "all":  # [B, P, width] -> B x P samples, clip-major
            shuffled = joined[:, self.jigsaw_columns].flatten(0, 1)
            targets = torch.arange(classes, device=joined.device).repeat(len(joined))
        else:
            targets = torch.randint(classes, (len(joined),), device=joined.device,
                                    generator=self.generator("moosa/jigsaw", device=joined.device))
            shuffled = joined.gather(1, self.jigsaw_columns[targets])
        return F.cross_entropy(self.jigsaw(shuffled), targets)

    def translator_input(self, embedding: Tensor, key: str) -> Tensor:
        """MOOSA's masked translation: a random mask_ratio of the entries zeroed."""
        generator = self.generator("moosa/mask", key, device=embedding.device)
        masked = torch.rand(embedding.shape, generator=generator, device=embedding.device) < self.params.mask_ratio
        return embedding.masked_fill(masked, 0.0)
