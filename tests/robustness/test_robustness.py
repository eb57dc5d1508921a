"""Robustness evaluation: a finished run's kept weights under a missing or corrupted modality, and
`compare --robustness` over a tiny synthetic sweep (2 strategies × 2 held-out domains)."""

import glob
import json

import pytest
import torch
from typer.testing import CliRunner

from mmdg_bench import api
from mmdg_bench.cli import app
from mmdg_bench.errors import UserError
from mmdg_bench.robustness import ROBUSTNESS, evaluate_run, parse_conditions
from mmdg_bench.robustness.conditions import audio_noise, blur, frame_drop

# Enough data and epochs for the audio to carry the held-out domains (synth's video is a shortcut).
LEARNS = ["data.synth.train_per_class=8", "data.synth.test_per_class=4", "data.synth.audio_snr_db=-6",
          "optim.epochs=4", "optim.batch_size=8"]
STRATEGIES = ["baseline", "gmp"]
runner = CliRunner()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    runs = api.sweep(strategies=STRATEGIES, targets=["day", "night"], seeds="0", overrides=LEARNS, out=out, jobs=2)
    assert (runs.outcome == "done").all()
    # As a user types `evaluate results/runs/*/`: the glob also matches the sweep's plans folder, skipped.
    folders = sorted(glob.glob(str(out / "*/")))  # as the shell expands it: hidden folders (.locks) left out
    assert len(folders) == len(runs) + 1
    result = runner.invoke(app, ["evaluate", *folders, "--missing", "audio"])
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and "it holds sweep plans, not a run" in " ".join(result.output.split())
    return out, runs


@pytest.mark.e2e
def test_clean_matches_training_and_a_missing_audio_leaves_its_head_a_constant(sweep):
    _, runs = sweep
    for folder in runs.folder:
        summary = json.loads((folder / "summary.json").read_text())
        recorded = json.loads((folder / ROBUSTNESS).read_text())["best-val"]
        assert recorded["epoch"] == summary["selection"]["best-val"]["epoch"]
        assert recorded["conditions"]["clean"] == pytest.approx(summary["selection"]["best-val"]["target"])
        # Zero features give the audio head one prediction for every clip: 1 class of 4, balanced.
        assert recorded["conditions"]["missing:audio"]["audio"] == pytest.approx(25.0)
        conditions = recorded["conditions"]
        assert conditions["missing:audio"]["video"] == pytest.approx(conditions["clean"]["video"])


@pytest.mark.e2e
def test_compare_robustness_shows_the_drop_per_strategy(sweep):
    out, runs = sweep
    result = runner.invoke(app, ["compare", str(out), "--robustness", "--format", "json"])
    assert result.exit_code == 0, result.output
    tables = {t["table"].split(" (")[0]: t["cells"] for t in json.loads(result.output)}
    drops = {c["strategy"]: c for c in tables["Change from the clean condition"] if c["column"] == "missing:audio"}
    assert set(drops) == set(STRATEGIES)
    for strategy in STRATEGIES:
        fused = [json.loads((f / ROBUSTNESS).read_text())["best-val"]["conditions"]
                 for f in runs.folder[runs.strategy == strategy]]
        expected = sum(c["missing:audio"]["fused"] - c["clean"]["fused"] for c in fused) / len(fused)
        assert drops[strategy]["mean"] == pytest.approx(expected) and drops[strategy]["n"] == 2
    assert any(d["mean"] < 0 for d in drops.values())  # the audio carries the held-out domains here
    gaps = [c for c in tables["Δ vs baseline under each condition"] if c["strategy"] == "gmp"]
    assert {c["column"] for c in gaps} == {"clean", "missing:audio"}


@pytest.mark.e2e
def test_conditions_repeat_exactly_and_accumulate_in_the_file(sweep):
    _, runs = sweep
    folder = runs.folder[0]
    first = evaluate_run(folder, parse_conditions([], ["gaussian_noise:3", "audio_noise:5"]))
    second = evaluate_run(folder, parse_conditions([], ["gaussian_noise:3"]))
    assert second["gaussian_noise:3"] == first["gaussian_noise:3"]
    conditions = json.loads((folder / ROBUSTNESS).read_text())["best-val"]["conditions"]
    assert {"clean", "missing:audio", "gaussian_noise:3", "audio_noise:5"} <= set(conditions)


@pytest.mark.e2e
def test_compare_robustness_with_a_condition_only_some_runs_were_evaluated_under(sweep):
    out, runs = sweep
    evaluate_run(runs.folder[0], parse_conditions([], ["blur:2"]))  # one run of four
    for fmt in ("table", "json"):
        result = runner.invoke(app, ["compare", str(out), "--robustness", "--format", fmt])
        assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    tables = {t["table"].split(" (")[0]: t["cells"] for t in json.loads(result.output)}
    blurred = [c for c in tables["Change from the clean condition"] if c["column"] == "blur:2"]
    assert [c["n"] for c in blurred if c["n"]] == [1]


@pytest.mark.e2e
@pytest.mark.parametrize("args, says", [
    (["--corrupt", "blurr:2"], "unknown corruption 'blurr' (did you mean 'blur'?)"),
    (["--corrupt", "blur:6"], "severity from 1 to 5"),
    (["--missing", "flow"], "missing:flow acts on flow, which the run does not have"),
    (["--weights", "oracle", "--missing", "audio"], "--weights must be one of best-val, last"),
    ([], "name a condition"),
])
def test_mistakes_are_one_sentence(sweep, args, says):
    _, runs = sweep
    result = runner.invoke(app, ["evaluate", str(runs.folder[0]), *args])
    assert result.exit_code == 2 and says in " ".join(result.output.split())


@pytest.mark.slow
def test_an_unfinished_or_weightless_run_is_refused(tmp_path, tiny_config):
    from mmdg_bench.engine import train_run

    result = train_run(tiny_config("optim.epochs=1", "keep_weights=false"), "day", tmp_path)
    with pytest.raises(UserError, match="kept no best-val weights"):
        evaluate_run(result.path, parse_conditions(["audio"]))
    with pytest.raises(UserError, match="not a finished run folder"):
        evaluate_run(tmp_path, parse_conditions(["audio"]))


def test_corruptions_do_what_their_parameters_say():
    generator = torch.Generator().manual_seed(0)
    flat = torch.full((2, 3, 4, 9, 9), 0.7)
    torch.testing.assert_close(blur(flat, 1.5, generator), flat)  # a blur keeps a constant frame
    dropped = frame_drop(torch.ones(2, 3, 10, 4, 4), 0.3, generator)
    assert (dropped.sum(dim=(1, 3, 4)) == 0).sum(dim=1).tolist() == [3, 3]
    signal = torch.randn(4, 1, 40, 200, generator=generator)
    noisy = audio_noise(signal, 10.0, generator)
    snr = 10 * torch.log10(signal.pow(2).mean() / (noisy - signal).pow(2).mean())
    assert float(snr) == pytest.approx(10.0, abs=0.3)
