"""One run -> one run folder; determinism; selection; interruption and non-finite gradients."""

import json

import pytest
import torch
import yaml

from mmdg_bench.engine import train_run
from mmdg_bench.engine.checkpoint import CHECKPOINT
from mmdg_bench.engine.run_folder import CONFIG, DONE, METRICS, SUMMARY
from mmdg_bench.engine.selection import select_epochs
from mmdg_bench.engine.train import NonFiniteGradient, NullProgress
from mmdg_bench.strategies import STRATEGIES, Strategy


def metric_lines(path):
    return [json.loads(line) for line in (path / METRICS).read_text().splitlines()]


def test_run_folder_contents(tiny_config, tmp_path):
    config = tiny_config()
    result = train_run(config, "toon", tmp_path)
    folder = result.path
    assert folder.name == f"synth__baseline__toon__seed0__{config.hash('toon')}"
    assert {p.name for p in folder.iterdir()} == {CONFIG, METRICS, SUMMARY, DONE}
    assert yaml.safe_load((folder / CONFIG).read_text()) == config.to_dict()
    lines = metric_lines(folder)
    assert [line["epoch"] for line in lines] == [1, 2]
    for line in lines:
        assert set(line["val"]) == set(line["target"]) == {"fused", "video", "audio", "loss"}
        assert {"loss_cls", "loss_dom", "acc_fused"} <= set(line["train"])
    summary = json.loads((folder / SUMMARY).read_text())
    assert summary["target_domain"] == "toon" and summary["source_domains"] == ["day", "night"]
    assert summary["clips"] == {"train": 32, "val": 16, "target": 24}
    assert set(summary["selection"]) == {"best-val", "last", "oracle"}
    assert summary["selection"]["last"]["epoch"] == 2


def test_same_seed_same_metrics_other_seed_other_metrics(tiny_config, tmp_path):
    first = metric_lines(train_run(tiny_config(), "day", tmp_path / "a").path)
    again = metric_lines(train_run(tiny_config(), "day", tmp_path / "b").path)
    other = metric_lines(train_run(tiny_config(seed=1), "day", tmp_path / "c").path)
    assert first == again
    assert first != other


def test_a_finished_run_is_reused_not_retrained(tiny_config, tmp_path):
    first = train_run(tiny_config(), "day", tmp_path)
    stamp = (first.path / SUMMARY).stat().st_mtime_ns
    again = train_run(tiny_config(), "day", tmp_path)
    assert again.reused and (again.path / SUMMARY).stat().st_mtime_ns == stamp
    assert not train_run(tiny_config(), "day", tmp_path, force=True).reused


def test_selection_rules():
    def epoch(n, val, target):
        return {"epoch": n, "val": {"fused": val}, "target": {"fused": target}}

    epochs = [epoch(1, 50, 40), epoch(2, 70, 30), epoch(3, 70, 20), epoch(4, 60, 45)]
    chosen = select_epochs(epochs)
    assert chosen["best-val"]["epoch"] == 3  # tie at 70: the later epoch
    assert chosen["last"]["epoch"] == 4
    assert chosen["oracle"]["epoch"] == 4
    with pytest.raises(ValueError):
        select_epochs([])


class InterruptAfterFirstEpoch(NullProgress):
    def end_epoch(self, line):
        raise KeyboardInterrupt


def test_ctrl_c_leaves_no_done_marker_and_no_summary(tiny_config, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train_run(tiny_config(), "day", tmp_path, progress=InterruptAfterFirstEpoch())
    (folder,) = tmp_path.iterdir()
    assert not (folder / DONE).exists() and not (folder / SUMMARY).exists()
    assert (folder / CHECKPOINT).is_file() and len(metric_lines(folder)) == 1


@pytest.mark.parametrize("strategy", ["baseline", "ogm-ge", "grad-blending", "pcgrad"])
def test_a_resumed_run_equals_an_uninterrupted_one(tiny_config, tmp_path, strategy):
    overrides = ["optim.epochs=3", "strategy.grad-blending.holdout_fraction=0.25",
                 "strategy.grad-blending.super_epoch=1"]
    whole = train_run(tiny_config(*overrides, strategy__name=strategy), "day", tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train_run(tiny_config(*overrides, strategy__name=strategy), "day", tmp_path / "cut",
                  progress=InterruptAfterFirstEpoch())
    resumed = train_run(tiny_config(*overrides, strategy__name=strategy), "day", tmp_path / "cut")
    assert metric_lines(resumed.path) == metric_lines(whole.path)
    assert not (resumed.path / CHECKPOINT).exists()


def test_metric_lines_past_the_checkpoint_are_dropped_on_resume(tiny_config, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train_run(tiny_config(), "day", tmp_path, progress=InterruptAfterFirstEpoch())
    (folder,) = tmp_path.iterdir()
    first = metric_lines(folder)[0]
    with open(folder / METRICS, "a") as out:  # an epoch that finished after the last checkpoint
        out.write(json.dumps({**first, "epoch": 2}) + "\n")
    result = train_run(tiny_config(), "day", tmp_path)
    assert [line["epoch"] for line in metric_lines(result.path)] == [1, 2]


@STRATEGIES.register("test-nan")
class NanStrategy(Strategy):
    description = "test only: produces a NaN gradient"

    def backward(self, step):
        (step.classification * torch.tensor(float("nan"))).backward()
        return {}


def test_non_finite_gradient_stops_the_run(tiny_config, tmp_path):
    with pytest.raises(NonFiniteGradient, match="NaN or inf"):
        train_run(tiny_config(strategy__name="test-nan"), "day", tmp_path)
    (folder,) = tmp_path.iterdir()
    assert not (folder / DONE).exists()
