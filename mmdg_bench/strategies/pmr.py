"""PMR: Prototypical Modal Rebalance (Fan et al., CVPR 2023), as its released code runs it.

Official code: github.com/fanyunfeng-bit/Modal-Imbalance-PMR @3615e48, main_Prototype_grad.py (cited
as `:line`) and bash.sh.

- Prototypes: c_k^m, the class means of modality m's encoder features z^m, the model in eval mode and
  without gradients, over the first 10% of the batches of a shuffled pass over the SOURCE training
  clips (:383-433, at least one batch: `all_num // 10`, :429). Estimated before the first epoch and
  again after each (:535-539, :551-557), i.e. here at the start of every epoch. Folded with an EMA,
  c <- (1 - momentum) c_new + momentum c_old, from the third estimate on: the official skips it for
  the estimate after epoch 0 as well as the first (`if epoch <= 0`, :435-440, called with epoch=0
  both times).
- The prototype classifier: logits -||z_i^m - c_k^m|| (Euclidean, not squared; EU_dist, :69-75, :152-153),
  its score s^m = sum_i softmax(-||z_i^m - c^m||)[y_i] (:158-159).
- The rule (:169-178): the weaker modality (the lower s^m; neither on a tie) gets alpha times the
  prototype cross-entropy CE(-||z^m - c^m||, y) added to the loss: a switch, no tanh. With more than
  two modalities (the official has two) every modality whose score is below the mean of the scores
  gets it; with two that is the lower one. The term reads only z^m and constant prototypes, so it
  reaches encoder m alone: it adds to the weak encoder's classification gradient, and the
  domain-adversarial gradient, the plain part and every head's gradient are baseline's. One backward
  pass, as baseline's.
- Active for the epochs in [start_epoch, end_epoch], counted from 0 as the official loop counts them
  (:156); outside the window the step is exactly baseline's. Prototype passes after the window are
  skipped, and before it too when momentum is 0 (no estimate then reaches the window).

Departures, on purpose:
- The pass reads past the first `fraction` of the batches until every class has a clip (the official
  divides by a zero count and gets NaN prototypes, :431-433); a class with no training clip at all
  has no prototype and is left out of the prototype softmax (its logit is -inf).
- Its order comes from the strategy's own stream (seed, "pmr/prototype-pass", epoch), so it never
  moves the training order or torch's global generator; its clips get the augmentation they get in
  that epoch's training (the official re-draws random augmentations). The pass runs in float32 (the
  strategy is not told the run's precision).
- At a zero distance the distance's gradient is taken as 0 (torch.cdist); the official's sqrt gives NaN.
- The paper's prototype entropy regulariser (PER) is not in the released main_Prototype_grad.py, nor here.

    mmdg-bench run --strategy pmr --set strategy.pmr.alpha=1.0
"""

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader

from mmdg_bench.data.sampling import EpochSampler
from mmdg_bench.device import to_device
from mmdg_bench.errors import UserError
from mmdg_bench.facts import STRATEGY_FACTS
from mmdg_bench.losses import StepLosses
from mmdg_bench.search_space import Choice, Uniform
from mmdg_bench.seeding import stream
from mmdg_bench.strategies.base import STRATEGIES, Strategy
from mmdg_bench.strategies.gradients import require_two_modalities, true_class_confidence
from mmdg_bench.strategies.params import check_finite, check_window

# --------------------------------------------------------------------------- #
# pure functions
# --------------------------------------------------------------------------- #


def prototype_logits(features: Tensor, prototypes: Tensor) -> Tensor:
    """PMR's prototype classifier: ``-||z_i - c_k||`` (Euclidean distance, not squared), ``[B, C]``
    in float32. A class without a prototype (a NaN row) gets -inf: it drops out of the softmax.
    At a zero distance the gradient is 0 (torch.cdist's), not the NaN of d sqrt(x)/dx at 0.

    >>> prototype_logits(torch.tensor([[0.0, 0.0], [3.0, 4.0]]), torch.tensor([[3.0, 0.0], [3.0, 4.0]]))
    tensor([[-3., -5.],
            [-4., -0.]])
    >>> prototype_logits(torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0], [float("nan"), 0.0]]))
    tensor([[-1., -inf]])
    """
    seen = ~torch.isnan(prototypes).any(dim=1)
    # Branch-free (no host sync): the NaN rows are zeroed before the distance and masked after it,
    # so their (unused) gradient is finite.
    distances = torch.cdist(features.float(), torch.nan_to_num(prototypes.float()),
                            compute_mode="donot_use_mm_for_euclid_dist")  # exact, not |a|^2 - 2ab + |b|^2
    return torch.where(seen, -distances, float("-inf"))


