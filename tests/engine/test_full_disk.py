"""A full disk: `run` and `sweep` end in one sentence (never a traceback), leave no temporary or
half-written file behind, and the same command succeeds once space is freed. The disk is a small
tmpfs mounted for the test (it needs root; elsewhere the tests are skipped and say why)."""

import os
import subprocess

import pytest
from typer.testing import CliRunner

from mmdg_bench.cli import app
from tests.conftest import TINY

pytestmark = pytest.mark.e2e  # it mounts a file system (mount, umount) and trains
SET = [arg for override in TINY for arg in ("--set", override)]
runner = CliRunner()


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], capture_output=True,
                             text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield disk
    subprocess.run(["umount", str(disk)], capture_output=True)


def fill(disk, leave: int):
    """A file that leaves `leave` bytes of the disk free; deleting it frees the space."""
    filler = disk / "filler"
    filler.write_bytes(b"\0" * (os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize - leave))
    return filler


def leftovers(disk):
    return sorted(p.name for p in disk.rglob(".*.tmp-*"))


@pytest.mark.parametrize("command", [["run", "--target", "day"], ["sweep", "--targets", "day", "--seeds", "0",
                                                                   "--strategies", "baseline"]])
def test_a_full_disk_is_one_sentence_and_the_retry_succeeds(small_disk, command):
    filler = fill(small_disk, 200_000)  # room for the config and a metrics line, not for a checkpoint
    out = small_disk / "runs"
    failed = runner.invoke(app, [*command, "--out", str(out), *SET])
    assert failed.exit_code in (1, 2) and "Traceback" not in failed.output, failed.output
    if command[0] == "run":
        assert failed.stderr.count("\n") == 1 and "the disk is full" in failed.stderr, failed.stderr
    else:  # a sweep carries on past a failed run, says so in a line, and exits 1
        assert "failed" in failed.stdout
    assert leftovers(small_disk) == []
    filler.unlink()
    retried = runner.invoke(app, [*command, "--out", str(out), *SET])
    assert retried.exit_code == 0, retried.output
    assert leftovers(small_disk) == [] and list(out.glob("*/done"))
    status = runner.invoke(app, ["sweep", "status", "--out", str(out)]) if command[0] == "sweep" else None
    assert status is None or status.exit_code == 0, status.output
