"""DRB: Diagnosing & Re-learning (Wei, Li, Feng, Hu, "Diagnosing and Re-learning for Balanced Multimodal
Learning", ECCV 2024, arXiv 2407.09705). Official code: GeWu-Lab/Diagnosing_Relearning_ECCV2024 (commit
025085e, `code/ours.py`, defaults in `code/script/ours.sh`); "ours.py:N" below is a line there.

Not a gradient rule: every step is baseline's (`step.total.backward()`; the official step is a plain CE,
ours.py:172-213). At scheduled epoch ends the learning state of each modality m is diagnosed from how
separable its encoder's features z_m are (ours.py:99-135, collected as ours.py:300-324):

    P_m(S) = purity(KMeans_k(MinMax_[-1,1](z_m(S))), labels(S)),  S = the training clips, a held-out slice
    gap_m = |P_m(train) - P_m(held out)|,   alpha_m = tanh(move_lambda * gap_m)

and encoder m is softly re-initialised toward its state at the start of training (ours.py:139-169, 345):

    theta_m <- alpha_m * theta_m^init + (1 - alpha_m) * theta_m

A modality that memorises (well separated on the clips it trains on, much less on the others) is pulled
back more; a scarcely informative one (poorly separated on both) is hardly touched. Every trainable encoder
parameter moves, BN affine ones included; buffers (BN running statistics) and the optimizer state are not
reset, as in the official code (it rewrites `param.data` of the named parameters only, ours.py:156-166).
The heads are not touched. The features are taken in eval mode, without gradients and without
augmentation (ours.py:300-307; its `my_train` and `val` modes do not augment, av_dataset.py:85, 106), on
the CPU; k is the number of classes of the training clips (ours.py:110: `n_classes`).

The held-out slice is carved from the SOURCE training clips (Gradient-Blending's `holdout_split`
mechanism; never validation or target clips), about `holdout_fraction` of every (domain, class) group;
the clips left train the model, as the official `my_train.csv` (5954 clips) does beside its `val.csv`
(744). The diagnosis reads the whole rest of the training clips and the slice, each clustered on its own.

Schedule: the official code re-initialises after its 0-based epoch e when e % reinit_epoch == 0 and e > 0,
at most reinit_num times (ours.py:418-420): with ours.sh's 20 and 3 over 90 epochs, after the 21st, 41st
and 61st epoch. Here the period is a FRACTION of the run, `reinit_every` (default 20/90), so a 90-epoch
run fires exactly where the official one does, a 12-epoch synthetic run after epochs 4, 7 and 10, and a
20-epoch paper run after epochs 5, 9 and 13. A run too short for any re-initialisation (or with
`reinit_num: 0`) carves no slice and is exactly baseline.

KMeans: ours.py:110 calls sklearn's `KMeans(n_clusters, random_state=0)`, whose `n_init` default is 10
before sklearn 1.4 and 1 since (the repository pins no version); here a small seeded k-means written for
this module (greedy k-means++, `n_init` restarts, Lloyd, the lowest inertia kept; sklearn's max_iter and
tol), every clustering drawn from the same fixed stream of the trial seed, as `random_state=0` is fixed.

    mmdg-bench run --strategy drb --set strategy.drb.move_lambda=1
"""

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

from mmdg_bench.errors import UserError
from mmdg_bench.facts import STRATEGY_FACTS
from mmdg_bench.losses import StepLosses
from mmdg_bench.search_space import Choice
from mmdg_bench.seeding import derive_seed, stream
from mmdg_bench.strategies.base import STRATEGIES, Strategy
from mmdg_bench.strategies.params import check_finite

# sklearn KMeans' defaults, which ours.py:110 leaves as they are.
MAX_ITER, TOL = 300, 1e-4


# --------------------------------------------------------------------------- #
# the maths, on plain tensors
# --------------------------------------------------------------------------- #


