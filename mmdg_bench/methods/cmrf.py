"""CMRF (Fan, Xu, Wang, Guo, "Cross-modal Representation Flattening for Multi-modal Domain
Generalization", NeurIPS 2024; code fanyunfeng-bit/Cross-modal-Representation-Flattening-for-MMDG).

A projector per modality maps z_m to a normalised projection. A teacher — a simple moving average
(SMA) of the student's weights (encoders and projectors) — gives each modality's projection of the
clip; for each ordered modality pair (m, m') the teacher's projections are mixed per clip,
    t_{m<-m'} = lam t_m + (1 - lam) t_m',  lam ~ Beta(0.1, 0.1) redrawn until lam > 0.5,
so the target stays nearer the student's own modality (the official lam1 > 0.5 / lam2 < 0.5 of a
pair are this rule seen from each side). The student distils to these interpolated targets,
flattening the representation between the modalities, as the official script writes it (plain L2
distances, summed over the partners: with three modalities each modality has two targets):
    L_distill^m = sum_{m'} mean_i || norm(t_{m<-m'},i) - norm(s_m,i) ||_2   (x3.0; audio's x1/2),
after `sma_start_step` optimizer steps (before, the teacher is the student itself and the term's
weight is 0). Also SupCon over the modalities' projections (x3.0) and unimodal CEs weighted mix_coef
= 2.0 (audio's halved). Teacher: up to step `sma_start_step` it copies the student after every
optimizer step; from the next step on it is the mean of the student's weights at step
`sma_start_step` and after every step since (the official count: the copy is the first snapshot).

Task groups (rule: label-driven terms are classification-side, label-free alignment across
modalities is invariance-side):
- `cmrf/contrast`: classification (positives by class label).
- `cmrf/distill/<m>`: domain, one term per modality (its only encoder is m's): label-free
  alignment of each modality with the mixed cross-modal targets.
- ERM's unimodal CEs `ce/<m>`: kept, their weight replaced by mix_coef (x audio_factor for audio)
  instead of loss.unimodal_weight; classification as in ERM. The fused CE and the domain terms
  are ERM's.

Departures from the official code:
- the shared model: our fused head, unimodal heads (CMRF's unimodal classifiers) and DANN
  discriminators, which CMRF does not have; under loss.classification=paper the unimodal heads
  read detached features, so their CE trains only the heads;
- widths scaled to our features (as simmmdg.py; official 2048-2048-128);
- `sma_start_step` counts this run's optimizer steps: 400 (EPIC) and 100 (HAC) officially, about
  one epoch at batch 16 in both — set it to the steps of your run's first epoch;
- the teacher runs in eval mode (its BatchNorm statistics are the student's), without gradients;
  its averaged weights are buffers (checkpointed, never optimised), its frozen backbone layers
  the student's own tensors (they never change);
- the Beta draws come from seeded numpy streams per step.

    mmdg-bench run --method cmrf --strategy gmp --set method.cmrf.sma_start_step=100
"""

import copy
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdg_bench.facts import METHOD_FACTS
from mmdg_bench.losses import CLASSIFICATION, DOMAIN, LossTerm
from mmdg_bench.methods.base import METHODS
from mmdg_bench.methods.params import check_ranges
from mmdg_bench.methods.seeded import StepSeeded, require_modalities
from mmdg_bench.methods.simmmdg import projection_width
from mmdg_bench.methods.supcon import Projector, supervised_contrastive
from mmdg_bench.models.compiled import plain_modules
from mmdg_bench.search_space import LogUniform, Uniform

HALVED = "audio"  # the official script halves audio's distillation and CE weights


@dataclass
class CMRFParams:
    proj_hidden: int = 0  # projector hidden width; 0: the modality's feature width (official 2048)
    proj_dim: int = 0  # projection width; 0: the widest feature width / 16, at least 8 (official 128)
    sma_start_step: int = 400  # optimizer steps before the teacher averages (official 400 EPIC, 100 HAC)
    mix_alpha: float = 0.1  # Beta(alpha, alpha) of the cross-modal mixup
    distill_coef: float = 3.0
    alpha_contrast: float = 3.0
    temperature: float = 0.1
    base_temperature: float = 0.07
    mix_coef: float = 2.0  # weight of each unimodal CE
    audio_factor: float = 0.5  # audio's distillation and CE weights are multiplied by this
    # Our choice, around the official flags (--distill_coef 3.0 --mix_coef 2.0 --mix_alpha 0.1, contrast 3.0).
    SEARCH: ClassVar[dict] = {"distill_coef": LogUniform(1.0, 10.0), "mix_coef": LogUniform(0.5, 5.0),
                              "mix_alpha": Uniform(0.05, 0.4), "alpha_contrast": LogUniform(1.0, 10.0)}

    def validate(self) -> None:
        check_ranges("cmrf", self, nonnegative=("distill_coef", "alpha_contrast", "mix_coef", "audio_factor"),
                     positive=("mix_alpha", "temperature", "base_temperature"),
                     widths=("proj_hidden", "proj_dim", "sma_start_step"))


def beta_above_half(rng: np.random.Generator, alpha: float, size: int) -> np.ndarray:
    """Beta(alpha, alpha) draws, each redrawn until it exceeds 0.5 (the official rejection rule)."""
    lam = rng.beta(alpha, alpha, size)
    low = lam <= 0.5
    while low.any():
        lam[low] = rng.beta(alpha, alpha, int(low.sum()))
        low = lam <= 0.5
    return lam


