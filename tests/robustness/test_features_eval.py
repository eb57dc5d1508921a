"""`evaluate --features` (mmdg_bench/robustness/features.py): what the fused classifier reads under every
fusion and set of modalities, the refusals, and a tiny trained run's features.npz end to end."""

import json

import joblib
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from mmdg_bench import api
from mmdg_bench.cli import app
from mmdg_bench.engine.train import run_model
from mmdg_bench.files import FEATURES
from mmdg_bench.robustness.features import extract
from tests.conftest import training_batch

runner = CliRunner()
joblib.cpu_count(only_physical_cores=True)  # at collection: scikit-learn's `lscpu`, so no test starts a process


@pytest.mark.parametrize("overrides", [
    [], ["model.fusion=sum"], ["model.fusion=film"], ["model.fusion=gated"], ["model.fusion=late"],
    ["data.modalities=[audio]"], ["data.modalities=[audio]", "model.fusion=late"],
])
def test_the_fused_feature_is_what_the_fused_classifier_reads(tiny_config, overrides):
    config = tiny_config(*overrides)
    torch.manual_seed(0)
    model = run_model(config, 4, 2, "cpu")
    batch = training_batch(config, "day", size=6)
    features = extract(model, [batch], "cpu")
    assert list(features) == [*config.data.modalities, "fused"]
    assert all(x.shape[0] == 6 for x in features.values())
    head = getattr(model.fused_head, "head", None)
    concatenated = np.concatenate([features[m] for m in config.data.modalities], axis=1)
    if head is None:  # late fusion: the unimodal heads read the modalities' features
        np.testing.assert_allclose(features["fused"], concatenated)
        return
    assert features["fused"].shape[1] == head[0].in_features and not head._forward_pre_hooks  # hook removed
    logits = head(torch.from_numpy(features["fused"]))  # the fused classifier's answer from the saved feature
    torch.testing.assert_close(logits, model.eval()(batch).fused_logits, rtol=1e-4, atol=1e-5)
    if config.model.fusion == "concat":
        np.testing.assert_allclose(features["fused"], concatenated, rtol=1e-6)


def test_a_run_that_kept_no_weights_says_how_to_keep_them(tmp_path):
    run = tmp_path / "synth__gmp__toon__seed0__abc"
    run.mkdir()
    (run / "done").write_text("")
    result = runner.invoke(app, ["evaluate", str(run), "--features"])
    shown = " ".join(result.output.split())
    assert result.exit_code == 2 and "kept no best-val weights" in shown and "--set keep_weights=true" in shown
    assert not (run / FEATURES).exists()
    bare = runner.invoke(app, ["evaluate", str(run)])
    assert bare.exit_code == 2 and "or save the features with --features" in " ".join(bare.output.split())


@pytest.mark.slow
def test_evaluate_features_saves_the_validation_and_target_clips_then_plot_draws_them(tmp_path, tiny_config):
    from mmdg_bench.engine import train_run

    config = tiny_config("optim.epochs=1")
    folder = train_run(config, "toon", tmp_path / "runs").path
    result = runner.invoke(app, ["evaluate", str(folder), "--features", "--weights", "last"])
    assert result.exit_code == 0, result.output
    assert str(folder / FEATURES) in result.output.replace("\n", "")  # where, a long path folded by the console
    summary = json.loads((folder / "summary.json").read_text())
    with np.load(folder / FEATURES) as saved:
        rows = summary["clips"]["val"] + summary["clips"]["target"]
        assert len(saved["label"]) == rows and list(saved["modalities"]) == ["video", "audio"]
        assert saved["feature_video"].shape == (rows, config.model.feature_dim)
        assert saved["feature_fused"].shape == (rows, 2 * config.model.feature_dim)  # concat: [z_video | z_audio]
        assert (saved["split"] == "target").sum() == summary["clips"]["target"]
        assert set(saved["domain"][saved["split"] == "target"]) == {"toon"}
        assert set(saved["domain"][saved["split"] == "val"]) == set(summary["source_domains"])
        assert str(saved["weights"]) == "last" and int(saved["epoch"]) == 1
    frame = api.evaluate([folder], missing=["audio"], features=True)  # with a condition: both
    assert list(frame.columns) == ["run", "clean", "missing:audio", "features"]
    drawn = runner.invoke(app, ["plot", str(folder), "--features", "--out", str(tmp_path / "figures")])
    assert drawn.exit_code == 0, drawn.output
    assert (tmp_path / "figures" / f"{folder.name}_feature_scores.csv").is_file()
