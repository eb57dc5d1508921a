"""The command line as a user types it: the contract's commands and every bad input."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mmdg_bench.cli import app
from mmdg_bench.config import SynthConfig
from mmdg_bench.data.synthetic import class_names, generate
from tests.conftest import TINY

runner = CliRunner()
TINY_ARGS = [arg for override in TINY for arg in ("--set", override)]


def invoke(*args):
    return runner.invoke(app, list(args))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return generate(SynthConfig(train_per_class=2, test_per_class=1), tmp_path_factory.mktemp("d") / "synth")


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    for seed in ("0", "1"):
        result = invoke("run", "--out", str(out), "--seed", seed, *TINY_ARGS)
        assert result.exit_code == 0, result.output
    return out, result


def assert_user_error(result, *fragments):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    message = result.stderr.strip()
    assert message.startswith("error:") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_run_trains_every_held_out_domain(finished_runs):
    out, result = finished_runs
    assert "Accuracy (%) at the best source-validation epoch" in result.output
    for domain in ("day", "night", "toon"):
        assert domain in result.output
    assert len(list(out.glob("synth__baseline__*__seed1__*/done"))) == 3


def test_compare_formats(finished_runs):
    out, _ = finished_runs
    md = invoke("compare", str(out), "--format", "md")
    assert md.exit_code == 0
    assert "| strategy | day | night | toon | Avg |" in md.output
    assert "(n=2)" in md.output and "| strategy | video (target) | audio (target) | fused (target) | video (val) | audio (val) | fused (val) |" in md.output
    rows = invoke("compare", str(out), "--format", "csv").output.splitlines()
    assert rows[0] == "preset,dataset,selection,table,strategy,column,mean,std,n,ci_low,ci_high,p"
    assert len(rows) == 1 + 4 + 6
    tables = json.loads(invoke("compare", str(out), "--format", "json").output)
    assert [cell["n"] for cell in tables[0]["cells"]] == [2, 2, 2, 2]
    table = invoke("compare", str(out), "--selection", "oracle")
    assert table.exit_code == 0 and "selection oracle" in table.output


def test_listing_commands():
    assert "baseline" in invoke("strategies").output
    assert "synth" in invoke("presets").output
    shown = invoke("presets", "show", "synth").output
    assert shown.startswith("# synth:") and "mmdg-bench run --preset synth" in shown


def test_data_synth_writes_the_hac_layout(tmp_path):
    out = tmp_path / "s"
    result = invoke("data", "synth", "--out", str(out), "--seed", "3")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "synth.json").read_text())["seed"] == 3
    assert (out / "HAC_Splits" / "HAC_test_only_toon.csv").is_file()
    assert "already" in invoke("data", "synth", "--out", str(out), "--seed", "3").output


@pytest.mark.parametrize("args, fragments", [
    (["run", "--strategy", "baselin"], ["unknown strategy 'baselin'", "did you mean 'baseline'"]),
    (["run", "--preset", "synt"], ["unknown preset 'synt'", "did you mean 'synth'"]),
    (["run", "--target", "dusk"], ["unknown target domain 'dusk'", "day, night, toon"]),
    (["run", "--set", "optim.lrr=1"], ["unknown setting 'optim.lrr'", "did you mean 'lr'"]),
    (["run", "--data-root", "/nonexistent/data"], ["data root /nonexistent/data does not exist"]),
    (["compare", "/nonexistent/results"], ["results folder /nonexistent/results does not exist"]),
    (["presets", "show", "nope"], ["unknown preset 'nope'"]),
])
def test_bad_input_is_one_sentence_and_exit_2(args, fragments):
    assert_user_error(invoke(*args), *fragments)


def test_malformed_preset(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("optim: {lr: 1e-3\n")
    assert_user_error(invoke("run", "--preset", str(bad)), "not valid YAML")


def test_compare_of_a_folder_without_runs(tmp_path):
    assert_user_error(invoke("compare", str(tmp_path)), "no finished runs")


def copy_dataset(dataset, tmp_path):
    import shutil

    return shutil.copytree(dataset, tmp_path / "data")


def test_missing_media_file_is_named(dataset, tmp_path):
    root = copy_dataset(dataset, tmp_path)
    missing = root / "day" / "videos" / f"{class_names(4)[1]}_train_000.mp4"
    missing.unlink()
    out = tmp_path / "runs"
    result = invoke("run", "--data-root", str(root), "--target", "toon", "--out", str(out), *TINY_ARGS)
    assert_user_error(result, str(missing), "file not found")
    assert not out.exists()  # nothing half-written


def test_corrupt_media_file_is_named_or_skipped(dataset, tmp_path):
    root = copy_dataset(dataset, tmp_path)
    corrupt = root / "night" / "audio" / f"{class_names(4)[0]}_test_000.wav"
    corrupt.write_bytes(b"RIFF....not really a wav")
    run = ["run", "--data-root", str(root), "--target", "night", "--out", str(tmp_path / "runs"), *TINY_ARGS]
    assert_user_error(invoke(*run), str(corrupt), "not decodable")
    skipped = invoke(*run, "--set", "data.on_corrupt=skip")
    assert skipped.exit_code == 0, skipped.output
    assert "skipped 1 unreadable clip(s)" in skipped.output
    (summary,) = (tmp_path / "runs").glob("*/summary.json")
    assert json.loads(summary.read_text())["clips"]["target"] == 3 * 4 - 1


def test_the_installed_entry_point_fails_cleanly():
    proc = subprocess.run([sys.executable, "-m", "mmdg_bench", "run", "--strategy", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: unknown strategy 'nope'") and "Traceback" not in proc.stderr
