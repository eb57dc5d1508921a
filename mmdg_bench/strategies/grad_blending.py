"""Gradient-Blending (Wang, Tran, Feiszli, "What Makes Training Multi-modal Classification Networks
Hard?", CVPR 2020), online version.

The heads' CEs become sum_k w_k L_k over the fused head and the unimodal heads (the domain loss and
any other term keep their weights). The weights come from each head's overfitting-to-generalisation
ratio, measured on a held-out slice V of the SOURCE training clips (never the validation or target
clips) against a same-size sample T of the remaining training clips, both read WITHOUT augmentation
so that L_T and L_V differ by the data, not by the crop. They are re-estimated at the start of every
super-epoch from the change since the previous one; the first super-epoch uses uniform weights.

The original's weights sum to 1; it has no domain loss. Beside ours that would drop the
classification-to-domain balance from baseline's (1 + unimodal_weight * M) : lambda to 1 : lambda,
so by default (`normalise: baseline`) the weights are rescaled to baseline's total head weight;
`normalise: one` keeps the original's sum of 1. Blending the heads is the method, so the unimodal
heads train the encoders here whatever `loss.classification` says.

    mmdg-bench run --strategy grad-blending --set strategy.grad-blending.super_epoch=3
"""

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from mmdg_bench.device import autocast, to_device
from mmdg_bench.errors import UserError, check_choice
from mmdg_bench.facts import STRATEGY_FACTS
from mmdg_bench.losses import StepLosses
from mmdg_bench.search_space import Choice
from mmdg_bench.seeding import derive_seed
from mmdg_bench.strategies.base import STRATEGIES, Strategy
from mmdg_bench.strategies.functional import gradient_blending_weights


@dataclass
class GradBlendingParams:
    holdout_fraction: float = 0.1  # share of each (domain, class) group of source training clips held out
    super_epoch: int = 2  # epochs between two re-estimations of the weights
    normalise: str = "baseline"  # weights sum to baseline's total head weight, or to "one" (the original)

    # Tuning (`sweep --tune`): the DomainBed-style proposal around the default 2.
    SEARCH: ClassVar[dict] = {"super_epoch": Choice((1, 2, 4))}

    def validate(self) -> None:
        if not 0 < self.holdout_fraction < 1:
            raise UserError(f"Gradient-Blending's holdout_fraction must be strictly between 0 and 1, "
                            f"got {self.holdout_fraction}")
        if self.super_epoch < 1:
            raise UserError(f"Gradient-Blending's super_epoch must be at least 1, got {self.super_epoch}")
        check_choice(self.normalise, NORMALISE, "Gradient-Blending's normalise")


NORMALISE = ("baseline", "one")


