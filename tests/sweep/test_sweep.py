"""Sweeps: planning, skipping finished runs, recording failures, Slurm through submitit's debug
cluster, and a sweep killed mid-run that resumes without counting anything twice."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from mmdg_bench.cli import app
from mmdg_bench.engine.checkpoint import CHECKPOINT
from mmdg_bench.engine.run_folder import DONE, METRICS
from mmdg_bench.errors import UserError
from mmdg_bench.strategies import STRATEGIES, Strategy
from mmdg_bench.sweep.plan import parse_names, parse_seeds, plan_sweep
from mmdg_bench.sweep.status import sweep_status
from tests.conftest import TINY

runner = CliRunner()
SET = [arg for override in TINY for arg in ("--set", override)]


class FailingStrategy(Strategy):
    description = "test only: every step fails"

    def backward(self, step):
        raise RuntimeError("this strategy always fails")


@pytest.fixture
def failing_strategy():
    """A test-only strategy, registered for one test: it never leaks into the global registry."""
    with STRATEGIES.scoped():
        STRATEGIES.register("test-fails")(FailingStrategy)
        yield "test-fails"


def sweep(*args):
    return runner.invoke(app, ["sweep", *args, *SET])


def test_parse_seeds_and_names():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("3,0-1,3") == [0, 1, 3]
    with pytest.raises(UserError, match="must look like"):
        parse_seeds("a-b")
    assert parse_names("all", ["x", "y"], "target") == ["x", "y"]
    with pytest.raises(UserError, match="did you mean 'night'"):
        parse_names("day,nigth", ["day", "night"], "target domain")


def test_adding_a_strategy_never_changes_another_runs_seed_or_folder(tmp_path):
    one = plan_sweep("synth", "baseline", "all", "0-1", TINY, tmp_path)
    two = plan_sweep("synth", "gmp,baseline", "all", "0-1", TINY, tmp_path)
    folders = {spec.folder() for spec in two}
    assert all(spec.folder() in folders for spec in one)
    assert [s.seed for s in two if s.strategy == "baseline"] == [s.seed for s in one]


@pytest.mark.slow
def test_a_sweep_skips_what_is_done(tmp_path):
    out = str(tmp_path / "runs")
    first = sweep("--strategies", "baseline", "--targets", "day,toon", "--seeds", "0", "--out", out)
    assert first.exit_code == 0, first.output
    assert "finished: 2 trained, 0 failed" in first.output
    again = sweep("--strategies", "baseline", "--targets", "day,toon", "--seeds", "0", "--out", out)
    assert "2 done, 0 to run" in again.output and "finished: 0 trained" in again.output
    assert sweep_status(tmp_path / "runs").state.tolist() == ["done", "done"]


@pytest.mark.slow
def test_a_failed_run_is_recorded_and_the_sweep_carries_on(tmp_path, failing_strategy):
    out = str(tmp_path / "runs")
    result = sweep("--strategies", "test-fails,baseline", "--targets", "day", "--seeds", "0", "--out", out)
    assert result.exit_code == 1
    assert "finished: 1 trained, 1 failed" in result.output
    (error,) = (tmp_path / "runs").glob("synth__test-fails__*/error.txt")
    assert (f"failed test-fails/day/seed0: RuntimeError: this strategy always fails (details in {error})"
            in result.output.splitlines())
    table = sweep_status(tmp_path / "runs").set_index("strategy")
    assert table.loc["baseline", "state"] == "done"
    assert table.loc["test-fails", "state"] == "failed"
    assert "this strategy always fails" in table.loc["test-fails", "detail"]
    status = runner.invoke(app, ["sweep", "status", "--out", out])
    assert "1 done, 0 running, 1 failed, 0 interrupted, 0 pending" in status.output


@pytest.mark.e2e
def test_a_process_pool_trains_into_the_planned_folders(tmp_path):
    out = tmp_path / "runs"
    result = sweep("--strategies", "baseline,pcgrad", "--targets", "day", "--seeds", "0", "--out", str(out),
                   "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert sweep_status(out).state.tolist() == ["done", "done"]


def test_dry_run_trains_nothing(tmp_path):
    result = sweep("--strategies", "baseline", "--seeds", "0-1", "--out", str(tmp_path), "--dry-run")
    assert result.exit_code == 0 and result.output.count("pending") == 6
    assert not list(tmp_path.rglob(DONE))


@pytest.mark.slow
def test_submitit_debug_cluster_runs_the_job_array(tmp_path):
    pytest.importorskip("submitit")
    out = str(tmp_path / "runs")
    result = sweep("--strategies", "baseline", "--targets", "night", "--seeds", "0-1", "--out", out,
                   "--launcher", "submitit", "--cluster", "debug")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "runs").glob(f"*/{DONE}"))) == 2


def epochs_of(folder):
    return [json.loads(line)["epoch"] for line in (folder / METRICS).read_text().splitlines()]


@pytest.mark.e2e
def test_a_killed_sweep_resumes_and_counts_nothing_twice(tmp_path):
    out = tmp_path / "runs"
    args = ["sweep", "--strategies", "baseline", "--targets", "day,night", "--seeds", "0-1", "--out", str(out),
            *SET, "--set", "optim.epochs=4", "--set", "threads=1"]
    proc = subprocess.Popen([sys.executable, "-m", "mmdg_bench", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        # Kill once one run is done and another is part-way (it has a checkpoint, no done marker).
        while time.monotonic() < deadline and proc.poll() is None:
            done = list(out.glob(f"*/{DONE}"))
            partway = [p for p in out.glob(f"*/{CHECKPOINT}") if not (p.parent / DONE).exists()]
            if done and partway:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the sweep finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    states = sweep_status(out).state.tolist()
    assert "interrupted" in states and "done" in states and "running" not in states

    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    folders = [p.parent for p in out.glob(f"*/{DONE}")]
    assert len(folders) == 4
    for folder in folders:
        assert epochs_of(folder) == [1, 2, 3, 4]
        assert not (folder / CHECKPOINT).exists()
    assert sweep_status(out).state.tolist() == ["done"] * 4
    torch.set_num_threads(max(1, os.cpu_count() or 1))


def test_sweep_workers_are_pinned_round_robin_to_the_gpus(monkeypatch):
    """`sweep --jobs N` on a GPU machine: worker i sees the sweep's GPU i mod (number of GPUs)."""
    from multiprocessing import get_context

    from mmdg_bench.device import PINNED_GPU
    from mmdg_bench.sweep.launchers import pin_gpu

    counter = get_context("spawn").Value("i", 0)
    seen = []
    for _ in range(5):
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        monkeypatch.delenv(PINNED_GPU, raising=False)
        pin_gpu(counter, ["2", "3"])
        seen.append(os.environ["CUDA_VISIBLE_DEVICES"])
    assert seen == ["2", "3", "2", "3", "2"]


