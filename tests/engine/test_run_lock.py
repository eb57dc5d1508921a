"""One trainer per run folder: a lock that the OS releases when its holder dies, tested with real
processes started together (two `run`s, two `sweep`s) and a holder killed with SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from mmdg_bench.cli import app
from mmdg_bench.engine.run_folder import DONE, METRICS, RunFolder, RunFolderBusy
from mmdg_bench.sweep.plan import plan_sweep
from tests.conftest import TINY

runner = CliRunner()
SET = [arg for override in [*TINY, "optim.epochs=3", "threads=1"] for arg in ("--set", override)]


def epochs_of(folder):
    return [json.loads(line)["epoch"] for line in (folder / METRICS).read_text().splitlines()]


def start(*args):
    return subprocess.Popen([sys.executable, "-m", "mmdg_bench", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def finish(procs, timeout=240):
    try:
        return [(p.wait(timeout=timeout), *p.communicate()) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)


def hold_lock(folder, seconds: float):
    """A separate process that holds `folder`'s lock for `seconds` (printing "held" once it does)."""
    code = textwrap.dedent(f"""
        import time
        from mmdg_bench.engine.run_folder import RunFolder
        with RunFolder({str(folder)!r}).lock():
            print("held", flush=True)
            time.sleep({seconds})
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.e2e
def test_a_locked_folder_is_refused_and_a_dead_holders_lock_is_free(tmp_path):
    folder = RunFolder(tmp_path / "runs" / "synth__baseline__day__seed0__abc")
    holder = hold_lock(folder.path, 60)
    try:
        assert folder.is_locked()
        with pytest.raises(RunFolderBusy, match=f"pid {holder.pid} on "):
            with folder.lock():
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert not folder.is_locked()  # released by the OS: a killed trainer never blocks a resume
    with folder.lock():
        assert not folder.path.exists()  # the lock lives outside the folder that start() recreates


@pytest.mark.e2e
def test_two_runs_started_together_train_each_epoch_once(tmp_path):
    out = tmp_path / "runs"
    args = ["run", "--target", "day", "--out", str(out), *SET]
    results = finish([start(*args), start(*args)])
    (folder,) = [p.parent for p in out.glob(f"*/{DONE}")]
    assert epochs_of(folder) == [1, 2, 3]
    codes = sorted(code for code, _, _ in results)
    assert codes in ([0, 0], [0, 2]), results  # [0, 0]: the second started after the first finished
    for code, stdout, stderr in results:
        if code == 2:
            assert stderr.startswith("error: run folder ") and "is being trained by another process" in stderr
            assert stderr.count("\n") == 1 and "Traceback" not in stderr
        else:
            assert "Traceback" not in stderr


@pytest.mark.e2e
def test_two_sweeps_started_together_share_the_grid(tmp_path):
    out = tmp_path / "runs"
    args = ["sweep", "--strategies", "baseline", "--targets", "day,night", "--seeds", "0", "--out", str(out), *SET]
    results = finish([start(*args), start(*args)])
    assert [code for code, _, _ in results] == [0, 0], results
    folders = [p.parent for p in out.glob(f"*/{DONE}")]
    assert len(folders) == 2
    for folder in folders:
        assert epochs_of(folder) == [1, 2, 3]
    trained = sum(stdout.count("\ndone ") + stdout.startswith("done ") for _, stdout, _ in results)
    assert trained == 2, results  # each run trained by one of the two sweeps


@pytest.mark.e2e
def test_a_sweep_leaves_a_busy_run_to_its_trainer_and_comes_back_to_it(tmp_path):
    out = tmp_path / "runs"
    overrides = [*TINY, "optim.epochs=3", "threads=1"]
    day = next(s for s in plan_sweep("synth", "baseline", "day", "0", overrides, out) if s.target == "day")
    holder = hold_lock(day.folder(), 4)  # dies without training it: the sweep must train it after all
    try:
        result = runner.invoke(app, ["sweep", "--strategies", "baseline", "--targets", "day,night", "--seeds", "0",
                                     "--out", str(out), *SET])
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    busy = lines.index(next(line for line in lines if line.startswith("running elsewhere")))
    assert "baseline/day/seed0" in lines[busy]
    night_done = lines.index("done baseline/night/seed0")
    day_done = lines.index("done baseline/day/seed0")
    assert busy < night_done < day_done  # skipped first, trained at the end
    assert "finished: 2 trained, 0 failed" in result.output
    assert epochs_of(day.folder()) == [1, 2, 3]


@pytest.mark.e2e
def test_sweep_status_shows_a_locked_run_as_running(tmp_path):
    out = tmp_path / "runs"
    dry = runner.invoke(app, ["sweep", "--strategies", "baseline", "--targets", "day", "--seeds", "0",
                              "--out", str(out), *SET, "--dry-run"])
    assert dry.exit_code == 0
    (spec,) = plan_sweep("synth", "baseline", "day", "0", [*TINY, "optim.epochs=3", "threads=1"], out)
    holder = hold_lock(spec.folder(), 60)
    try:
        listed = runner.invoke(app, ["sweep", "--strategies", "baseline", "--targets", "day", "--seeds", "0",
                                     "--out", str(out), *SET, "--dry-run"])
        assert "running" in listed.output.splitlines()[1]
    finally:
        holder.kill()
        holder.wait()
    again = runner.invoke(app, ["sweep", "--strategies", "baseline", "--targets", "day", "--seeds", "0",
                                "--out", str(out), *SET, "--dry-run"])
    assert "pending" in again.output.splitlines()[1]


def test_a_run_refused_before_its_folder_exists_leaves_nothing_behind(tmp_path):
    """It used to leave <out>/.locks/<run>.lock (and <out> itself, made only to hold it)."""
    refused = [*TINY, "optim.batch_size=4096"]  # more than the training split: refused after the lock
    fresh = tmp_path / "fresh"
    result = CliRunner().invoke(app, ["run", "--target", "day", "--out", str(fresh), *sum(
        (["--set", s] for s in refused), [])])
    assert result.exit_code == 2 and "fewer than one batch" in result.output, result.output
    assert not fresh.exists()
    kept = tmp_path / "kept"
    (kept / "mine.txt").parent.mkdir()
    (kept / "mine.txt").write_text("the user's")
    CliRunner().invoke(app, ["run", "--target", "day", "--out", str(kept), *sum((["--set", s] for s in refused), [])])
    assert sorted(p.name for p in kept.iterdir()) == ["mine.txt"]


def test_a_lock_file_removed_by_its_holder_is_not_locked_again(tmp_path):
    """A process that opened the lock file before its holder removed it must not lock that removed file:
    `same_file` tells it so, and it opens the path anew."""
    from mmdg_bench.engine.run_folder import exclusive_lock, same_file

    path = tmp_path / ".locks" / "run.lock"
    with exclusive_lock(path, "run", discard=lambda: True):
        assert path.exists()
    assert not path.exists() and not path.parent.exists()
    path.parent.mkdir()
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    assert same_file(fd, path)
    path.unlink()
    assert not same_file(fd, path)
    path.touch()  # the next process's new lock file
    assert not same_file(fd, path)
    os.close(fd)
    with exclusive_lock(path, "run"):
        assert json.loads(path.read_text())["pid"] == os.getpid()
