"""Contracts every registered strategy keeps, built-in or plugin (TorchJD's aggregator-test habit):
finite diagnostics and gradients, the heads get baseline's gradients (unless the registry says the
strategy reweighs the heads' losses), its registered `neutral` setting equals baseline, the same
seed gives the same run, and a resumed run equals an uninterrupted one.

The README cookbook's strategy is checked alongside the built-ins, registered for this module only."""

import json
import math
import runpy

import pytest
import torch

from mmdg_bench.config import load_config
from mmdg_bench.data import ClipDataset, load_index
from mmdg_bench.engine import train_run
from mmdg_bench.engine.run_folder import METRICS
from mmdg_bench.engine.train import NullProgress, run_model, step_losses
from mmdg_bench.strategies import STRATEGIES
from mmdg_bench.strategies.gradients import head_parameters
from tests.readme import python_block, registered_name

TARGET = "day"
SMALL = ["threads=1", "data.synth.train_per_class=4", "data.synth.test_per_class=2", "data.synth.frames=4",
         "data.video.num_frames=4", "data.synth.seconds=0.5", "data.audio.seconds=0.5", "optim.batch_size=16",
         "optim.epochs=2", "strategy.grad-blending.holdout_fraction=0.25", "strategy.grad-blending.super_epoch=1"]
COOKBOOK = python_block("my_strategy.py")
# SMALL sets grad-blending's settings for every strategy: the notice that they are unused is expected.
pytestmark = pytest.mark.filterwarnings("ignore::mmdg_bench.errors.UserNotice")
NAMES = sorted({*STRATEGIES.names(), registered_name(COOKBOOK)})  # every installed plugin's too


@pytest.fixture(scope="module", autouse=True)
def cookbook_strategy(tmp_path_factory):
    path = tmp_path_factory.mktemp("plugin") / "my_strategy.py"
    path.write_text(COOKBOOK)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with STRATEGIES.scoped():
        runpy.run_path(str(path))
        yield
    torch.set_num_threads(threads)


def config_of(name: str, settings: dict | None = None):
    overrides = [f"strategy.{name}.{key}={json.dumps(value)}" for key, value in (settings or {}).items()]
    return load_config("synth", [*SMALL, *overrides], strategy__name=name)


@pytest.fixture(scope="module")
def batch():
    config = load_config("synth", SMALL)
    index = load_index(config.data)
    dataset = ClipDataset(index.protocol(TARGET)["train"], config.data.modalities, config.data, index.sources(TARGET))
    return next(iter(torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=True,
                                                 generator=torch.Generator().manual_seed(0))))


def skip_if_it_reads_other_runs(name: str) -> None:
    """UMT reads its unimodal teacher runs, which these tests do not train: tests/strategies/test_umt.py
    checks the same contracts with teachers."""
    if STRATEGIES.get(name).required_runs(config_of(name), TARGET):
        pytest.skip(f"{name} reads other runs (its teachers); its own tests check this contract with them")


def one_step(name: str, batch, settings: dict | None = None):
    """A fresh model (seed 0) as the engine builds it for `name`, one backward: (model, diagnostics)."""
    config = config_of(name, settings)
    torch.manual_seed(0)
    model = run_model(config, config.data.synth.classes, len(config.data.synth.domains) - 1, "cpu")
    cls = STRATEGIES.get(name)
    strategy = cls(cls.Params(**config.strategy.params), model, config.seed)
    strategy.epoch = 1  # as start_epoch(1) sets it, without the held-out loaders Gradient-Blending would read
    return model, strategy.backward(step_losses(model, batch, config))


def grads(model, params=None) -> list[torch.Tensor]:
    return [p.grad if p.grad is not None else torch.zeros_like(p) for p in (params or list(model.parameters()))]


def assert_same_gradients(got: list[torch.Tensor], want: list[torch.Tensor]) -> None:
    """Equal up to float32 summation order (a strategy may add the same terms in another order)."""
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-6 * float(w.abs().max()) + 1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_diagnostics_and_gradients_are_finite(name, batch):
    skip_if_it_reads_other_runs(name)
    model, diagnostics = one_step(name, batch)
    assert all(math.isfinite(value) for value in diagnostics.values()), diagnostics
    assert all(torch.isfinite(g).all() for g in grads(model))
    assert any(g.abs().sum() > 0 for g in grads(model, [p for m in model.modalities
                                                      for p in model.encoder_parameters(m)]))


@pytest.mark.parametrize("name", NAMES)
def test_heads_receive_baselines_gradients(name, batch):
    if STRATEGIES.info(name).get("reweighs_heads"):
        pytest.skip(f"{name} reweighs the heads' losses (its registry info says reweighs_heads)")
    skip_if_it_reads_other_runs(name)
    model, _ = one_step(name, batch)
    reference, _ = one_step("baseline", batch)
    assert_same_gradients(grads(model, head_parameters(model)), grads(reference, head_parameters(reference)))


@pytest.mark.parametrize("name", NAMES)
def test_the_neutral_setting_equals_baseline(name, batch):
    neutral = STRATEGIES.info(name).get("neutral")
    if neutral is None:
        pytest.skip(f"{name} registers no neutral setting (no setting of it reduces to baseline)")
    model, _ = one_step(name, batch, neutral)
    reference, _ = one_step("baseline", batch)
    assert_same_gradients(grads(model), grads(reference))


def test_a_non_neutral_setting_differs_from_baseline(batch):
    """The neutral test can fail: the cookbook strategy at its default beta does not equal baseline."""
    name = registered_name(COOKBOOK)
    model, _ = one_step(name, batch)
    reference, _ = one_step("baseline", batch)
    with pytest.raises(AssertionError):
        assert_same_gradients(grads(model), grads(reference))


class StopAfterFirstEpoch(NullProgress):
    def end_epoch(self, line):
        raise KeyboardInterrupt


def metric_lines(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / METRICS).read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_run_and_resume_equals_uninterrupted(name, tmp_path):
    skip_if_it_reads_other_runs(name)
    whole = train_run(config_of(name), TARGET, tmp_path / "whole")
    again = train_run(config_of(name), TARGET, tmp_path / "again")
    assert metric_lines(again.path) == metric_lines(whole.path)
    with pytest.raises(KeyboardInterrupt):
        train_run(config_of(name), TARGET, tmp_path / "cut", progress=StopAfterFirstEpoch())
    resumed = train_run(config_of(name), TARGET, tmp_path / "cut")
    assert metric_lines(resumed.path) == metric_lines(whole.path)