def minmax_scale(x: Tensor, low: float = -1.0, high: float = 1.0) -> Tensor:
    """Each column of `x` (clips x features) mapped linearly onto [low, high], as sklearn's
    `MinMaxScaler(feature_range=(-1, 1))` does in ours.py:108-109; a constant column maps to `low`
    (sklearn takes a zero range as 1).

    >>> minmax_scale(torch.tensor([[0.0, 5.0], [2.0, 5.0], [1.0, 5.0]]))
    tensor([[-1., -1.],
            [ 1., -1.],
            [ 0., -1.]])
    """
    lowest = x.min(dim=0).values
    span = x.max(dim=0).values - lowest
    span = torch.where(span > 0, span, torch.ones_like(span))
    return (x - lowest) / span * (high - low) + low


def purity(labels: Tensor, clusters: Tensor) -> float:
    """The share of clips whose label is the majority label of their cluster (ours.py:63-95: each
    cluster votes for the label most of its clips have; purity is the accuracy of that vote).

    >>> purity(torch.tensor([0, 0, 1, 1, 2]), torch.tensor([0, 0, 0, 1, 1]))  # 2 of cluster 0 + 1 of cluster 1
    0.6
    >>> purity(torch.tensor([3, 3, 7, 7]), torch.tensor([5, 5, 9, 9]))  # any label and cluster ids
    1.0
    """
    if labels.shape != clusters.shape or labels.dim() != 1 or labels.numel() == 0:
        raise ValueError(f"need two 1-D tensors of the same non-zero length, got shapes "
                         f"{tuple(labels.shape)} and {tuple(clusters.shape)}")
    labels = torch.unique(labels, return_inverse=True)[1]  # ids 0..L-1, as ours.py:78-81 relabels
    clusters = torch.unique(clusters, return_inverse=True)[1]
    n_labels, n_clusters = int(labels.max()) + 1, int(clusters.max()) + 1
    counts = torch.bincount(clusters * n_labels + labels, minlength=n_clusters * n_labels)
    return int(counts.reshape(n_clusters, n_labels).max(dim=1).values.sum()) / labels.numel()


def squared_distances(x: Tensor, centres: Tensor) -> Tensor:
    """|x_i - c_j|^2 for every row of `x` and of `centres` (n x k), clamped at 0 against rounding.

    >>> squared_distances(torch.tensor([[0.0, 0.0], [3.0, 4.0]]), torch.tensor([[0.0, 0.0]]))
    tensor([[ 0.],
            [25.]])
    """
    return ((x * x).sum(1, keepdim=True) - 2 * x @ centres.T + (centres * centres).sum(1)).clamp_min(0)