def weak_modalities(scores: Tensor) -> Tensor:
    """Which modalities get the prototype loss: a score below the mean of the OTHER modalities'
    scores, which is below the mean of all (:169-177: with two, the lower one; neither on a tie).
    The others' mean is summed from the others alone, so with two modalities it is exactly the other
    score.

    >>> weak_modalities(torch.tensor([3.0, 5.0]))
    tensor([ True, False])
    >>> weak_modalities(torch.tensor([2.0, 2.0]))  # a tie: the official's ratio == 1, no loss
    tensor([False, False])
    >>> weak_modalities(torch.tensor([1.0, 2.0, 6.0]))  # mean 3: two are below it
    tensor([ True,  True, False])
    """
    if scores.dim() != 1 or scores.numel() < 2:
        raise ValueError(f"need a 1-D tensor of M >= 2 scores, got shape {tuple(scores.shape)}")
    others = 1.0 - torch.eye(scores.numel(), dtype=scores.dtype, device=scores.device)
    return scores < (others * scores).sum(dim=1) / (scores.numel() - 1)


def class_means(sums: Tensor, counts: Tensor) -> Tensor:
    """Per class, the mean of its features (:431-433); a class without a clip gets a NaN row (no
    prototype), where the official divides by zero.

    >>> class_means(torch.tensor([[4.0, 2.0], [0.0, 0.0]]), torch.tensor([2, 0]))
    tensor([[2., 1.],
            [nan, nan]])
    """
    means = sums / counts.clamp_min(1).to(sums.dtype)[:, None]
    return torch.where((counts > 0)[:, None], means, float("nan"))


def ema_prototypes(new: Tensor, old: Tensor | None, momentum: float) -> Tensor:
    """``(1 - momentum) new + momentum old`` (:439-440). A class with a prototype in only one of
    them (the other's row NaN) keeps that one.

    >>> nan = float("nan")
    >>> ema_prototypes(torch.tensor([[1.0], [nan], [4.0]]), torch.tensor([[3.0], [5.0], [nan]]), 0.5)
    tensor([[2.],
            [5.],
            [4.]])
    """
    if old is None:
        return new
    mixed = (1 - momentum) * new + momentum * old
    return torch.where(torch.isnan(new), old, torch.where(torch.isnan(old), new, mixed))


def batches_to_read(fraction: float, batches: int) -> int:
    """The official's prototype pass reads `all_num // 10` batches, at least one (:405, :425-430).

    >>> batches_to_read(0.1, 25), batches_to_read(0.1, 9), batches_to_read(1.0, 9)
    (2, 1, 9)
    """
    return max(1, math.floor(fraction * batches + 1e-9))  # + 1e-9: 0.29 * 100 is 28.999999999999996


# --------------------------------------------------------------------------- #
# the prototype pass
# --------------------------------------------------------------------------- #


