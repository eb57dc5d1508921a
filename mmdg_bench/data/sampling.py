"""The order a training loader reads its clips in, as the `(index, epoch)` keys `ClipDataset` takes.

    sampler = EpochSampler(len(train_set), shuffle=True, generator=torch.Generator().manual_seed(seed))
    loader = DataLoader(train_set, batch_size=16, sampler=sampler, drop_last=True, num_workers=4)
    for epoch in range(1, epochs + 1):
        sampler.set_epoch(epoch)
        for batch in loader: ...

The epoch in each key seeds the clip's augmentation (with the clip's index and the trial seed), so
nothing about it lives in a loader worker: the shuffling generator is the only state a resumed run
needs, and a checkpoint keeps it (`sampler.generator.get_state()`).
"""

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields `(index, epoch)` for every index below `num_items` once per pass: in a random order
    drawn from `generator` when `shuffle`, else in order; `epoch` is the last `set_epoch` value."""

    def __init__(self, num_items: int, shuffle: bool = True, generator: torch.Generator | None = None):
        if shuffle and generator is None:
            raise ValueError("a shuffling EpochSampler needs the generator its order is drawn from")
        self.num_items, self.shuffle, self.generator = num_items, shuffle, generator
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_items

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            order = torch.randperm(self.num_items, generator=self.generator).tolist()
        else:
            order = range(self.num_items)
        epoch = self.epoch
        return iter([(index, epoch) for index in order])
