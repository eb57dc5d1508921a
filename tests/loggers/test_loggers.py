"""Experiment trackers: each tracker's output is read back with the tracker's own reader (no mocks)."""

import csv
import json
import sys

import pytest

from mmdg_bench.engine import train_run
from mmdg_bench.engine.run_folder import METRICS
from mmdg_bench.errors import UserError
from mmdg_bench.loggers import make_loggers
from mmdg_bench.loggers.base import LOGS


def epoch_lines(folder):
    return [json.loads(line) for line in (folder / METRICS).read_text().splitlines()]


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory):
    """One tiny gmp run (it has strategy diagnostics) logged by three trackers at once."""
    from mmdg_bench.config import load_config
    from tests.conftest import TINY

    config = load_config("synth", [*TINY, "loggers=[csv,tensorboard,mlflow]"], strategy__name="gmp")
    return train_run(config, "day", tmp_path_factory.mktemp("runs"))


@pytest.mark.e2e
def test_csv_has_one_row_per_epoch_with_the_metrics_and_diagnostics(logged_run):
    rows = list(csv.DictReader((logged_run.path / LOGS / "metrics.csv").open()))
    lines = epoch_lines(logged_run.path)
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[1]["target/fused"]) == pytest.approx(lines[1]["target"]["fused"])
    assert float(rows[0]["strategy/video/rho"]) == pytest.approx(lines[0]["strategy"]["video/rho"])


@pytest.mark.e2e
def test_tensorboard_event_files_hold_every_epoch(logged_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(logged_run.path / LOGS / "tensorboard")).Reload()
    lines = epoch_lines(logged_run.path)
    fused = events.Scalars("val/fused")
    assert [e.step for e in fused] == [1, 2]
    assert [e.value for e in fused] == pytest.approx([line["val"]["fused"] for line in lines])
    assert "strategy/audio/sigma" in events.Tags()["scalars"]
    assert "config/text_summary" in events.Tags()["tensors"]


@pytest.mark.e2e
def test_mlflow_file_store_holds_config_metrics_and_summary(logged_run, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")

    client = MlflowClient(tracking_uri=(logged_run.path / LOGS / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("mmdg-bench").experiment_id])
    assert run.info.run_name == logged_run.path.name and run.info.status == "FINISHED"
    assert run.data.params["strategy.name"] == "gmp" and run.data.params["optim.epochs"] == "2"
    history = client.get_metric_history(run.info.run_id, "target/fused")
    lines = epoch_lines(logged_run.path)
    assert [m.step for m in history] == [1, 2]
    assert [m.value for m in history] == pytest.approx([line["target"]["fused"] for line in lines])
    assert "strategy/video/k" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "summary.json"} <= artifacts


@pytest.mark.e2e
def test_wandb_offline_run_keeps_the_config(tiny_config, tmp_path):
    pytest.importorskip("wandb", reason="wandb is not installable here")
    result = train_run(tiny_config("optim.epochs=1", "loggers=[wandb]"), "day", tmp_path)
    (offline,) = (result.path / LOGS / "wandb").glob("offline-run-*")
    (records,) = offline.glob("run-*.wandb")  # wandb's offline log: protobuf records, strings stored as they are
    data = records.read_bytes()
    assert result.path.name.encode() in data  # the run's name
    assert b"train_per_class" in data and b"target/fused" in data  # its config and its metrics


def test_a_tracker_that_is_not_installed_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what `import mlflow` meets when it is absent
    with pytest.raises(UserError, match=r"pip install 'mmdg-bench\[mlflow\]'"):
        make_loggers(["csv", "mlflow"])


def test_an_unknown_tracker_is_refused_with_a_suggestion(tiny_config, tmp_path):
    with pytest.raises(UserError, match="unknown logger 'tensorbord' .did you mean 'tensorboard'"):
        train_run(tiny_config("loggers=[tensorbord]"), "day", tmp_path)
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".")]  # refused before any run folder


@pytest.mark.slow
def test_a_resumed_training_continues_its_mlflow_run(tiny_config, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from tests.engine.test_engine import InterruptAfterFirstEpoch

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    config = tiny_config("loggers=[mlflow]", strategy__name="gmp")
    with pytest.raises(KeyboardInterrupt):
        train_run(config, "day", tmp_path, progress=InterruptAfterFirstEpoch())
    result = train_run(config, "day", tmp_path)
    client = MlflowClient(tracking_uri=(result.path / LOGS / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("mmdg-bench").experiment_id])
    assert run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val/fused")] == [1, 2]
