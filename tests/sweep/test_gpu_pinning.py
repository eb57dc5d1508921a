"""`sweep --jobs N` on GPUs: workers are pinned through the sweep's own visible GPUs (a Slurm allocation of
"2,3" gives workers 2 and 3, not 0 and 1), and a run's `cuda:N` is honoured inside its pinned worker. No GPU
here: torch's device count and CUDA's availability are patched, and no worker starts."""

import pytest
import torch

from mmdg_bench.device import PINNED_GPU, resolve_device
from mmdg_bench.errors import UserError
from mmdg_bench.sweep.launchers import gpus_for, visible_gpus
from mmdg_bench.sweep.plan import plan_sweep

TINY = ["data.synth.train_per_class=4", "data.synth.test_per_class=2", "optim.epochs=1"]
MIG = "MIG-4b0d1a9a-4c2d-5b1e-9a3f-0e6a1b2c3d4e"


@pytest.mark.parametrize("visible, count, gpus", [
    (None, 2, ["0", "1"]),
    ("2,3", 2, ["2", "3"]),
    (" 3 , 1 ", 2, ["3", "1"]),
    (f"GPU-8f2e6c1a-1111-2222-3333-444455556666,{MIG}", 2, ["GPU-8f2e6c1a-1111-2222-3333-444455556666", MIG]),
    ("2,3,-1,5", 2, ["2", "3"]),  # CUDA stops at the first invalid entry; torch counts what it found
    ("", 0, []),
])
def test_the_visible_gpus_are_the_processs_own(visible, count, gpus):
    assert visible_gpus(count, visible) == gpus


def plan(tmp_path, device: str, *vary: str):
    return plan_sweep("synth", "baseline", "toon", "0", [*TINY, f"device={device}"], tmp_path,
                      vary=list(vary))


@pytest.fixture
def two_gpus_of_a_slurm_allocation(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


@pytest.mark.parametrize("device, gpus", [("cuda", ["2", "3"]), ("auto", ["2", "3"]), ("cuda:0", ["2"]),
                                          ("cuda:1", ["3"]), ("cpu", [])])
def test_workers_are_pinned_through_the_sweeps_visible_gpus(tmp_path, two_gpus_of_a_slurm_allocation, device, gpus):
    assert gpus_for(plan(tmp_path, device)) == gpus


def test_a_gpu_the_sweep_does_not_see_or_several_devices_are_one_sentence(tmp_path, two_gpus_of_a_slurm_allocation):
    with pytest.raises(UserError, match=r"'device' is cuda:2 but this machine has 2 CUDA device\(s\)"):
        gpus_for(plan(tmp_path, "cuda:2"))
    varied = plan_sweep("synth", "baseline", "toon", "0", TINY, tmp_path, vary=["device=cuda:0,cuda:1"])
    with pytest.raises(UserError, match=r"different devices \(cuda:0, cuda:1\).*sweep each device on its own"):
        gpus_for(varied)


def test_cuda_n_is_the_one_gpu_of_a_pinned_worker(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)  # a pinned worker sees one GPU
    monkeypatch.delenv(PINNED_GPU, raising=False)
    with pytest.raises(UserError, match="this machine has 1 CUDA device"):
        resolve_device("cuda:1")  # outside a sweep worker, cuda:1 is still refused where it is not there
    monkeypatch.setenv(PINNED_GPU, "1")
    assert resolve_device("cuda:1") == "cuda"
    assert resolve_device("auto") == "cuda" and resolve_device("cpu") == "cpu"
