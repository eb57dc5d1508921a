"""What a user sees while waiting: epoch lines in a sweep, the decoding and generation progress,
"resuming from epoch N", a damaged checkpoint that forces a restart, a failed run's reason."""

import json

import pytest
from typer.testing import CliRunner

from mmdg_bench.cli import app
from mmdg_bench.data.synthetic import generate
from mmdg_bench.engine import train_run
from mmdg_bench.engine.checkpoint import CHECKPOINT
from mmdg_bench.engine.run_folder import DONE, METRICS
from mmdg_bench.engine.train import NullProgress
from mmdg_bench.settings import SynthConfig
from tests.conftest import TINY

runner = CliRunner()
SET = [arg for override in TINY for arg in ("--set", override)]


def epochs_of(folder):
    return [json.loads(line)["epoch"] for line in (folder / METRICS).read_text().splitlines()]


class Recording(NullProgress):
    def __init__(self, stop_after: int | None = None):
        self.decoded, self.stop_after = [], stop_after

    def decoding(self, split, done, total):
        self.decoded.append((split, done, total))

    def end_epoch(self, line):
        if line["epoch"] == self.stop_after:
            raise KeyboardInterrupt  # as Ctrl-C after the epoch's checkpoint


@pytest.mark.slow
def test_sweep_prints_a_line_per_finished_epoch(tmp_path):
    result = runner.invoke(app, ["sweep", "--strategies", "baseline", "--targets", "day", "--seeds", "0",
                                 "--out", str(tmp_path), *SET])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("baseline/day/seed0 epoch")]
    assert [line.split(":")[0] for line in lines] == ["baseline/day/seed0 epoch 1/2", "baseline/day/seed0 epoch 2/2"]
    assert all("val " in line and "target " in line for line in lines)


@pytest.mark.slow
def test_run_into_a_pipe_prints_its_folder_then_a_line_per_epoch(tmp_path):
    """A live bar into a pipe showed only its last state, the folder's name crowding out the epoch
    count at 80 columns ("synth__...__7827080d51 epochs val 88.3%")."""
    result = runner.invoke(app, ["run", "--target", "day", "--out", str(tmp_path), *SET], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    (folder,) = [p.name for p in tmp_path.iterdir() if p.name.startswith("synth__")]
    start = lines.index(f"training {folder}")
    assert [line.split(":")[0] for line in lines[start + 1:start + 3]] == ["epoch 1/2", "epoch 2/2"]
    assert all(len(line) <= 80 for line in lines[start:start + 3])


def test_the_live_bar_names_the_run_on_its_own_line(tmp_path):
    import io

    from rich.console import Console

    from mmdg_bench.progress import RichProgress

    console = Console(file=io.StringIO(), width=80, force_terminal=True, color_system=None)
    with RichProgress(console) as progress:
        progress.start_run("synth__gmp-fixed-proj-cls__day__seed0__7827080d51", 2, 8)
        progress.end_epoch({"epoch": 1, "val": {"fused": 56.2}, "target": {"fused": 8.3}})
    shown = console.file.getvalue()
    assert "training synth__gmp-fixed-proj-cls__day__seed0__7827080d51" in shown
    assert "1/2 val 56.2%  target 8.3%" in shown


@pytest.mark.slow
def test_clips_decoded_before_training_are_reported(tiny_config, tmp_path):
    progress = Recording()
    train_run(tiny_config(), "toon", tmp_path, progress=progress)
    finals = {split: (done, total) for split, done, total in progress.decoded}
    assert set(finals) >= {"train", "val", "target"}
    assert all(done == total > 0 for done, total in finals.values())
    skipping = Recording()
    train_run(tiny_config("data.on_corrupt=skip"), "toon", tmp_path, progress=skipping)
    assert skipping.decoded and skipping.decoded[-1][1] == skipping.decoded[-1][2]


def test_synth_generation_reports_every_clip(tmp_path):
    reports = []
    cfg = SynthConfig(train_per_class=1, test_per_class=1, classes=2, domains=["a", "b"])
    generate(cfg, tmp_path / "s", lambda done, total: reports.append((done, total)))
    assert reports == [(i, 8) for i in range(1, 9)]


@pytest.mark.slow
def test_a_resumed_run_says_where_it_resumes(tiny_config, tmp_path):
    config = tiny_config("optim.epochs=3")
    with pytest.raises(KeyboardInterrupt):
        train_run(config, "day", tmp_path, progress=Recording(stop_after=1))
    result = runner.invoke(app, ["run", "--target", "day", "--out", str(tmp_path), *SET, "--set", "optim.epochs=3"])
    assert result.exit_code == 0, result.output
    assert "resuming from epoch 2 of 3" in result.output
    (folder,) = [p.parent for p in tmp_path.glob(f"*/{DONE}")]
    assert epochs_of(folder) == [1, 2, 3]


@pytest.mark.slow
def test_a_damaged_checkpoint_restarts_the_run_and_says_so(tiny_config, tmp_path):
    config = tiny_config("optim.epochs=3")
    with pytest.raises(KeyboardInterrupt):
        train_run(config, "day", tmp_path, progress=Recording(stop_after=2))
    (checkpoint,) = tmp_path.glob(f"*/{CHECKPOINT}")
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])  # cut short, as by a full disk
    result = runner.invoke(app, ["run", "--target", "day", "--out", str(tmp_path), *SET, "--set", "optim.epochs=3"])
    assert result.exit_code == 0, result.output
    warning = result.stderr.strip()
    assert warning.startswith(f"warning: the checkpoint {checkpoint} is damaged") and "\n" not in warning
    assert warning.endswith("the run starts over from epoch 1")
    assert "resuming" not in result.output
    assert epochs_of(checkpoint.parent) == [1, 2, 3]


@pytest.mark.slow
def test_a_sweep_tells_a_damaged_checkpoint_too(tiny_config, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train_run(tiny_config(), "day", tmp_path, progress=Recording(stop_after=1))
    (checkpoint,) = tmp_path.glob(f"*/{CHECKPOINT}")
    checkpoint.write_bytes(b"not a checkpoint")
    result = runner.invoke(app, ["sweep", "--strategies", "baseline", "--targets", "day", "--seeds", "0",
                                 "--out", str(tmp_path), *SET])
    assert result.exit_code == 0, result.output
    assert f"warning: baseline/day/seed0: the checkpoint {checkpoint} is damaged" in result.output
