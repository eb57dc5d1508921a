"""The interface every strategy implements, and the losses it receives (SPEC §3, §4)."""

from dataclasses import dataclass

import pandas as pd
import torch

from mmdg_bench.models.multimodal import ModelOutputs, MultimodalModel
from mmdg_bench.registry import Registry


@dataclass
class StepLosses:
    """One training step's losses, kept per head and per modality so strategies can reweigh them."""

    outputs: ModelOutputs
    labels: torch.Tensor
    domains: torch.Tensor  # source-domain index of each clip
    fused_ce: torch.Tensor
    unimodal_ce: dict[str, torch.Tensor]
    domain_ce: dict[str, torch.Tensor]  # after the gradient-reversal layer on the encoder side
    unimodal_weight: float
    domain_weight: float  # lambda

    @property
    def classification(self) -> torch.Tensor:
        """L_c: the fused CE plus the weighted unimodal CEs."""
        return self.fused_ce + self.unimodal_weight * sum(self.unimodal_ce.values())

    @property
    def domain(self) -> torch.Tensor:
        """lambda * L_d, summed over the modalities' discriminators."""
        return self.domain_weight * sum(self.domain_ce.values())


@dataclass
class NoParams:
    """Strategies without hyper-parameters."""

    def validate(self) -> None:
        pass


class Strategy:
    """Base class: subclasses set `description`, maybe `Params`, and implement `backward`."""

    description = ""
    Params = NoParams
    # Attributes a resumed run needs to continue exactly (random generators, estimated weights).
    state_attributes: tuple[str, ...] = ()

    def __init__(self, params, model: MultimodalModel):
        self.params = params
        self.model = model
        self.epoch = 0

    def holdout_split(self, train: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """Carve a held-out slice out of the *source training* clips, for strategies that estimate
        generalisation during training (Gradient-Blending). Default: no slice."""
        return train, None

    def attach(self, loaders: dict) -> None:
        """Receive the engine's loaders ("train", and "holdout" when `holdout_split` made one)."""

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
