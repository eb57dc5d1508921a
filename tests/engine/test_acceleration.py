"""bf16 autocast and the device settings: every strategy's gradients under bf16 match fp32's up to
bf16 rounding (on the CPU, where autocast works too), and a bf16 run trains end to end."""

import pytest
import torch

from mmdg_bench.config import load_config
from mmdg_bench.device import autocast
from mmdg_bench.engine import train_run
from mmdg_bench.engine.acceleration import loader_options
from mmdg_bench.engine.train import step_losses
from mmdg_bench.errors import UserError
from mmdg_bench.losses import detaches_unimodal_heads
from mmdg_bench.models import build_model
from mmdg_bench.strategies import STRATEGIES
from tests.conftest import training_batch

TINY = ["data.synth.train_per_class=4", "data.synth.test_per_class=2", "optim.batch_size=16", "optim.epochs=2"]
STRATEGY_NAMES = ["baseline", "ogm-ge", "grad-blending", "pcgrad", "gmp", "gmp-fast", "gmp-igdm-only",
                  "gmp-cagp-only"]


@pytest.fixture(scope="module")
def config():
    return load_config("synth", TINY)


@pytest.fixture(scope="module")
def batch(config):
    return training_batch(config, "toon")


def strategy_gradient(name: str, config, batch, precision: str) -> torch.Tensor:
    torch.manual_seed(0)
    cls = STRATEGIES.get(name)
    model = build_model(config.model, config.data.modalities, 4, 2,
                        detaches_unimodal_heads(config.loss.classification, cls))
    strategy = cls(cls.Params(), model, seed=0)
    strategy.epoch = 1  # inside OGM-GE's window; no held-out estimate (no loaders here)
    with autocast("cpu", precision):
        step = step_losses(model, batch, config)
    strategy.backward(step)
    return torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_every_strategy_gives_the_same_gradient_under_bf16(name, config, batch):
    fp32 = strategy_gradient(name, config, batch, "fp32")
    bf16 = strategy_gradient(name, config, batch, "bf16")
    assert bf16.dtype == torch.float32  # strategies work on float32 gradients, never on scaled ones
    # bf16 keeps about 3 significant digits per operation: a few percent after a conv net's forward.
    # OGM-GE adds noise scaled by the gradient's own spread, drawn alike in both (same stream).
    tolerance = 0.3 if name == "ogm-ge" else 0.1
    assert float((bf16 - fp32).norm() / fp32.norm()) < tolerance
    assert float(torch.nn.functional.cosine_similarity(bf16, fp32, dim=0)) > 1 - tolerance ** 2


@pytest.mark.slow
def test_a_bf16_run_trains_end_to_end(tmp_path):
    summary = train_run(load_config("synth", [*TINY, "precision=bf16"], strategy__name="gmp"), "toon",
                        tmp_path).summary
    assert summary["config"]["precision"] == "bf16" and summary["selection"]["last"]["val"]["fused"] >= 0


def test_fp16_is_refused_with_the_reason():
    with pytest.raises(UserError, match="gradient scaling"):
        load_config("synth", ["precision=fp16"])


def test_loader_options_follow_the_device(monkeypatch):
    # Workers are capped to the CPUs this process may use (tests/cli/test_cli.py): pretend to have 8.
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert loader_options("cpu", 0, 2) == {"num_workers": 0, "pin_memory": False}
    assert loader_options("cuda", 4, 3) == {"num_workers": 4, "pin_memory": True, "persistent_workers": True,
                                            "prefetch_factor": 3}


@pytest.mark.parametrize("decode, workers, start", [("gpu", 2, "spawn"), ("gpu", 0, None), ("cpu", 2, None)])
def test_training_loaders_spawn_their_workers_when_they_decode_on_the_gpu(monkeypatch, decode, workers, start):
    """CUDA cannot run in a worker forked from a process that started it (the model is on the GPU by then):
    GPU-decoding workers are spawned; the others keep the platform's fork. No worker starts here."""
    from mmdg_bench.data import load_index
    from mmdg_bench.engine.train import build_loaders

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)), raising=False)
    config = load_config("synth", [*TINY, f"data.video.decode={decode}", f"data.num_workers={workers}",
                                   "data.cache_decoded=false"])
    index = load_index(config.data)
    loaders, _, _ = build_loaders(config, index.protocol("toon"), index.sources("toon"), "cpu")
    for loader in loaders.values():
        method = loader.multiprocessing_context and loader.multiprocessing_context.get_start_method()
        assert method == start
