"""Shared fixtures: a tiny synthetic set generated once per session into a temporary cache."""

import pytest
import torch

from mmdg_bench.config import load_config
from mmdg_bench.data import ClipDataset, load_index

# A few clips per class and two epochs: a whole run takes about a second on 2 CPU cores.
TINY = ["data.synth.train_per_class=4", "data.synth.test_per_class=2", "optim.epochs=2",
        "optim.batch_size=8"]


@pytest.fixture(autouse=True, scope="session")
def _cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("MMDG_BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.fixture
def tiny_config():
    def make(*overrides: str, **values):
        return load_config("synth", [*TINY, *overrides], **values)

    return make


def training_batch(config, target: str, size: int = 16) -> dict:
    """The first shuffled batch of `config`'s training split with `target` held out (seeded)."""
    index = load_index(config.data)
    dataset = ClipDataset(index.protocol(target)["train"], config.data.modalities, config.data, index.sources(target))
    return next(iter(torch.utils.data.DataLoader(dataset, batch_size=size, shuffle=True,
                                                 generator=torch.Generator().manual_seed(0))))
