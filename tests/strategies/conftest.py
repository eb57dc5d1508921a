"""What every strategy test module shares: one thread (the sums of a step do not depend on how the
machine splits them, and the machine is shared) and its own synthetic-data cache."""

import pytest
import torch


@pytest.fixture(scope="module", autouse=True)
def synth_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MMDG_BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(threads)