@METHODS.register("cmrf", **METHOD_FACTS["cmrf"].given())
class CMRF(StepSeeded):
    description = ("CMRF: projectors, SMA teacher, cross-modal mixup of teacher projections as distillation "
                   "targets, SupCon, weighted unimodal CEs")
    Params = CMRFParams

    def __init__(self, params: CMRFParams, context):
        super().__init__(params, context)
        require_modalities(context, "CMRF")
        width = projection_width(params, context.dims)
        self.projectors = nn.ModuleDict({m: Projector(d, params.proj_hidden or d, width)
                                         for m, d in context.dims.items()})
        self.teacher = teacher_copy(self.student())
        self.register_buffer("sma_count", torch.zeros((), dtype=torch.long))  # snapshots averaged so far

    def student(self) -> nn.ModuleDict:
        """The modules the teacher averages: the model's encoders (not owned here) and the projectors."""
        return nn.ModuleDict({"encoders": self.context.encoders, "projectors": self.projectors})

    def modality_factor(self, m: str) -> float:
        return self.params.audio_factor if m == HALVED else 1.0

    def terms(self, out, batch) -> list[LossTerm]:
        p, modalities = self.params, self.context.modalities
        terms = [replace(t, weight=p.mix_coef * self.modality_factor(t.head)) if t.head in modalities else t
                 for t in super().terms(out, batch)]
        students = {m: self.projectors[m](out.features[m]) for m in modalities}
        contrast = supervised_contrastive(torch.stack([students[m] for m in modalities], dim=1), batch["label"],
                                          p.temperature, p.base_temperature)
        terms.append(LossTerm("cmrf/contrast", contrast, p.alpha_contrast, CLASSIFICATION))
        active = float(int(self.steps) >= p.sma_start_step)
        targets = self.mixed_targets(batch)
        for m in modalities:
            distill = sum(distillation(students[m], t) for t in targets[m])
            terms.append(LossTerm(f"cmrf/distill/{m}", distill, active * p.distill_coef * self.modality_factor(m),
                                  DOMAIN, modality=m))
        return terms

    @torch.no_grad()
    def teacher_projections(self, batch: dict) -> dict[str, Tensor]:
        was_training = self.teacher.training
        self.teacher.eval()
        try:
            return {m: self.teacher["projectors"][m](self.teacher["encoders"][m](batch[m]))
                    for m in self.context.modalities}
        finally:
            self.teacher.train(was_training)

    def mixed_targets(self, batch: dict) -> dict[str, list[Tensor]]:
        """Per student modality m, one mixed teacher target per partner m' (CMRF's cross-modal mixup)."""
        teacher = self.teacher_projections(batch)
        rng = self.numpy_generator("cmrf/mixup")
        targets = {}
        for m in self.context.modalities:
            targets[m] = []
            for other in (o for o in self.context.modalities if o != m):
                lam = torch.as_tensor(beta_above_half(rng, self.params.mix_alpha, len(teacher[m])),
                                      dtype=teacher[m].dtype, device=teacher[m].device)[:, None]
                targets[m].append(lam * teacher[m] + (1 - lam) * teacher[other])
        return targets

    @torch.no_grad()
    def after_step(self) -> None:
        """The SMA teacher: a copy of the student before sma_start_step, the running mean after."""
        averaging = int(self.steps) >= self.params.sma_start_step
        count = int(self.sma_count) + 1  # the snapshots already averaged, the copy at sma_start_step the first
        for kept_module, module in paired_modules(self.teacher, self.student()):
            for name, current in trained_parameters(module):
                kept = kept_module._buffers[name]
                kept.copy_((kept * count + current) / (count + 1) if averaging else current)
            for name, current in module._buffers.items():
                if current is not None:
                    kept_module._buffers[name].copy_(current)
        if averaging:
            self.sma_count += 1
        super().after_step()


def distillation(student: Tensor, target: Tensor) -> Tensor:
    """CMRF's distillation to one mixed target: the mean over clips of the plain L2 distance between
    the normalised target (no gradient) and the normalised student projection (official script)."""
    return torch.linalg.vector_norm(F.normalize(target, dim=1).detach() - F.normalize(student, dim=1), dim=1).mean()


def trained_parameters(module: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """`module`'s own (not its children's) parameters that the optimizer trains."""
    return [(name, p) for name, p in module._parameters.items() if p is not None and p.requires_grad]


def paired_modules(teacher: nn.Module, student: nn.Module) -> list[tuple[nn.Module, nn.Module]]:
    """Each teacher module with the student module of the same name. By name, not by position: a compiled
    encoder (`compile: true`) wraps the student's encoder in one more module level, which would shift a
    positional pairing by one."""
    students = plain_modules(student)
    return [(kept, students[name]) for name, kept in plain_modules(teacher).items()]


def teacher_copy(student: nn.Module) -> nn.Module:
    """A copy of `student` whose trained parameters are buffers (state the checkpoint keeps, which
    no optimizer sees) and whose frozen parameters are the student's own tensors, shared, not
    registered (they never change: no second copy in memory or in the checkpoint)."""
    teacher = copy.deepcopy(student)
    for kept_module, module in paired_modules(teacher, student):
        for name, p in list(module._parameters.items()):
            if p is None:
                continue
            del kept_module._parameters[name]
            if p.requires_grad:
                kept_module.register_buffer(name, p.detach().clone())
            else:
                kept_module.__dict__[name] = p
    return teacher
