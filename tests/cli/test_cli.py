"""The command line as a user types it: the contract's commands and every bad input."""

import json
import os
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from mmdg_bench.cli import app
from mmdg_bench.data.synthetic import class_names, generate
from mmdg_bench.settings import SynthConfig, read_preset
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


@pytest.mark.slow
def test_run_trains_every_held_out_domain(finished_runs):
    out, result = finished_runs
    assert "accuracy (%) at the best source-validation epoch" in result.output.lower()
    for domain in ("day", "night", "toon"):
        assert domain in result.output
    assert len(list(out.glob("synth__baseline__*__seed1__*/done"))) == 3


@pytest.mark.slow
def test_compare_formats(finished_runs):
    out, _ = finished_runs
    md = invoke("compare", str(out), "--format", "md")
    assert md.exit_code == 0
    assert "| strategy | day | night | toon | Avg |" in md.output
    assert "(n=2)" in md.output
    assert ("| strategy | video (target) | audio (target) | fused (target) | video (val) | audio (val) | fused (val) |"
            in md.output)
    rows = invoke("compare", str(out), "--format", "csv").output.splitlines()
    assert rows[0] == "preset,dataset,selection,table,strategy,column,mean,std,n,ci_low,ci_high,p"
    assert len(rows) == 1 + 4 + 6
    tables = json.loads(invoke("compare", str(out), "--format", "json").output)
    assert [cell["n"] for cell in tables[0]["cells"]] == [2, 2, 2, 2]
    table = invoke("compare", str(out), "--selection", "oracle")
    assert table.exit_code == 0 and "selection oracle" in table.output


def test_listing_commands():
    assert "baseline" in invoke("strategies").output


def test_strategies_lists_family_paper_and_cost_whole_at_80_columns():
    listing = invoke("strategies").output  # the test runner's terminal is 80 columns wide
    assert "…" not in listing
    for line in ("agm  (AGM; family agm; Li et al., ICCV 2023; cost 1.15x)",
                 "mmpareto  (extra, not in the paper; family mmpareto; Wei and Hu, ICML 2024; cost 2.4x)",
                 "balgrad  (BalGrad; family balgrad; Kwon et al., NAACL 2025; cost 1.2x)"):
        assert line in listing
    assert "BalGrad (from the paper's text, no official code)" in listing
    assert "synth" in invoke("presets").output
    shown = invoke("presets", "show", "synth").output
    assert shown.startswith("# synth:") and "mmdg-bench run --preset synth" in shown


def test_data_synth_writes_the_hac_layout(tmp_path):
    out = tmp_path / "s"
    small = tmp_path / "small.yaml"  # the synth preset with a clip per class and split: the layout is the same
    preset = read_preset("synth")
    preset["data"].setdefault("synth", {}).update(train_per_class=1, test_per_class=1)
    small.write_text(yaml.safe_dump(preset))
    result = invoke("data", "synth", "--out", str(out), "--seed", "3", "--preset", str(small))
    assert result.exit_code == 0, result.output
    assert json.loads((out / "synth.json").read_text())["seed"] == 3
    assert (out / "HAC_Splits" / "HAC_test_only_toon.csv").is_file()
    assert "already" in invoke("data", "synth", "--out", str(out), "--seed", "3", "--preset", str(small)).output


