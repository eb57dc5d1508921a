"""A checkpoint written on one device resumes on another: tensors are loaded onto the run's device,
generator states of another device kind reseed instead of failing, CUDA's random state travels when it
can, and a checkpoint the device cannot take is not mistaken for a damaged one. This machine has no GPU:
the other device is the `meta` device, or torch's load and CUDA functions patched to act as a GPU's."""

import json
import warnings

import pytest
import torch
from torch import nn

from mmdg_bench.engine import train_run
from mmdg_bench.engine.checkpoint import CHECKPOINT, load_checkpoint, restore, save_checkpoint
from mmdg_bench.engine.run_folder import METRICS
from mmdg_bench.engine.train import NullProgress
from mmdg_bench.errors import UserError, UserNotice
from mmdg_bench.models import MultimodalModel
from mmdg_bench.strategies import STRATEGIES

CUDA_SIZED = torch.arange(16, dtype=torch.uint8)  # a CUDA generator's state: Philox seed and offset


class Encoder(nn.Sequential):
    def __init__(self):
        super().__init__(nn.Linear(5, 6), nn.Dropout(0.5))
        self.out_dim = 6


def tiny(strategy: str = "pcgrad", device: str = "cpu"):
    torch.manual_seed(0)
    model = MultimodalModel({"video": Encoder(), "audio": Encoder()}, feature_dim=6, num_classes=3, num_domains=2,
                            head_hidden=4, grl_coeff=0.1).to(device)
    cls = STRATEGIES.get(strategy)
    strategy = cls(cls.Params(), model, seed=0)
    optimizer = torch.optim.Adam(model.parameters()) if device != "meta" else None
    return model, optimizer, strategy, torch.Generator().manual_seed(0)


def written(tmp_path):
    model, optimizer, strategy, shuffle = tiny()
    save_checkpoint(tmp_path, 1, model, optimizer, strategy, shuffle)
    return tmp_path


def test_a_checkpoint_is_loaded_onto_the_runs_device(tmp_path):
    state = load_checkpoint(written(tmp_path), "meta")
    assert {t.device.type for t in state["model"].values()} == {"meta"}


def test_a_generator_state_of_another_device_kind_reseeds_instead_of_failing(tmp_path):
    """A GPU run's CUDA generator states (16 bytes) restored into a CPU run's generators (5056 bytes)."""
    state = load_checkpoint(written(tmp_path))
    state["strategy"]["generator"] = CUDA_SIZED
    state["shuffle_rng"] = CUDA_SIZED
    draws = []
    for _ in range(2):
        model, optimizer, strategy, shuffle = tiny()
        fresh = torch.rand(3, generator=tiny()[2].generator)
        restore(state, model, optimizer, strategy, shuffle)
        draws.append((torch.rand(3, generator=strategy.generator), torch.rand(3, generator=shuffle)))
    torch.testing.assert_close(draws[0], draws[1])  # reproducible from the checkpoint
    assert not torch.equal(draws[0][0], fresh)  # and not the seed's first draws again


def test_gradient_blendings_saved_losses_end_on_the_runs_device():
    _, _, strategy, _ = tiny("grad-blending", device="meta")
    saved = (torch.ones(3), torch.ones(3))  # (L_T, L_V) as a CPU run saved them
    strategy.load_state_dict({"weights": [0.2, 0.3, 0.5], "previous": saved})
    assert [t.device.type for t in strategy.previous] == ["meta", "meta"]
    assert strategy.weights == [0.2, 0.3, 0.5]


def gpu_only_load(monkeypatch):
    """torch.load as for a checkpoint a GPU wrote, on a machine whose torch has no CUDA."""
    load = torch.load

    def patched(*args, map_location=None, **kwargs):
        if map_location is None or str(map_location).startswith("cuda"):
            raise RuntimeError("Attempting to deserialize object on a CUDA device but torch.cuda.is_available() "
                               "is False.")
        return load(*args, map_location=map_location, **kwargs)

    monkeypatch.setattr(torch, "load", patched)


def test_a_checkpoint_the_device_cannot_take_is_not_damaged(tmp_path, monkeypatch):
    folder = written(tmp_path)
    gpu_only_load(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserNotice)  # no "damaged, starts over" notice
        with pytest.raises(UserError, match=r"the checkpoint .* cannot be loaded onto the device cuda:1 \("
                                            r"Attempting to deserialize .*\): resume the run with a device"):
            load_checkpoint(folder, "cuda:1")
    assert (folder / CHECKPOINT).is_file()  # kept for a device that can take it


def test_a_damaged_checkpoint_still_starts_over(tmp_path):
    folder = written(tmp_path)
    (folder / CHECKPOINT).write_bytes((folder / CHECKPOINT).read_bytes()[:300])
    with pytest.warns(UserNotice, match="is damaged .* the run starts over from epoch 1"):
        assert load_checkpoint(folder, "cuda:1") is None


class Interrupt(NullProgress):
    def end_epoch(self, line):
        raise KeyboardInterrupt


class Resumes(NullProgress):
    def resume(self, finished_epochs):
        self.finished = finished_epochs


@pytest.mark.slow
def test_a_checkpoint_a_gpu_wrote_resumes_on_the_cpu(tiny_config, tmp_path, monkeypatch):
    """Without map_location, such a checkpoint failed to load, was taken for damage and the run restarted."""
    whole = train_run(tiny_config(), "day", tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train_run(tiny_config(), "day", tmp_path / "cut", progress=Interrupt())
    gpu_only_load(monkeypatch)
    progress = Resumes()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserNotice)
        resumed = train_run(tiny_config(), "day", tmp_path / "cut", progress=progress)
    assert progress.finished == 1
    lines = [(p / METRICS).read_text().splitlines() for p in (whole.path, resumed.path)]
    assert [json.loads(x) for x in lines[0]] == [json.loads(x) for x in lines[1]]


def fake_gpus(monkeypatch, count: int) -> list:
    """torch.cuda as on a machine with `count` GPUs in use; returns the states set_rng_state_all receives."""
    received = []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [CUDA_SIZED + i for i in range(count)])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", received.extend)
    return received


def test_every_gpus_random_state_is_saved_and_restored(tmp_path, monkeypatch):
    received = fake_gpus(monkeypatch, 2)
    folder = written(tmp_path)
    state = load_checkpoint(folder)
    restore(state, *tiny(), device="cuda")
    assert [t.tolist() for t in received] == [(CUDA_SIZED + i).tolist() for i in range(2)]


def test_a_resume_on_another_number_of_gpus_says_cuda_draws_restart(tmp_path, monkeypatch):
    fake_gpus(monkeypatch, 2)
    state = load_checkpoint(written(tmp_path))
    received = fake_gpus(monkeypatch, 1)
    with pytest.warns(UserNotice, match=r"holds the random state of 2 GPU\(s\) and this run sees 1 GPU\(s\): "
                                        r"CUDA's random draws \(dropout\) start again from the run's seed"):
        restore(state, *tiny(), device="cuda")
    assert received == []
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserNotice)
        restore(state, *tiny(), device="cpu")  # a CPU run draws nothing from CUDA: nothing to say
