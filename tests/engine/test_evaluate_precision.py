"""Evaluation, and Gradient-Blending's held-out losses, run the forward pass as training does (issue 21): a
bf16 run evaluates under bf16 autocast, with channels-last clips when the run uses them, and takes its
accuracy and losses from float32 logits. On the CPU (where autocast works too; `to_device` applies
channels-last on a GPU only, so the layout is checked as what evaluation asks of it)."""

import pytest
import torch

import mmdg_bench.engine.evaluate as evaluation
import mmdg_bench.strategies.grad_blending as grad_blending
from mmdg_bench.config import load_config
from mmdg_bench.device import to_device
from mmdg_bench.losses import detaches_unimodal_heads
from mmdg_bench.models import build_model
from mmdg_bench.strategies import STRATEGIES
from tests.conftest import training_batch

TINY = ["data.synth.train_per_class=4", "data.synth.test_per_class=2", "optim.batch_size=16"]


@pytest.fixture(scope="module")
def config():
    return load_config("synth", TINY)


@pytest.fixture(scope="module")
def batch(config):
    return training_batch(config, "toon")


def tiny_model(config, strategy: str = "baseline"):
    torch.manual_seed(0)
    return build_model(config.model, config.data.modalities, 4, 2,
                       detaches_unimodal_heads(config.loss.classification, STRATEGIES.get(strategy)))


def spy(model, module, monkeypatch) -> dict:
    """What the forward passes ran under (autocast dtype or None) and what layout their clips were asked in."""
    seen = {"autocast": [], "channels_last": []}
    model.register_forward_pre_hook(lambda *args: seen["autocast"].append(
        torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None))

    def moved(batch, device, channels_last=False):
        seen["channels_last"].append(channels_last)
        return to_device(batch, device, channels_last)

    monkeypatch.setattr(module, "to_device", moved)
    return seen


def test_evaluation_runs_under_the_runs_autocast_and_clip_layout(config, batch, monkeypatch):
    model = tiny_model(config)
    seen = spy(model, evaluation, monkeypatch)
    metrics = evaluation.evaluate(model, [batch, batch], "cpu", "bf16", channels_last=True)
    assert seen == {"autocast": [torch.bfloat16] * 2, "channels_last": [True] * 2}
    assert all(isinstance(v, float) and 0 <= v <= 100 for k, v in metrics.items() if k != "loss")
    assert metrics["loss"] > 0


def test_fp32_evaluation_counts_as_before(config, batch):
    """The sums kept on the device and read once give the numbers the per-batch reads gave."""
    model = tiny_model(config).eval()
    with torch.no_grad():
        out = model(batch)
    labels, n = batch["label"], len(batch["label"])
    logits = {"fused": out.fused_logits, **out.unimodal_logits}
    expected = {head: 100.0 * int((x.argmax(1) == labels).sum()) / n for head, x in logits.items()}
    expected["loss"] = float(torch.nn.functional.cross_entropy(out.fused_logits, labels, reduction="sum")) / n
    assert evaluation.evaluate(model, [batch], "cpu") == expected


@pytest.mark.parametrize(("precision", "dtype"), [("bf16", torch.bfloat16), ("fp32", None)])
def test_gradient_blendings_held_out_losses_run_as_training_does(config, batch, monkeypatch, tmp_path, precision,
                                                                   dtype):
    run = load_config("synth", [*TINY, f"precision={precision}", "channels_last=true"], strategy__name="grad-blending")
    model = tiny_model(run, "grad-blending")
    strategy = STRATEGIES.get("grad-blending")(STRATEGIES.get("grad-blending").Params(), model, seed=0)
    strategy.prepare_run(run, "toon", tmp_path)
    strategy.attach({"holdout": [batch], "train_eval": [batch]})
    seen = spy(model, grad_blending, monkeypatch)
    strategy.reestimate()
    assert seen == {"autocast": [dtype] * 2, "channels_last": [True] * 2}
    assert strategy.previous[0].dtype == torch.float32 and bool(torch.isfinite(strategy.previous[1]).all())