@pytest.mark.parametrize("args, fragments", [
    (["run", "--strategy", "baselin"], ["unknown strategy 'baselin'", "did you mean 'baseline'"]),
    (["run", "--preset", "synt"], ["unknown preset 'synt'", "did you mean 'synth'"]),
    (["run", "--target", "dusk", *TINY_ARGS], ["unknown target domain 'dusk'", "day, night, toon"]),
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
    assert not list(out.glob("synth__*"))  # no run folder half-written (only the hidden .locks/)


@pytest.mark.slow
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


@pytest.mark.e2e
def test_the_installed_entry_point_fails_cleanly():
    proc = subprocess.run([sys.executable, "-m", "mmdg_bench", "run", "--strategy", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: unknown strategy 'nope'") and "Traceback" not in proc.stderr


@pytest.mark.e2e
def test_bare_command_prints_help_and_exits_0():
    proc = subprocess.run([sys.executable, "-m", "mmdg_bench"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: ") and "Commands:" in proc.stdout and "run" in proc.stdout


def every_command(group, path=()):
    """(path, click command) for every command and sub-command of the app."""
    import click

    yield path, group
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            yield from every_command(command, (*path, name))


def test_help_is_conventional():
    import typer.main

    for path, _ in every_command(typer.main.get_command(app)):
        result = invoke(*path, "--help")
        assert result.exit_code == 0, (path, result.output)
        assert "--help" in result.output
        assert "<bool>" not in result.output and "<list[" not in result.output, (path, result.output)
    run_help = invoke("run", "--help").output
    assert "--target DOMAIN" in run_help and "--set KEY=VALUE" in run_help and "--force " in run_help


@pytest.mark.slow
def test_printed_commands_quote_their_paths(tmp_path):
    out = tmp_path / "my runs"
    result = invoke("run", "--target", "day", "--out", str(out), *TINY_ARGS)
    assert result.exit_code == 0, result.output
    assert f"`mmdg-bench compare '{out}'`" in result.output


@pytest.mark.slow
def test_a_repeated_target_trains_and_prints_once(tmp_path):
    result = invoke("run", "--target", "night", "--target", "night", "--out", str(tmp_path), *TINY_ARGS)
    assert result.exit_code == 0, result.output
    assert len(list(tmp_path.glob("synth__*"))) == 1
    table = result.output[result.output.lower().index("accuracy (%)"):]
    assert table.count("night") == 1


def test_cuda_on_a_machine_without_it_is_one_sentence(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = invoke("run", "--target", "day", "--out", str(tmp_path), *TINY_ARGS, "--set", "device=cuda")
    assert_user_error(result, "'device' is cuda but CUDA is not available")


@pytest.mark.parametrize("args, fragments", [
    (["run", "--set", "optim.lr=nan"], ["'optim.lr' must be a number > 0, got nan"]),
    (["run", "--set", "optim.weight_decay=-1"], ["'optim.weight_decay' must be a number >= 0"]),
    (["run", "--set", "data.num_workers=-1"], ["'data.num_workers' must be a number >= 0"]),
    (["run", "--set", "threads=-3"], ["'threads' must be a number >= 0"]),
    (["run", "--set", "loss.domain_weight=-1"], ["'loss.domain_weight' must be a number >= 0"]),
    (["run", "--set", "device=gpu"], ["'device' must be cpu, cuda, cuda:N or auto"]),
    (["run", "--seed", "-2"], ["'seed' must be a number from 0"]),
    (["run", "--set", "data.video.crop_scale=[2, 1]"], ["[low, high]", "[2.0, 1.0]"]),  # brackets print as typed
    (["sweep", "--strategies", "", "--out", "/nonexistent/x"], ["no strategy given"]),
    (["sweep", "--targets", ",", "--out", "/nonexistent/x"], ["no target domain given"]),
    (["sweep", "--jobs", "0"], ["--jobs must be at least 1, got 0"]),
    (["sweep", "--slurm", "partition"], ["--slurm takes KEY=VALUE"]),
    (["presets", "validate", "/nonexistent/mine.yaml"], ["preset file /nonexistent/mine.yaml does not exist"]),
])
def test_more_bad_input_is_one_sentence_and_exit_2(args, fragments):
    assert_user_error(invoke(*args), *fragments)


def test_an_unknown_cluster_is_refused_by_the_parser():
    result = invoke("sweep", "--launcher", "submitit", "--cluster", "nonsense")
    assert result.exit_code == 2 and "Traceback" not in result.output
    # In our words, not click's "Invalid value for '--cluster': Value error, 'nonsense' is not one of ...".
    assert "--cluster must be one of slurm, local, debug, got 'nonsense'" in result.output
    assert "Value error" not in result.output


def test_a_librarys_warning_is_one_line():
    """Python prints a warning with its file, line and source code; a command prints one line."""
    import warnings

    from mmdg_bench.cli.common import errors, notices_as_lines

    with errors.capture() as captured, notices_as_lines():
        warnings.warn("something a library says", UserWarning, stacklevel=1)
    assert captured.get().strip() == "warning: UserWarning: something a library says"


def test_loader_workers_are_capped_to_the_machine_with_one_line():
    from mmdg_bench.device import usable_workers
    from mmdg_bench.errors import UserNotice

    cpus = len(os.sched_getaffinity(0))
    with pytest.warns(UserNotice, match=f"data.num_workers={cpus + 6} is more than the {cpus} CPUs here"):
        assert usable_workers(cpus + 6) == cpus
    assert usable_workers(cpus) == cpus and usable_workers(0) == 0


@pytest.mark.parametrize("command", [["run", "--target", "day"], ["sweep", "--targets", "day", "--seeds", "0"]])
def test_out_on_a_file_is_one_sentence(tmp_path, command):
    a_file = tmp_path / "results.txt"
    a_file.write_text("")
    assert_user_error(invoke(*command, "--out", str(a_file), *TINY_ARGS), f"--out {a_file} is a file, not a folder")


def test_a_path_component_over_255_characters_is_one_sentence(tmp_path):
    out = tmp_path / ("r" * 300)
    assert_user_error(invoke("run", "--target", "day", "--out", str(out), *TINY_ARGS),
                      "cannot use", "file name too long", "255 characters")


@pytest.mark.slow
def test_plot_out_on_a_file_is_one_sentence(finished_runs, tmp_path):
    out, _ = finished_runs
    a_file = tmp_path / "figures"
    a_file.write_text("")
    assert_user_error(invoke("plot", str(out), "--out", str(a_file)), "cannot use", str(a_file))


def test_data_synth_into_an_unusable_folder_is_one_sentence(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert_user_error(invoke("data", "synth", "--out", str(blocker / "synth")), "cannot use", str(blocker))


def test_an_os_error_on_a_user_path_is_one_sentence(monkeypatch, tmp_path):
    import errno

    import mmdg_bench.data.synthetic as synthetic

    def read_only(cfg, out, report=None):
        raise PermissionError(errno.EROFS, "Read-only file system", str(out))

    monkeypatch.setattr(synthetic, "generate", read_only)
    assert_user_error(invoke("data", "synth", "--out", str(tmp_path / "s")),
                      f"cannot use {tmp_path / 's'}: read-only file system", "choose another location")


def test_an_override_of_a_strategy_not_selected_warns():
    result = invoke("presets", "validate", "synth", "--set", "strategy.name=gmp", "--set", "strategy.ogm-ge.alpha=0.3")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == ("warning: the overrides of strategy.ogm-ge have no effect: "
                                     "the selected strategy is gmp")
    quiet = invoke("presets", "validate", "synth", "--set", "strategy.name=gmp", "--set", "strategy.gmp.alpha_k=0.3")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_presets_copy_then_validate(tmp_path):
    copy = tmp_path / "my preset.yaml"
    result = invoke("presets", "copy", "hac", str(copy))
    assert result.exit_code == 0, result.output
    assert f"mmdg-bench run --preset '{copy}'" in result.output
    text = copy.read_text()
    assert text.startswith("# A copy of the mmdg-bench preset 'hac'") and "# hac: HAC" in text
    validated = invoke("presets", "validate", str(copy))
    assert validated.exit_code == 0 and validated.output.startswith(f"OK: {copy} is a valid preset")
    assert_user_error(invoke("presets", "copy", "hac", str(copy)), "exists", "--force")
    assert invoke("presets", "copy", "synth", str(copy), "--force").exit_code == 0
    copy.write_text(copy.read_text().replace("lr: 1.0e-3", "lr: -1.0e-3"))
    assert_user_error(invoke("presets", "validate", str(copy)), "'optim.lr' must be a number > 0")


@pytest.mark.e2e
@pytest.mark.parametrize("args", [["sweep", "--cluster", "nonsense"], ["run", "--nope"],
                                  ["compare", "--format", "xls"]])
def test_click_usage_errors_are_one_line_too(args):
    """The parser's own mistakes (unknown option, a value outside its choices) end like ours."""
    result = subprocess.run([sys.executable, "-m", "mmdg_bench", *args], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr
