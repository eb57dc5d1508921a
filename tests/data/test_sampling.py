"""`EpochSampler`: the `(index, epoch)` keys of a training loader, shuffled by a generator whose state
is all a resumed run needs."""

import pytest
import torch
from torch.utils.data import DataLoader

from mmdg_bench.data.sampling import EpochSampler


def keys(sampler: EpochSampler, epoch: int) -> list[tuple[int, int]]:
    sampler.set_epoch(epoch)
    return list(sampler)


def test_each_index_once_per_epoch_with_the_epoch_in_its_key():
    sampler = EpochSampler(10, shuffle=True, generator=torch.Generator().manual_seed(0))
    first, second = keys(sampler, 1), keys(sampler, 2)
    assert sorted(i for i, _ in first) == list(range(10)) and {e for _, e in first} == {1}
    assert {e for _, e in second} == {2} and [i for i, _ in first] != [i for i, _ in second]
    assert len(sampler) == 10
    assert keys(EpochSampler(4, shuffle=False), 3) == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_the_order_repeats_from_the_generator_state_a_checkpoint_keeps():
    uninterrupted = EpochSampler(20, shuffle=True, generator=torch.Generator().manual_seed(7))
    keys(uninterrupted, 1)
    saved = uninterrupted.generator.get_state()
    expected = keys(uninterrupted, 2)
    resumed = EpochSampler(20, shuffle=True, generator=torch.Generator())
    resumed.generator.set_state(saved)
    assert keys(resumed, 2) == expected
    other_seed = EpochSampler(20, shuffle=True, generator=torch.Generator().manual_seed(8))
    assert keys(other_seed, 1) != keys(EpochSampler(20, True, torch.Generator().manual_seed(7)), 1)


def test_a_loader_hands_the_keys_to_the_dataset_and_drops_the_last_short_batch():
    class Keys(torch.utils.data.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, key):
            index, epoch = key
            return torch.tensor([index, epoch])

    sampler = EpochSampler(5, shuffle=True, generator=torch.Generator().manual_seed(0))
    sampler.set_epoch(4)
    batches = list(DataLoader(Keys(), batch_size=2, sampler=sampler, drop_last=True))
    assert len(batches) == 2 and all(batch[:, 1].tolist() == [4, 4] for batch in batches)


def test_shuffling_without_a_generator_is_refused():
    with pytest.raises(ValueError, match="needs the generator"):
        EpochSampler(3, shuffle=True)