def stratified_holdout(train: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """About `fraction` of every (domain, label) group, drawn with `seed`: (rest, held out)."""
    rng = np.random.default_rng(seed)
    picked = []
    for _, group in train.groupby(["domain", "label"], sort=True):
        count = math.floor(len(group) * fraction + 0.5)
        picked.extend(rng.permutation(group.index.to_numpy())[:count].tolist())
    return train.drop(index=picked).reset_index(drop=True), train.loc[sorted(picked)].reset_index(drop=True)


def check_every_class(rest: pd.DataFrame, holdout: pd.DataFrame, train: pd.DataFrame, fraction: float) -> None:
    classes = set(train.label)
    if classes - set(holdout.label):
        raise UserError(f"too few source training clips for Gradient-Blending's held-out slice: "
                        f"holdout_fraction={fraction} of {len(train)} clips leaves class "
                        f"{min(classes - set(holdout.label))} without a held-out clip; raise "
                        f"strategy.grad-blending.holdout_fraction or use more clips per class")
    if classes - set(rest.label):
        raise UserError(f"holdout_fraction={fraction} holds out every training clip of class "
                        f"{min(classes - set(rest.label))}; lower strategy.grad-blending.holdout_fraction")


@torch.no_grad()
def head_losses(model, loader, precision: str = "fp32", channels_last: bool = False) -> torch.Tensor:
    """Mean CE of the fused head and of each unimodal head over `loader`, in eval mode, with the forward
    pass as training runs it (the run's autocast and clip layout); the losses from float32 logits."""
    was_training = model.training
    model.eval()
    device = str(next(model.parameters()).device)
    totals, clips = 0.0, 0
    for batch in loader:
        batch = to_device({k: batch[k] for k in (*model.modalities, "label")}, device, channels_last)
        with autocast(device, precision):
            out = model({m: batch[m] for m in model.modalities})
        labels = batch["label"]
        logits = [x.float() for x in (out.fused_logits, *(out.unimodal_logits[m] for m in model.modalities))]
        totals = totals + torch.stack([F.cross_entropy(x, labels, reduction="sum") for x in logits])
        clips += len(labels)
    model.train(was_training)
    return totals / max(clips, 1)


@STRATEGIES.register("grad-blending", **STRATEGY_FACTS["grad-blending"].given())
class GradBlending(Strategy):
    description = "Gradient-Blending: per-head loss weights from held-out overfitting, re-estimated per super-epoch"
    state_attributes = ("weights", "previous")
    Params = GradBlendingParams
    unimodal_heads_train_encoders = True

    def __init__(self, params: GradBlendingParams, model, seed: int = 0):
        super().__init__(params, model, seed)
        self.heads = ["fused", *model.modalities]
        self.weights: list[float] | None = None  # blended weights, fused head first; None: uniform
        self.previous: tuple[torch.Tensor, torch.Tensor] | None = None  # (L_T, L_V) at the last estimate
        self.holdout_loader = self.train_sample = None
        self.precision, self.channels_last = "fp32", False  # the run's, from `prepare_run`

    def prepare_run(self, config, target: str, out_root) -> None:
        # The held-out losses are forward passes like training's: the same autocast and clip layout.
        self.precision, self.channels_last = config.precision, config.channels_last

    def holdout_split(self, train: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
        """(the training rows left, {"holdout": V, "train_eval": a same-size sample T of the rest})."""
        fraction = self.params.holdout_fraction
        rest, holdout = stratified_holdout(train, fraction, derive_seed(self.seed, "grad-blending/holdout"))
        check_every_class(rest, holdout, train, fraction)
        seed = derive_seed(self.seed, "grad-blending/T") % 2**32
        sample = rest.sample(n=min(len(holdout), len(rest)), random_state=seed)
        return rest, {"holdout": holdout, "train_eval": sample.reset_index(drop=True)}

    def attach(self, loaders: dict) -> None:
        self.holdout_loader, self.train_sample = loaders["holdout"], loaders["train_eval"]

    def start_epoch(self, epoch: int) -> None:
        super().start_epoch(epoch)
        if (epoch - 1) % self.params.super_epoch == 0:
            self.reestimate()

    def reestimate(self) -> None:
        """Measure L_T and L_V now; from the second super-epoch on, new weights from the change."""
        now = tuple(head_losses(self.model, loader, self.precision, self.channels_last)
                    for loader in (self.train_sample, self.holdout_loader))
        if self.previous is not None:
            (train_prev, val_prev), (train_now, val_now) = self.previous, now
            self.weights = gradient_blending_weights(train_prev, train_now, val_prev, val_now).tolist()
        self.previous = now

    def blended(self, heads: list) -> list[float]:
        """The weights applied this step: the estimate (uniform at first), summing to 1 or to
        baseline's total weight of these heads."""
        shares = self.weights or [1.0 / len(heads)] * len(heads)
        total = sum(t.weight for t in heads) if self.params.normalise == "baseline" else 1.0
        return [total * share for share in shares]

    def backward(self, step: StepLosses) -> dict[str, float]:
        heads = step.head_terms()
        weights = self.blended(heads)
        others = [t.value for t in step.terms if t.head is None]
        (sum(w * t.loss for w, t in zip(weights, heads)) + sum(others)).backward()
        return {f"gb/w_{t.head}": w for t, w in zip(heads, weights)}
