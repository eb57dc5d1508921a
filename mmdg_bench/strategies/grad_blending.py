"""Gradient-Blending (Wang, Tran, Feiszli, "What Makes Training Multi-modal Classification Networks
Hard?", CVPR 2020; SPEC §4), online version.

The classification loss becomes sum_k w_k L_k over the fused head and the unimodal heads (the
domain loss is added unweighted). The weights come from each head's overfitting-to-generalisation
ratio, measured on a held-out slice V of the SOURCE training clips (never the validation or target
clips) against a same-size sample T of the remaining training clips. They are re-estimated at the
start of every super-epoch from the change since the previous one; the first super-epoch uses
uniform weights. The weights sum to 1, as in the paper, so the classification losses weigh less
against the domain loss than under baseline's 1 + unimodal_weight * M.

    mmdg-bench run --strategy grad-blending --set strategy.grad-blending.super_epoch=3
"""

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from mmdg_bench.errors import UserError
from mmdg_bench.strategies.base import STRATEGIES, StepLosses, Strategy
from mmdg_bench.strategies.functional import gradient_blending_weights


@dataclass
class GradBlendingParams:
    holdout_fraction: float = 0.1  # share of each (domain, class) group of source training clips held out
    super_epoch: int = 2  # epochs between two re-estimations of the weights

    def validate(self) -> None:
        if not 0 < self.holdout_fraction < 1:
            raise UserError(f"Gradient-Blending's holdout_fraction must be strictly between 0 and 1, "
                            f"got {self.holdout_fraction}")
        if self.super_epoch < 1:
            raise UserError(f"Gradient-Blending's super_epoch must be at least 1, got {self.super_epoch}")


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
def head_losses(model, loader) -> torch.Tensor:
    """Mean CE of the fused head and of each unimodal head over `loader`, in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    totals, clips = 0.0, 0
    for batch in loader:
        out = model({m: batch[m].to(device) for m in model.modalities})
        labels = batch["label"].to(device)
        logits = [out.fused_logits, *(out.unimodal_logits[m] for m in model.modalities)]
        totals = totals + torch.stack([F.cross_entropy(x, labels, reduction="sum") for x in logits])
        clips += len(labels)
    model.train(was_training)
    return totals / max(clips, 1)


@STRATEGIES.register("grad-blending")
class GradBlending(Strategy):
    description = "Gradient-Blending: per-head loss weights from held-out overfitting, re-estimated per super-epoch"
    state_attributes = ("weights", "previous")
    Params = GradBlendingParams

    def __init__(self, params: GradBlendingParams, model):
        super().__init__(params, model)
        self.heads = ["fused", *model.modalities]
        self.weights = [1.0 / len(self.heads)] * len(self.heads)
        self.previous: tuple[torch.Tensor, torch.Tensor] | None = None  # (L_T, L_V) at the last estimate
        self.holdout_loader = self.train_sample = None

    def holdout_split(self, train: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        fraction = self.params.holdout_fraction
        rest, holdout = stratified_holdout(train, fraction, seed)
        check_every_class(rest, holdout, train, fraction)
        return rest, holdout

    def attach(self, loaders: dict) -> None:
        """Keep the held-out loader and draw a fixed same-size sample of the training clips."""
        self.holdout_loader = loaders["holdout"]
        train = loaders["train"].dataset
        size = min(len(self.holdout_loader.dataset), len(train))
        picks = torch.randperm(len(train), generator=torch.Generator().manual_seed(torch.initial_seed()))[:size]
        self.train_sample = DataLoader(Subset(train, picks.tolist()), batch_size=self.holdout_loader.batch_size)

    def start_epoch(self, epoch: int) -> None:
        super().start_epoch(epoch)
        if (epoch - 1) % self.params.super_epoch == 0:
            self.reestimate()

    def reestimate(self) -> None:
        """Measure L_T and L_V now; from the second super-epoch on, new weights from the change."""
        now = (head_losses(self.model, self.train_sample), head_losses(self.model, self.holdout_loader))
        if self.previous is not None:
            (train_prev, val_prev), (train_now, val_now) = self.previous, now
            self.weights = gradient_blending_weights(train_prev, train_now, val_prev, val_now).tolist()
        self.previous = now

    def backward(self, step: StepLosses) -> dict[str, float]:
        losses = [step.fused_ce, *(step.unimodal_ce[m] for m in self.model.modalities)]
        blended = sum(w * loss for w, loss in zip(self.weights, losses))
        (blended + step.domain).backward()
        return {f"gb/w_{head}": w for head, w in zip(self.heads, self.weights)}
