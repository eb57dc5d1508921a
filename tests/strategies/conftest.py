"""What every strategy test module shares: one thread (the sums of a step do not depend on how the
machine splits them, and the machine is shared), its own synthetic-data cache, and the tiny synth
config and one training batch of it (a module that needs another config defines its own `config`)."""

import pytest
import torch

from mmdg_bench.config import load_config
from tests.conftest import training_batch

TARGET = "toon"
TINY = [
    "threads=1",  # the machine is shared: one thread avoids oversubscription stalls
    "data.synth.train_per_class=4", "data.synth.test_per_class=2", "data.synth.frames=4",
    "data.video.num_frames=4", "data.synth.seconds=0.5", "data.audio.seconds=0.5",
    "optim.batch_size=16", "optim.epochs=2",
    # 4 clips per (domain, class): a quarter holds one out of each; re-estimate at epoch 2
    "strategy.grad-blending.holdout_fraction=0.25", "strategy.grad-blending.super_epoch=1",
]


@pytest.fixture(scope="module", autouse=True)
def synth_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMDG_BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def config():
    return load_config("synth", TINY)


@pytest.fixture(scope="module")
def batch(config):
    return training_batch(config, TARGET)
