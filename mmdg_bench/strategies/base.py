"""The interface every strategy implements.

A strategy receives a step's loss terms (`mmdg_bench.losses.StepLosses`), each tagged with its task
group: `classification` (its encoder gradient is GMP's g_c, Eq. 1-5), `domain` (g_d) or `plain`
(back-propagated as it is). Strategies act on the groups, never on the names, so a loss setting (or a
method's own terms) reaches every strategy the same way. Each registers with its facts, one
`StrategyInfo` record (mmdg_bench/facts.py) that tables, plots and the bench read.
"""

import pandas as pd
import torch

from mmdg_bench.facts import StrategyInfo
from mmdg_bench.losses import StepLosses
from mmdg_bench.models.multimodal import MultimodalModel
from mmdg_bench.registry import Registry
from mmdg_bench.seeding import set_generator_state
from mmdg_bench.settings import NoParams


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
    # The run's number of epochs, set by whoever builds the strategy for a run (the engine, the benches),
    # for schedules given as fractions of the run (DRB's).
    epochs: int | None = None

    @classmethod
    def required_runs(cls, config, target: str) -> dict[str, dict]:
        """The other runs this strategy's run of `config` reads (UMT's unimodal teachers), holding out the same
        `target`, which must be finished with kept weights first: {role: changes}, the changes to the run's
        settings, dotted, with "strategy" and "method" as names at their defaults (e.g. {"video teacher":
        {"strategy": "baseline", "method": "erm", "data.modalities": ["video"], "keep_weights": True}}).
        `sweep` trains them before the runs that need them. Default: none."""
        return {}

    def prepare_run(self, config, target: str, out_root) -> None:
        """Called once by the engine before training (and again on a resume), with the run's config, held-out
        domain and results folder: a strategy that reads other runs (`required_runs`) loads them here."""

    def use_stand_ins(self) -> None:
        """For the step benches, which time a step without a results folder: stand in for the runs it
        reads with untrained models of the same shapes (the same work per step). Default: nothing to do."""

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
        """Put a saved state back on this run's devices, whichever device it was saved on: a generator's
        state goes through `set_generator_state`; a tensor (or a dict, list or tuple of them) goes where
        the attribute's fresh value lives (AGM keeps its running scores on the CPU), else to the model's
        device, so saved CPU tensors never meet a GPU run's (Gradient-Blending's losses)."""
        model_device = next(self.model.parameters()).device
        for name, value in state.items():
            current = getattr(self, name)
            if isinstance(current, torch.Generator):
                set_generator_state(current, value)
            else:
                setattr(self, name, moved(value, current.device if isinstance(current, torch.Tensor) else model_device))

    def backward(self, step: StepLosses) -> dict[str, float]:
        """Fill `.grad` of every trainable parameter; return diagnostics to average per epoch: Python floats,
        or one-element tensors left on the device, which the engine sums there and reads once per epoch
        (a `float()` or `.tolist()` here waits for the GPU at every step)."""
        raise NotImplementedError


def moved(value, device: torch.device):
    """`value` with every tensor in it (through dicts, lists and tuples) on `device`."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: moved(v, device) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(moved(v, device) for v in value)
    return value


STRATEGIES: Registry[type[Strategy]] = Registry("strategy", facts=StrategyInfo)