def kmeans_plusplus(x: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """k initial centres by greedy k-means++ (Arthur & Vassilvitskii 2007, as sklearn's
    `KMeans(init="k-means++")` draws them): the first a uniformly drawn row; each next one the best of
    2 + floor(ln k) candidate rows drawn with probability proportional to their squared distance to the
    nearest centre so far, best meaning the lowest total squared distance once it is added.

    >>> x = torch.tensor([[0.0], [1.0], [10.0]])
    >>> sorted(kmeans_plusplus(x, 3, torch.Generator().manual_seed(0)).flatten().tolist())  # k = n: every row
    [0.0, 1.0, 10.0]
    """
    trials = 2 + int(math.log(k))
    first = int(torch.randint(x.shape[0], (1,), generator=generator))
    centres = [x[first]]
    closest = squared_distances(x, x[first:first + 1])[:, 0]
    for _ in range(1, k):
        # Every row already a centre (duplicated rows): any row will do.
        weights = closest if float(closest.sum()) > 0 else torch.ones_like(closest)
        candidates = torch.multinomial(weights, trials, replacement=True, generator=generator)
        with_each = torch.minimum(closest[None, :], squared_distances(x[candidates], x))  # trials x n
        best = int(with_each.sum(dim=1).argmin())
        closest = with_each[best]
        centres.append(x[candidates[best]])
    return torch.stack(centres)


def lloyd(x: Tensor, centres: Tensor, max_iter: int = MAX_ITER, tol: float = TOL) -> tuple[Tensor, Tensor, float]:
    """Lloyd iterations from `centres`: (cluster of each row, centres, inertia). Stops when the
    assignment no longer changes, when the centres moved by at most tol x the mean column variance
    (total squared shift, sklearn's rule) or after max_iter; a cluster left empty keeps its centre.

    >>> labels, centres, inertia = lloyd(torch.tensor([[0.0], [1.0], [10.0], [11.0]]), torch.tensor([[0.0], [1.0]]))
    >>> labels.tolist(), centres.flatten().tolist(), inertia
    ([0, 0, 1, 1], [0.5, 10.5], 1.0)
    """
    k = centres.shape[0]
    threshold = tol * float(x.var(dim=0, unbiased=False).mean())
    labels = squared_distances(x, centres).argmin(dim=1)
    for _ in range(max_iter):
        members = F.one_hot(labels, k).to(x.dtype)  # a matmul, not a scatter: deterministic on any device
        counts = members.sum(dim=0)[:, None]
        moved = torch.where(counts > 0, members.T @ x / counts.clamp_min(1), centres)
        shift = float(((moved - centres) ** 2).sum())
        centres = moved
        relabelled = squared_distances(x, centres).argmin(dim=1)
        converged = torch.equal(relabelled, labels) or shift <= threshold
        labels = relabelled
        if converged:
            break
    inertia = float(squared_distances(x, centres).gather(1, labels[:, None]).sum())
    return labels, centres, inertia


def kmeans(x: Tensor, k: int, generator: torch.Generator, n_init: int = 10) -> Tensor:
    """The cluster of each row of `x`: the lowest-inertia result of `n_init` runs of k-means++ then
    Lloyd, all drawn from `generator` (ours.py:110 uses sklearn's KMeans, which keeps the best of
    n_init runs the same way).

    >>> x = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0], [0.0, 9.0], [0.1, 9.0]])
    >>> labels = kmeans(x, 3, torch.Generator().manual_seed(0)).tolist()
    >>> labels[0] == labels[1], labels[2] == labels[3], labels[4] == labels[5], len(set(labels))  # the three pairs
    (True, True, True, 3)
    """
    if not 1 <= k <= x.shape[0]:
        raise ValueError(f"k-means needs 1 <= k <= the number of rows, got k={k} for {x.shape[0]} rows")
    best_labels, best_inertia = None, math.inf
    for _ in range(n_init):
        labels, _, inertia = lloyd(x, kmeans_plusplus(x, k, generator))
        if inertia < best_inertia:
            best_labels, best_inertia = labels, inertia
    return best_labels


def relearning_weight(train_purity: float, heldout_purity: float, move_lambda: float) -> float:
    """alpha = tanh(move_lambda * |P_train - P_held-out|), ours.py:122-127.

    >>> round(relearning_weight(1.0, 0.75, 3.0), 6), relearning_weight(0.5, 0.5, 3.0)
    (0.635149, 0.0)
    """
    return math.tanh(move_lambda * abs(train_purity - heldout_purity))


def soft_reinit(current: Tensor, init: Tensor, alpha: float) -> Tensor:
    """alpha * init + (1 - alpha) * current, ours.py:158-165.

    >>> soft_reinit(torch.tensor([2.0, 4.0]), torch.tensor([0.0, 8.0]), 0.25)
    tensor([1.5000, 5.0000])
    """
    return alpha * init + (1 - alpha) * current


def reinit_epochs(epochs: int, every: float, count: int) -> list[int]:
    """The epochs (from 1) after which DRB diagnoses and re-initialises. The official loop does it after
    its 0-based epoch e when e % R == 0 and e > 0, at most `count` times (ours.py:418-420), i.e. after
    epochs kR + 1, k = 1..count; here R is the fraction `every` of the run, rounded, at least 1. The
    last epoch is left out: nothing trains after it.

    >>> reinit_epochs(90, 20 / 90, 3), reinit_epochs(12, 20 / 90, 3), reinit_epochs(20, 20 / 90, 3)
    ([21, 41, 61], [4, 7, 10], [5, 9, 13])
    >>> reinit_epochs(3, 20 / 90, 3), reinit_epochs(2, 20 / 90, 3), reinit_epochs(90, 20 / 90, 0)
    ([2], [], [])
    """
    period = max(1, math.floor(every * epochs + 0.5))
    return [k * period + 1 for k in range(1, count + 1) if k * period + 1 < epochs]


def holdout_rows(train: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """About `fraction` of every (domain, label) group of clips, drawn with `seed`: (rest, held out).
    As Gradient-Blending's `stratified_holdout`, except that a group of two clips or more gives at least
    one and keeps at least one: a small set still gets a slice with every class in it.

    >>> train = pd.DataFrame({"domain": ["a"] * 4 + ["b"] * 20, "label": [0] * 24})
    >>> [len(part) for part in holdout_rows(train, 0.1, seed=0)]  # 1 of group a, 2 of group b
    [21, 3]
    """
    rng = np.random.default_rng(seed)
    picked = []
    for _, group in train.groupby(["domain", "label"], sort=True):
        count = min(len(group) - 1, max(1, math.floor(len(group) * fraction + 0.5)))
        picked.extend(rng.permutation(group.index.to_numpy())[:count].tolist())
    return train.drop(index=picked).reset_index(drop=True), train.loc[sorted(picked)].reset_index(drop=True)


# --------------------------------------------------------------------------- #
# the strategy
# --------------------------------------------------------------------------- #


@dataclass
class DRBParams:
    move_lambda: float = 3.0  # ours.sh: --move_lambda 3
    reinit_every: float = 20 / 90  # fraction of the run between diagnoses; ours.sh: --reinit_epoch 20 of --epochs 90
    reinit_num: int = 3  # most re-initialisations in a run; ours.sh: --reinit_num 3; 0: never (baseline)
    holdout_fraction: float = 0.1  # of each (domain, class) group; the official val.csv is 744 of 6698 clips
    n_init: int = 10  # k-means restarts; ours.py:110 leaves sklearn's default (10 before sklearn 1.4, 1 since)

    # Tuning (`sweep --tune`): the DomainBed-style proposal around ours.sh's 3.
    SEARCH: ClassVar[dict] = {"move_lambda": Choice((1.0, 3.0, 5.0))}

    def validate(self) -> None:
        check_finite("DRB", "move_lambda", self.move_lambda)
        if not 0 < self.reinit_every <= 1:
            raise UserError(f"DRB's reinit_every is a fraction of the run, so it must be in (0, 1], "
                            f"got {self.reinit_every}")
        if self.reinit_num < 0:
            raise UserError(f"DRB's reinit_num must be at least 0, got {self.reinit_num}")
        if not 0 < self.holdout_fraction < 1:
            raise UserError(f"DRB's holdout_fraction must be strictly between 0 and 1, got {self.holdout_fraction}")
        if self.n_init < 1:
            raise UserError(f"DRB's n_init (k-means restarts) must be at least 1, got {self.n_init}")


@torch.no_grad()
def encoder_features(model, loader) -> tuple[dict[str, Tensor], Tensor]:
    """z_m of every clip of `loader` (float32, on the CPU) and the labels, in eval mode and without
    gradients as ours.py:300-324 collects them; the model's mode is restored."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    features, labels = {m: [] for m in model.modalities}, []
    try:
        for batch in loader:
            for m, z in model.encode({m: batch[m].to(device) for m in model.modalities}).items():
                features[m].append(z.float().cpu())
            labels.append(batch["label"].cpu())
    finally:
        model.train(was_training)
    return {m: torch.cat(z) for m, z in features.items()}, torch.cat(labels)


@STRATEGIES.register("drb", **STRATEGY_FACTS["drb"].given())
class DRB(Strategy):
    description = "DRB: at scheduled epoch ends, re-initialise each encoder by tanh(lambda x its purity gap)"
    state_attributes = ("init", "reinits")
    Params = DRBParams

    def __init__(self, params: DRBParams, model, seed: int = 0):
        super().__init__(params, model, seed)
        # theta^init: the trainable encoder parameters as built, before any step (ours.py:345 saves the
        # model's state right after construction); the frozen ones never move, so need no copy.
        self.init = {} if params.reinit_num == 0 else \
            {m: [p.detach().clone() for p in model.encoder_parameters(m)] for m in model.modalities}
        self.reinits = 0  # ours.py:419 `flag_reinit`
        self.train_loader = self.holdout_loader = None
        self.diagnosis: dict[str, float] = {}  # made at the start of this epoch: logged with its steps

    def schedule(self) -> list[int]:
        if self.params.reinit_num == 0:
            return []
        if self.epochs is None:
            raise RuntimeError("DRB's schedule is a fraction of the run, so it needs the run's number of epochs: "
                               "set `strategy.epochs` before training, as mmdg_bench.engine.train_run does")
        return reinit_epochs(self.epochs, self.params.reinit_every, self.params.reinit_num)

    def holdout_split(self, train: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
        """(the training rows left, {"holdout": the slice, "train_eval": the rows left, read without
        augmentation}); nothing is held out when the run never re-initialises."""
        if not self.schedule():
            return train, {}
        fraction = self.params.holdout_fraction
        rest, holdout = holdout_rows(train, fraction, derive_seed(self.seed, "drb/holdout"))
        classes = rest.label.nunique()
        if len(holdout) < classes:
            raise UserError(f"DRB's held-out slice has {len(holdout)} clips, fewer than the {classes} classes its "
                            f"k-means clusters them into; raise strategy.drb.holdout_fraction or use more clips")
        return rest, {"holdout": holdout, "train_eval": rest}

    def attach(self, loaders: dict) -> None:
        self.train_loader, self.holdout_loader = loaders.get("train_eval"), loaders.get("holdout")

    def start_epoch(self, epoch: int) -> None:
        super().start_epoch(epoch)
        self.diagnosis = {}
        if epoch - 1 in self.schedule():  # the end of the previous epoch, before this one trains
            self.relearn()

    @torch.no_grad()
    def relearn(self) -> None:
        """Diagnose every modality and softly re-initialise its encoder (ours.py:421-427)."""
        if self.train_loader is None or self.holdout_loader is None:
            raise RuntimeError("DRB re-initialises from the training clips and its held-out slice: `attach` "
                               "must receive the 'train_eval' and 'holdout' loaders its `holdout_split` named")
        train, train_labels = encoder_features(self.model, self.train_loader)
        held, held_labels = encoder_features(self.model, self.holdout_loader)
        k = int(train_labels.unique().numel())  # ours.py:110: n_clusters = the number of classes
        for m in self.model.modalities:
            # Each split is scaled and clustered on its own, with the same fixed seed (ours.py:104-110).
            scores = [purity(labels, kmeans(minmax_scale(z), k, stream(self.seed, "drb/kmeans"), self.params.n_init))
                      for z, labels in ((train[m], train_labels), (held[m], held_labels))]
            alpha = relearning_weight(*scores, self.params.move_lambda)
            for p, p_init in zip(self.model.encoder_parameters(m), self.init[m], strict=True):
                p.copy_(soft_reinit(p, p_init, alpha))
            self.diagnosis.update({f"drb/{m}/purity_train": scores[0], f"drb/{m}/purity_heldout": scores[1],
                                   f"drb/{m}/alpha": alpha})
        self.reinits += 1

    def backward(self, step: StepLosses) -> dict[str, float]:
        step.total.backward()
        return {"drb/reinits": float(self.reinits), **self.diagnosis}