@torch.no_grad()
def prototype_pass(model, loader, min_batches: int) -> dict[str, Tensor]:
    """Class means of every modality's encoder features (float32, ``[C, D_m]``, NaN rows for classes
    without a clip) over the first `min_batches` batches of `loader`, and on until every class has a
    clip or the loader ends; the model in eval mode (:402-403: BatchNorm uses, and does not update,
    its running statistics) and back in its former mode afterwards."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    sums: dict[str, Tensor] = {}
    counts = None
    try:
        for read, batch in enumerate(loader, start=1):
            batch = to_device(batch, str(device))
            out = model(batch)
            labels = batch["label"].long()
            if counts is None:
                classes = out.fused_logits.shape[1]
                counts = torch.zeros(classes, dtype=torch.long, device=device)
                sums = {m: torch.zeros(classes, z.shape[1], dtype=torch.float32, device=device)
                        for m, z in out.features.items()}
            for m, z in out.features.items():
                sums[m].index_add_(0, labels, z.float())
            counts += torch.bincount(labels, minlength=counts.numel())
            if read >= min_batches and bool((counts > 0).all()):
                break
    finally:
        model.train(was_training)
    if counts is None:
        raise UserError("PMR's prototype pass read no training clips")
    return {m: class_means(s, counts) for m, s in sums.items()}


# --------------------------------------------------------------------------- #
# the strategy
# --------------------------------------------------------------------------- #


@dataclass
class PMRParams:
    alpha: float = 2.0  # weight of the weak modality's prototype CE (bash.sh:222, CREMA-D concat Adam; argparse 1.0)
    momentum: float = 0.0  # mu of the prototypes' EMA (bash.sh:222 --momentum_coef 0.0; argparse :39 has 0.2)
    start_epoch: int = 0  # first epoch of the window, counted from 0 (bash.sh:222 --modulation_starts 0)
    end_epoch: int = 70  # last epoch of the window, inclusive (bash.sh:222 --modulation_ends 70; argparse 100)
    fraction: float = 0.1  # share of the training batches the prototype pass reads at least (:429, all_num // 10)

    # Tuning (`sweep --tune`): the DomainBed-style proposal, around bash.sh's values.
    SEARCH: ClassVar[dict] = {"alpha": Choice((0.5, 1.0, 2.0, 3.0)), "momentum": Uniform(0.0, 0.5)}

    def validate(self) -> None:
        check_finite("PMR", "alpha", self.alpha)
        if not 0 <= self.momentum <= 1:
            raise UserError(f"PMR's momentum must be between 0 and 1, got {self.momentum}")
        check_window("PMR", self.start_epoch, self.end_epoch)
        if not 0 < self.fraction <= 1:
            raise UserError(f"PMR's fraction must be in (0, 1], got {self.fraction}")


@STRATEGIES.register("pmr", **STRATEGY_FACTS["pmr"].given())
class PMR(Strategy):
    description = "PMR: the weaker modality's encoder also learns a prototype CE (class means re-estimated per epoch)"
    state_attributes = ("prototypes",)
    Params = PMRParams

    def __init__(self, params: PMRParams, model, seed: int = 0):
        super().__init__(params, model, seed)
        require_two_modalities(model, "PMR")
        self.prototypes: dict[str, Tensor] | None = None  # per modality [C, D_m], float32, NaN rows: no prototype
        self.train_loader = None

    def attach(self, loaders: dict) -> None:
        self.train_loader = loaders["train"]

    def official_epoch(self) -> int:
        return self.epoch - 1  # the official `for epoch in range(epochs)`: the first is 0

    def active(self) -> bool:
        return self.params.start_epoch <= self.official_epoch() <= self.params.end_epoch

    def start_epoch(self, epoch: int) -> None:
        super().start_epoch(epoch)
        k, p = self.official_epoch(), self.params
        # An estimate matters if it is used in the window, or (momentum > 0) folded into one that is.
        if self.train_loader is not None and k <= p.end_epoch and (p.momentum > 0 or k >= p.start_epoch):
            self.estimate_prototypes(epoch)

    def pass_loader(self, epoch: int) -> DataLoader:
        """The training clips in an order of the strategy's own (the training loader's generator and
        torch's global one are not touched: the DataLoader's worker seed is drawn from it too), with
        the training loader's batch size, workers and augmentation of this epoch; no clip dropped."""
        train = self.train_loader
        order = stream(self.seed, "pmr/prototype-pass", epoch)
        sampler = EpochSampler(len(train.dataset), shuffle=True, generator=order)
        sampler.set_epoch(epoch)
        workers = {}
        if train.num_workers:  # not persistent: the pass's workers end with it
            workers = {"num_workers": train.num_workers, "prefetch_factor": train.prefetch_factor}
        return DataLoader(train.dataset, batch_size=train.batch_size, sampler=sampler, generator=order,
                          pin_memory=train.pin_memory, collate_fn=train.collate_fn, **workers)

    def estimate_prototypes(self, epoch: int) -> None:
        loader = self.pass_loader(epoch)
        new = prototype_pass(self.model, loader, batches_to_read(self.params.fraction, len(loader)))
        # The official folds in the old prototypes only from its third estimate (:435-440).
        if self.prototypes is None or self.official_epoch() < 2:
            self.prototypes = new
        else:
            self.prototypes = {m: ema_prototypes(new[m], self.prototypes[m], self.params.momentum) for m in new}

    def backward(self, step: StepLosses) -> dict[str, float]:
        if self.prototypes is None or not self.active():
            step.total.backward()
            return {"pmr/active": 0.0}
        modalities, labels = self.model.modalities, step.labels
        logits = [prototype_logits(step.outputs.features[m], self.prototypes[m]) for m in modalities]
        scores = torch.stack([true_class_confidence(x, labels) for x in logits])  # s^m (:158-159)
        proto_ce = [F.cross_entropy(x, labels) for x in logits]  # :166-167
        weak = weak_modalities(scores)
        values = torch.cat([scores / len(labels), torch.stack(proto_ce).detach(), weak.float()]).tolist()
        n = len(modalities)
        coeffs = [self.params.alpha if w else 0.0 for w in values[2 * n:]]
        extra = [c * ce for c, ce in zip(coeffs, proto_ce) if c]
        (step.total + sum(extra) if extra else step.total).backward()  # :178
        diagnostics = {"pmr/active": 1.0}
        for i, m in enumerate(modalities):
            diagnostics[f"pmr/{m}/score"] = values[i]  # mean true-class prototype probability
            diagnostics[f"pmr/{m}/proto_ce"] = values[n + i]
            diagnostics[f"pmr/{m}/coeff"] = coeffs[i]
        return diagnostics
