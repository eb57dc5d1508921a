"""One run -> one run folder; determinism; selection; interruption and non-finite gradients."""

import copy
import json

import pytest
import torch
import yaml

from mmdg_bench.engine import train_run
from mmdg_bench.engine.checkpoint import CHECKPOINT, WEIGHTS
from mmdg_bench.engine.run_folder import CONFIG, DONE, METRICS, SUMMARY
from mmdg_bench.engine.selection import select_epochs
from mmdg_bench.engine.train import NonFiniteGradient, NullProgress, make_optimizer
from mmdg_bench.errors import UserError, UserNotice
from mmdg_bench.settings import OptimConfig
from mmdg_bench.strategies import STRATEGIES, Strategy


def run_folders(root):
    """The run folders under `root` (not the lock files beside them)."""
    return [p for p in root.iterdir() if not p.name.startswith(".")]


def metric_lines(path):
    return [json.loads(line) for line in (path / METRICS).read_text().splitlines()]


@pytest.mark.slow
def test_run_folder_contents(tiny_config, tmp_path):
    config = tiny_config()
    result = train_run(config, "toon", tmp_path)
    folder = result.path
    assert folder.name == f"synth__baseline__toon__seed0__{config.hash('toon')}"
    assert {p.name for p in folder.iterdir()} == {CONFIG, METRICS, SUMMARY, DONE, WEIGHTS}
    # The selected epochs' weights, for `evaluate`: trainable parameters and buffers, loadable.
    assert sorted(p.name for p in (folder / WEIGHTS).iterdir()) == ["best-val.pt", "last.pt"]
    last = torch.load(folder / WEIGHTS / "last.pt", weights_only=True)
    assert "encoders.video.proj.weight" in last and any(k.endswith("running_mean") for k in last)
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


@pytest.mark.slow
def test_same_seed_same_metrics_other_seed_other_metrics(tiny_config, tmp_path):
    first = metric_lines(train_run(tiny_config(), "day", tmp_path / "a").path)
    again = metric_lines(train_run(tiny_config(), "day", tmp_path / "b").path)
    other = metric_lines(train_run(tiny_config(seed=1), "day", tmp_path / "c").path)
    assert first == again
    assert first != other


@pytest.mark.slow
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


