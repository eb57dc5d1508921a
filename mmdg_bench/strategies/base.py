"""The interface every strategy implements, and the losses it receives.

A step's loss is a list of named terms, each tagged with its task group: `classification` (its
encoder gradient is GMP's g_c, Eq. 1-5), `domain` (the domain-adversarial loss behind the
gradient-reversal layer: g_d) or `plain` (back-propagated as it is, never modulated or projected:
the fused CE under `loss.classification: author`). Strategies act on the groups, never on the names,
so a loss setting (or a later method's own terms) reaches every strategy the same way.
"""

from dataclasses import dataclass

import pandas as pd
import torch

from mmdg_bench.models.multimodal import ModelOutputs, MultimodalModel
from mmdg_bench.registry import Registry

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
    head: str | None = None  # classifier head whose CE this is ("fused" or a modality): Gradient-Blending reweighs these

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

    def head_terms(self) -> list[LossTerm]:
        """The classifier heads' CE terms: the fused head first, then the modalities'."""
        return sorted((t for t in self.terms if t.head is not None), key=lambda t: t.head != FUSED)


@dataclass
class NoParams:
    """Strategies without hyper-parameters."""

    def validate(self) -> None:
        pass


class Strategy:
    """Base class: subclasses set `description`, maybe `Params`, and implement `backward`.

    Built with the run's trial seed: every random draw comes from a stream derived from it
    (`mmdg_bench.seeding.stream`), one per consumer."""

    description = ""
    Params = NoParams
    # Attributes a resumed run needs to continue exactly (random generators, estimated weights).
    state_attributes: tuple[str, ...] = ()
    # True: the unimodal heads' CE reaches the encoders whatever `loss.classification` says
    # (Gradient-Blending blends the heads' losses: that is the method).
    unimodal_heads_train_encoders = False

    def __init__(self, params, model: MultimodalModel, seed: int = 0):
        self.params = params
        self.model = model
        self.seed = seed
        self.epoch = 0

    def holdout_split(self, train: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
        """Carve slices out of the *source training* clips, for strategies that estimate
        generalisation during training (Gradient-Blending): (the training rows left, {name: rows}).
        The engine reads each named slice without augmentation. Default: no slice."""
        return train, {}

    def attach(self, loaders: dict) -> None:
        """Receive the engine's loaders: "train", and one per slice that `holdout_split` named."""

    def start_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def state_dict(self) -> dict:
        state = {}
        for name in self.state_attributes:
            value = getattr(self, name)
            state[name] = value.get_state() if isinstance(value, torch.Generator) else value
        return state

    def load_state_dict(self, state: dict) -> None:
        for name, value in state.items():
            if isinstance(getattr(self, name), torch.Generator):
                getattr(self, name).set_state(value)
            else:
                setattr(self, name, value)

    def backward(self, step: StepLosses) -> dict[str, float]:
        """Fill `.grad` of every trainable parameter; return diagnostics to average per epoch."""
        raise NotImplementedError


STRATEGIES: Registry[type[Strategy]] = Registry("strategy")
