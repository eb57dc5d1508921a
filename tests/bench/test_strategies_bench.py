"""`bench --part strategies` times the model a run trains: its encoders prepared as the engine prepares
them (`prepare_encoders`: channels-last, compile) and its forward pass under the run's autocast."""

import pytest
import torch

import mmdg_bench.bench.strategies as bench
from mmdg_bench.config import load_config
from mmdg_bench.data import load_index
from tests.conftest import TINY


def test_the_strategy_bench_prepares_each_model_as_a_run_does(monkeypatch):
    prepared = []
    monkeypatch.setattr(bench, "prepare_encoders", lambda model, *args: prepared.append((model, *args)))
    overrides = [*TINY, "compile=true", "channels_last=true"]
    config = load_config("synth", overrides)
    index = load_index(config.data)
    target = index.domains[0]
    built = bench.build_bench("baseline", overrides, index, index.protocol(target), index.sources(target))
    assert prepared == [(built.model, config.device, True, True)]


@pytest.mark.slow  # it calls the bench's timed step (stubbed: seconds)
def test_the_strategy_bench_steps_under_the_runs_autocast(monkeypatch):
    seen = []

    def step_losses(model, batch, config):
        seen.append(torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None)
        raise StopIteration  # the step itself is not timed here

    monkeypatch.setattr(bench, "step_losses", step_losses)
    stub = bench.StrategyBench("baseline", torch.nn.Linear(1, 1), None, None, 1)
    for precision in ("bf16", "fp32"):
        try:
            bench.time_step(stub, {}, load_config("synth", [*TINY, f"precision={precision}", "device=cpu"]))
        except StopIteration:
            pass
    assert seen == [torch.bfloat16, None]