@pytest.mark.slow
def test_ctrl_c_leaves_no_done_marker_and_no_summary(tiny_config, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train_run(tiny_config(), "day", tmp_path, progress=InterruptAfterFirstEpoch())
    (folder,) = run_folders(tmp_path)
    assert not (folder / DONE).exists() and not (folder / SUMMARY).exists()
    assert (folder / CHECKPOINT).is_file() and len(metric_lines(folder)) == 1


@pytest.mark.slow
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


@pytest.mark.slow
def test_metric_lines_past_the_checkpoint_are_dropped_on_resume(tiny_config, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train_run(tiny_config(), "day", tmp_path, progress=InterruptAfterFirstEpoch())
    (folder,) = run_folders(tmp_path)
    first = metric_lines(folder)[0]
    with open(folder / METRICS, "a") as out:  # an epoch that finished after the last checkpoint
        out.write(json.dumps({**first, "epoch": 2}) + "\n")
    result = train_run(tiny_config(), "day", tmp_path)
    assert [line["epoch"] for line in metric_lines(result.path)] == [1, 2]


class NanStrategy(Strategy):
    description = "test only: produces a NaN gradient"

    def backward(self, step):
        (step.classification * torch.tensor(float("nan"))).backward()
        return {}


@pytest.fixture
def nan_strategy():
    """`test-nan`, registered for one test only (it never reaches the global registry's listing)."""
    with STRATEGIES.scoped():
        STRATEGIES.register("test-nan")(NanStrategy)
        yield "test-nan"
    assert "test-nan" not in STRATEGIES


@pytest.mark.slow
def test_non_finite_gradient_stops_the_run(tiny_config, tmp_path, nan_strategy):
    with pytest.raises(NonFiniteGradient, match="NaN or inf"):
        train_run(tiny_config(strategy__name=nan_strategy), "day", tmp_path)
    (folder,) = run_folders(tmp_path)
    assert not (folder / DONE).exists()


class CountSteps(NullProgress):
    def __init__(self):
        self.steps = 0

    def advance(self):
        self.steps += 1


@pytest.mark.slow
def test_training_batches_are_whole(tiny_config, tmp_path):
    """32 training clips in batches of 12: two whole batches per epoch, the last 8 clips wait for the
    next epoch's shuffle (a small last batch would make the confidence ratios meaningless)."""
    counter = CountSteps()
    train_run(tiny_config("optim.batch_size=12"), "day", tmp_path, progress=counter)
    assert counter.steps == 2 * 2


def test_a_batch_larger_than_the_training_split_is_refused(tiny_config, tmp_path):
    with pytest.raises(UserError, match="fewer than one batch"):
        train_run(tiny_config("optim.batch_size=64"), "day", tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["baseline", "pcgrad", "grad-blending"])
def test_single_modality_runs(tiny_config, tmp_path, strategy):
    """The paper's Table 1 'trained alone' rows: one modality, for the strategies that need no other."""
    config = tiny_config("data.modalities=[video]", "strategy.grad-blending.holdout_fraction=0.25",
                         strategy__name=strategy)
    summary = train_run(config, "day", tmp_path).summary
    assert summary["modalities"] == ["video"]
    assert set(summary["selection"]["last"]["target"]) == {"fused", "video", "loss"}


@pytest.mark.slow
def test_summary_records_what_the_numbers_depend_on(tiny_config, tmp_path):
    summary = train_run(tiny_config("deterministic=true"), "day", tmp_path).summary
    assert summary["environment"] == {"torch": torch.__version__, "device": "cpu",
                                      "threads": torch.get_num_threads(), "deterministic": True}
    assert summary["strategy_info"]["block"] == "main" and summary["config"]["loss"]["classification"] == "paper"
    assert summary["memory"]["rss_mib"] > 10 and summary["method"] == "erm"
    torch.use_deterministic_algorithms(False)


@pytest.mark.e2e
def test_augmented_runs_do_not_depend_on_the_loader_workers(tiny_config, tmp_path):
    """A clip's augmentation is drawn from its own stream, seeded by (seed, epoch, clip): the same
    with loader worker processes as without (each worker used to draw from its own seed)."""
    overrides = ["data.video.train_augment=true", "data.audio.train_noise=0.05", "data.cache_decoded=false"]
    alone = metric_lines(train_run(tiny_config(*overrides), "day", tmp_path / "a").path)
    workers = metric_lines(train_run(tiny_config(*overrides, "data.num_workers=2"), "day", tmp_path / "b").path)
    assert workers == alone


@pytest.mark.slow
def test_weights_can_be_turned_off(tiny_config, tmp_path):
    folder = train_run(tiny_config("keep_weights=false"), "day", tmp_path).path
    assert not (folder / WEIGHTS).exists()


def test_the_checkpoint_leaves_frozen_parameters_out(tiny_config, tmp_path):
    from mmdg_bench.engine.checkpoint import trainable_state
    from mmdg_bench.models import build_model

    config = tiny_config()
    model = build_model(config.model, config.data.modalities, 4, 2)
    for p in model.encoders["video"].body.parameters():
        p.requires_grad_(False)
    state = trainable_state(model)
    assert "encoders.video.body.0.0.weight" not in state and "encoders.video.proj.weight" in state
    assert "encoders.video.body.0.1.running_mean" in state  # buffers stay: BN statistics can change


def test_the_optimizer_is_foreach_adam_and_steps_exactly_as_the_single_tensor_loop():
    """`make_optimizer` batches Adam's per-parameter ops (foreach): several times fewer Python-level
    calls per step on a CPU, and the same arithmetic per element, so the parameters stay bitwise equal
    to torch's single-tensor loop (what the runs before it used), weight decay included."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    twin = copy.deepcopy(net)
    optim = OptimConfig(lr=3e-3, weight_decay=1e-2)
    batched = make_optimizer(net.parameters(), optim)
    loop = torch.optim.Adam(twin.parameters(), lr=optim.lr, weight_decay=optim.weight_decay, foreach=False)
    assert batched.defaults["foreach"] is True
    for step in range(6):
        x, y = torch.randn(8, 12), torch.randint(3, (8,))
        for model, optimizer in ((net, batched), (twin, loop)):
            optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            if step == 2:
                model[0].bias.grad = None  # a parameter the step's loss did not reach
            optimizer.step()
    for a, b in zip(net.parameters(), twin.parameters()):
        assert torch.equal(a, b)


@pytest.mark.slow
def test_a_run_resumes_with_the_thread_count_it_started_with(tiny_config, tmp_path):
    """A sweep worker's run (1 thread) resumed by `run` (the machine's default) keeps 1 thread: a CPU
    run's sums depend on it, so a third count would be a third variant of the same run folder."""
    before = torch.get_num_threads()
    try:
        whole = train_run(tiny_config("threads=1", "optim.epochs=3"), "day", tmp_path / "whole")
        with pytest.raises(KeyboardInterrupt):
            train_run(tiny_config("threads=1", "optim.epochs=3"), "day", tmp_path / "cut",
                      progress=InterruptAfterFirstEpoch())
        torch.set_num_threads(2)
        resumed = train_run(tiny_config("optim.epochs=3"), "day", tmp_path / "cut")  # threads: torch's default
        assert resumed.summary["environment"]["threads"] == 1
        assert metric_lines(resumed.path) == metric_lines(whole.path)
    finally:
        torch.set_num_threads(before)


def test_a_resume_on_a_smaller_machine_says_it_caps_the_threads(monkeypatch):
    from mmdg_bench.engine import train

    monkeypatch.setattr(train.os, "cpu_count", lambda: 1)
    before = torch.get_num_threads()
    try:
        with pytest.warns(UserNotice, match="the run started with 8 threads and resumes with 1"):
            train.resume_threads(8)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
