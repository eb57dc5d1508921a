"""The step bench times what a run does (issue 21): the run's prepared encoders, one strategy's model at
a time, so each strategy's peak memory is its own."""

import gc
import weakref

import pytest

from mmdg_bench.bench import step as step_bench
from mmdg_bench.bench.step import input_shapes, measure_steps, random_batch, strategy_configs
from tests.bench.test_step import TINY


@pytest.mark.slow
def test_each_strategy_is_prepared_as_a_run_and_measured_alone(monkeypatch):
    prepared, models, alive_at_build = [], [], []
    prepare = step_bench.prepare_encoders
    build = step_bench.build_stepper

    def recording_prepare(model, device, channels_last, compile_encoders):
        prepared.append((id(model), device, channels_last, compile_encoders))
        return prepare(model, device, channels_last, compile_encoders)

    def counting_build(*args, **kwargs):
        gc.collect()
        alive_at_build.append(sum(ref() is not None for ref in models))
        stepper = build(*args, **kwargs)
        models.append(weakref.ref(stepper.model))
        return stepper

    monkeypatch.setattr(step_bench, "prepare_encoders", recording_prepare)
    monkeypatch.setattr(step_bench, "build_stepper", counting_build)
    strategies = ["baseline", "ogm-ge", "gmp"]
    configs = strategy_configs("hac_paper", 1, [*TINY, "channels_last=true"], strategies)
    config = configs["baseline"]
    batch = random_batch(input_shapes(config), 1, 7, "cpu")
    rows = measure_steps(configs, 7, "cpu", batch, repeats=1)
    assert [r["strategy"] for r in rows] == strategies and all(r["error"] is None for r in rows), rows
    assert all(r["peak_mib"] is None or r["peak_mib"] > 0 for r in rows)
    assert alive_at_build == [0, 0, 0]  # the previous strategy's model is gone before the next is built
    assert [p[1:] for p in prepared] == [("cpu", True, False)] * 3  # the run's own preparation, its settings
    assert len({p[0] for p in prepared}) == 3  # each strategy's model is prepared
