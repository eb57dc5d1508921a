"""One error boundary for every command: an unexpected exception (a bug of ours, not the user's
mistake) is one sentence saying so, a crash report holding the traceback, and exit code 70; a user's
mistake stays one sentence and exit 2; a closed pipe is a quiet exit."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mmdg_bench.cli import app
from tests.conftest import TINY
from tests.doc.test_docs import commands

runner = CliRunner()
HELP_ONLY = {("data",), ("weights",), ("features",)}
# Each command, the arguments it needs to reach its work, and the function of mmdg_bench.api it calls.
WORK = {
    ("run",): ([], "runs:resolve_runs"),
    ("compare",): (["{tmp}"], "results:compare_groups"),
    ("plot",): (["{tmp}"], "results:plot"),
    ("report",): (["{tmp}", "--out", "{tmp}/report.html"], "reports:report"),
    ("evaluate",): (["{tmp}"], "evaluation:evaluate"),
    ("strategies",): ([], "catalogue:strategies"),
    ("methods",): ([], "catalogue:methods"),
    ("bench",): (["--part", "compare"], "benchmarks:bench"),
    ("presets",): ([], "catalogue:presets"),
    ("presets", "show"): (["synth"], "catalogue:presets_show"),
    ("presets", "copy"): (["synth", "{tmp}/mine.yaml"], "catalogue:presets_copy"),
    ("presets", "validate"): (["synth"], "catalogue:presets_validate"),
    ("data", "synth"): (["--out", "{tmp}/synth"], "data:data_synth"),
    ("data", "index"): ([], "data:data_index"),
    ("data", "verify"): ([], "data:data_verify"),
    ("data", "extract-audio"): (["--data-root", "{tmp}"], "data:data_extract_audio"),
    ("data", "download"): (["--dataset", "hac", "--root", "{tmp}"], "data:data_download"),
    ("sweep",): ([], "sweeps:sweep"),
    ("sweep", "status"): (["--out", "{tmp}"], "sweeps:sweep_status"),
    ("weights", "list"): ([], "weights:weights_list"),
    ("weights", "download"): ([], "weights:weights_download"),
    ("weights", "check"): (["file.pth"], "weights:weights_check"),
    ("features", "build"): ([], "features:features_build"),
    ("features", "verify"): ([], "features:features_verify"),
}


def test_every_command_is_covered_here():
    assert set(WORK) == set(commands()) - HELP_ONLY


@pytest.mark.parametrize("path", sorted(WORK), ids=" ".join)
def test_an_unexpected_error_in_any_command_is_one_sentence_a_crash_report_and_exit_70(path, tmp_path, monkeypatch):
    args, target = WORK[path]
    module, function = target.split(":")

    def broken(*args, **kwargs):
        raise RuntimeError("injected failure\nsecond line")

    monkeypatch.setattr(f"mmdg_bench.api.{module}.{function}", broken)
    result = runner.invoke(app, [*path, *(a.format(tmp=tmp_path) for a in args)])
    message = result.stderr.strip()
    assert result.exit_code == 70, result.output
    assert "\n" not in message and message.startswith("error: RuntimeError: injected failure - an unexpected error")
    report = message.split("the traceback is in ")[1].split("; please")[0]
    with open(report) as written:
        text = written.read()
    assert "Traceback" in text and "injected failure" in text and "command:" in text


def test_a_crash_inside_a_run_leaves_its_report_in_the_run_folder(tmp_path, monkeypatch):
    def broken_epoch(*args, **kwargs):
        raise ZeroDivisionError("injected in the epoch loop")

    monkeypatch.setattr("mmdg_bench.engine.train.train_epoch", broken_epoch)
    args = ["run", "--target", "day", "--out", str(tmp_path), *[a for o in TINY for a in ("--set", o)]]
    result = runner.invoke(app, args)
    assert result.exit_code == 70, result.output
    (report,) = tmp_path.glob("*/crash-*.txt")
    assert "injected in the epoch loop" in report.read_text() and str(report) in result.stderr


def test_a_users_mistake_is_still_exit_2_not_a_bug():
    result = runner.invoke(app, ["run", "--strategy", "nope"])
    assert result.exit_code == 2 and "bug" not in result.stderr


@pytest.mark.e2e
def test_output_into_a_closed_pipe_ends_quietly():
    """`mmdg-bench ... | head` when head has already gone: no traceback, no "Exception ignored"."""
    proc = subprocess.Popen([sys.executable, "-m", "mmdg_bench", "strategies"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # the reader leaves before the first line is written
    stderr = proc.stderr.read()
    assert proc.wait(timeout=120) == 0 and stderr == "", stderr
