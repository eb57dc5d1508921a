"""A run's peak memory is its own (issue 21): a sweep worker trains run after run in one process, and a
process-wide high-water mark only grew from one run to the next."""

import numpy as np
import pytest
import torch

from mmdg_bench.engine import memory as memory_module
from mmdg_bench.engine import train_run
from mmdg_bench.engine.memory import PeakMemory, resident_high_water_mib

SPIKE_MIB = 400


def spike() -> None:
    """Touch SPIKE_MIB of fresh memory, then free it: the resident high-water mark rises by about that."""
    block = np.ones(SPIKE_MIB * 2**20 // 8)
    del block


def test_the_resident_peak_is_reset(monkeypatch):
    if resident_high_water_mib() is None:
        pytest.skip("no /proc/self/status here")
    memory = PeakMemory("cpu")
    memory.reset()
    spike()
    inflated = memory.rss_mib()
    memory.reset()
    assert memory.rss_mib() < inflated - SPIKE_MIB / 2  # the spike before the reset is not counted
    assert set(memory.summary()) == {"rss_mib"}
    monkeypatch.setattr(memory_module, "CLEAR_REFS", memory_module.Path("/nonexistent/clear_refs"))
    memory.reset()  # where the kernel refuses the reset, the process's peak is said to be the process's
    assert memory.rss_mib() is None and set(memory.summary()) == {"process_peak_rss_mib"}


def test_the_gpu_peak_is_reset_on_the_runs_device(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device: calls.append(("reset", device)))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: calls.append(("read", device)) or 3 * 2**20)
    memory = PeakMemory("cuda:1")
    memory.reset()
    assert memory.summary()["gpu_allocated_mib"] == 3.0 and memory.read() == 3.0
    assert calls[0] == ("reset", "cuda:1") and {c[1] for c in calls} == {"cuda:1"}


@pytest.mark.slow
def test_two_runs_in_one_process_each_report_their_own_peak(tiny_config, tmp_path, monkeypatch):
    if resident_high_water_mib() is None:
        pytest.skip("no /proc/self/status here")
    resets = []
    reset = PeakMemory.reset
    monkeypatch.setattr(PeakMemory, "reset", lambda self: resets.append(self.device) or reset(self))
    first = train_run(tiny_config("optim.epochs=1"), "day", tmp_path).summary["memory"]
    spike()  # between the runs: the process's peak now exceeds anything the second run uses
    peak_after_spike = resident_high_water_mib()
    second = train_run(tiny_config("optim.epochs=1", seed=1), "day", tmp_path).summary["memory"]
    assert second["rss_mib"] < peak_after_spike - SPIKE_MIB / 2  # not the process's peak: the run's own
    assert set(first) == set(second) == {"rss_mib"}
    assert resets == ["cpu", "cpu"]  # each run resets the peak on its own device at its start