def test_a_sweep_plans_every_method_and_strategy(tmp_path):
    from mmdg_bench.sweep.plan import plan_sweep

    plan = plan_sweep("synth", "baseline,gmp", "toon", "0", TINY, tmp_path, methods="erm,rna-net")
    assert [(s.method, s.strategy) for s in plan] == [("erm", "baseline"), ("erm", "gmp"), ("rna-net", "baseline"),
                                                      ("rna-net", "gmp")]
    assert plan[2].folder().name.startswith("synth__rna-net+baseline__toon__seed0__")
    assert plan[0].folder().name.startswith("synth__baseline__toon__seed0__")


@pytest.mark.slow
def test_compare_counts_as_missing_only_what_the_sweeps_planned(tmp_path):
    """Two sweeps on purpose with different seeds (as `make leaderboard` runs its tables): nothing is
    missing; then a planned run whose folder is gone is named, with its settings."""
    out = str(tmp_path)
    base = ["sweep", "--targets", "toon", "--out", out, *SET]
    assert runner.invoke(app, [*base, "--strategies", "baseline,gmp", "--seeds", "0-1"]).exit_code == 0
    other_lr = [*base, "--strategies", "pcgrad", "--seeds", "0", "--set", "optim.lr=0.002"]
    assert runner.invoke(app, other_lr).exit_code == 0
    compared = runner.invoke(app, ["compare", out, "--format", "md"])
    assert compared.exit_code == 0 and "run(s) missing" not in compared.output  # the grid rule saw pcgrad/toon/seed1
    gone = next(p for p in tmp_path.iterdir() if "__pcgrad__" in p.name)
    (gone / DONE).unlink()
    compared = runner.invoke(app, ["compare", out, "--format", "md"])
    assert "1 run(s) missing: pcgrad/toon/seed0 [optim.lr=0.002]" in compared.output


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid`, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """Running (a zombie, exited but not reaped by whoever adopted it, is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.e2e
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc (Linux)")
def test_killing_a_sweep_kills_its_workers(tmp_path):
    """kill -9 of the sweep (an out-of-memory kill, a time limit) must not leave its pool workers training."""
    args = [sys.executable, "-m", "mmdg_bench", "sweep", "--strategies", "baseline,gmp", "--targets", "day",
            "--seeds", "0", "--jobs", "2", "--out", str(tmp_path), *SET, "--set", "optim.epochs=200"]
    sweep = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        while "epoch 1/200" not in sweep.stdout.readline():  # the workers are training
            assert sweep.poll() is None, "the sweep ended before its workers trained"
        workers = children_of(sweep.pid)
        assert workers
        os.kill(sweep.pid, signal.SIGKILL)
        sweep.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in workers if alive(pid)], "workers outlived their sweep"
    finally:
        if sweep.poll() is None:
            sweep.kill()
