"""The benchmark's loss, as named terms in task groups (GMP, arXiv 2603.14175, Eq. 1-5 and 16).

    L = L_c + lambda L_d,  L_d = sum_m CE(discriminator_m(GRL(z_m)), domain)

What L_c holds is the setting `loss.classification`, one for every strategy so that they stay
comparable:
- `paper`: the fused (joint) classifier's CE, as the paper's Eq. 1-5 write it. The unimodal heads,
  which give per-modality accuracy and GMP's semantic confidence rho, learn on detached features
  (the model detaches their input): their CE trains the heads only, so they measure the encoders
  without steering them.
- `author`: the first author's code: each modality's g_c is unimodal_weight x CE of its own head,
  and the fused CE is back-propagated as it is (the `plain` group: never modulated or projected).
- `both`: the fused CE and the weighted unimodal CEs together in L_c.
For a strategy that does not split gradients, `author` and `both` are the same loss.

A step's loss is a list of named terms (`LossTerm`), each tagged with its task group: `classification`
(its encoder gradient is GMP's g_c), `domain` (the domain-adversarial loss behind the gradient-reversal
layer: g_d) or `plain` (back-propagated as it is, never modulated or projected: the fused CE under
`loss.classification: author`). Strategies and methods share this vocabulary.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mmdg_bench.models.multimodal import ModelOutputs

CLASSIFICATION, DOMAIN, PLAIN = "classification", "domain", "plain"
GROUPS = (CLASSIFICATION, DOMAIN, PLAIN)
FUSED = "fused"


@dataclass
class LossTerm:
    """One term of the step's loss: `weight * loss`, in one task group."""

    name: str  # e.g. "ce/fused", "ce/video", "domain/audio"
    loss: torch.Tensor  # the unweighted scalar
    weight: float
    group: str  # one of GROUPS
    modality: str | None = None
    head: str | None = None  # the head whose CE this is ("fused" or a modality): Gradient-Blending reweighs these

    @property
    def value(self) -> torch.Tensor:
        return self.weight * self.loss


@dataclass
class StepLosses:
    """One training step's loss terms and the model outputs they came from."""

    outputs: ModelOutputs
    labels: torch.Tensor
    domains: torch.Tensor  # source-domain index of each clip
    terms: list[LossTerm]
    inputs: dict | None = None  # the step's input batch, for a strategy that runs other models on it (UMT's teachers)

    def group(self, name: str) -> torch.Tensor:
        """The sum of one group's weighted terms (a zero tensor when the group is empty)."""
        values = [t.value for t in self.terms if t.group == name]
        return sum(values) if values else self.outputs.fused_logits.new_zeros(())

    def has(self, name: str) -> bool:
        return any(t.group == name for t in self.terms)

    @property
    def classification(self) -> torch.Tensor:
        """L_c as the loss setting defines it (GMP Eq. 1-5 under `paper`)."""
        return self.group(CLASSIFICATION)

    @property
    def domain(self) -> torch.Tensor:
        """lambda * L_d, summed over the modalities' discriminators."""
        return self.group(DOMAIN)

    @property
    def plain(self) -> torch.Tensor:
        return self.group(PLAIN)

    @property
    def total(self) -> torch.Tensor:
        return sum(t.value for t in self.terms)

    @property
    def authors(self) -> bool:
        """Whether this is the first author's loss (`loss.classification: author`): the fused CE is plain."""
        return any(t.head == FUSED and t.group == PLAIN for t in self.terms)

    def head_terms(self) -> list[LossTerm]:
        """The classifier heads' CE terms: the fused head first, then the modalities'."""
        return sorted((t for t in self.terms if t.head is not None), key=lambda t: t.head != FUSED)



def detaches_unimodal_heads(classification: str, strategy_cls) -> bool:
    """Whether the unimodal heads learn on detached features in this run (see the module doc)."""
    return classification == "paper" and not strategy_cls.unimodal_heads_train_encoders


def loss_terms(out: ModelOutputs, labels, domains, loss_config) -> list[LossTerm]:
    fused_group = PLAIN if loss_config.classification == "author" else CLASSIFICATION
    terms = [LossTerm(f"ce/{FUSED}", F.cross_entropy(out.fused_logits, labels), 1.0, fused_group, head=FUSED)]
    terms += [LossTerm(f"ce/{m}", F.cross_entropy(logits, labels), loss_config.unimodal_weight, CLASSIFICATION,
                       modality=m, head=m) for m, logits in out.unimodal_logits.items()]
    terms += [LossTerm(f"domain/{m}", F.cross_entropy(logits, domains), loss_config.domain_weight, DOMAIN,
                       modality=m) for m, logits in out.domain_logits.items()]
    return terms
