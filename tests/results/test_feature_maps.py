"""Feature maps and separability scores (mmdg_bench/results/feature_maps.py): the scores on arrays whose
answer is known, and `plot --features` on hand-written features.npz files (no training)."""

import json

import joblib
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mmdg_bench.cli import app
from mmdg_bench.files import FEATURES
from mmdg_bench.results.feature_maps import (
    chance,
    class_separability,
    domain_separability,
    embed,
    perplexity,
    read_features,
    separability_scores,
)

PNG_MAGIC = b"\x89PNG"
runner = CliRunner()
# joblib counts the physical cores once per process by running `lscpu` (scikit-learn's neighbour search
# asks); asked here, at collection, the tests below start no process (tests/conftest.py watches for one).
joblib.cpu_count(only_physical_cores=True)


def blobs(centres: list[float], per_blob: int, width: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`per_blob` points around each centre (unit noise in every dimension), labelled by blob."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(c, 1.0, size=(per_blob, width)) for c in centres])
    return x, np.repeat([f"d{i}" for i in range(len(centres))], per_blob)


def test_two_well_separated_domains_are_told_apart_and_identical_ones_are_not():
    apart, domains = blobs([0.0, 6.0], 60)
    assert domain_separability(apart, domains) > 97
    same, domains = blobs([0.0, 0.0], 60)
    assert chance(domains) == 50.0
    assert abs(domain_separability(same, domains) - 50.0) < 15


def test_class_knn_finds_clustered_classes_and_not_shuffled_labels():
    x, classes = blobs([0.0, 5.0, 10.0, 15.0], 20)
    assert class_separability(x, classes) > 97
    shuffled = np.random.default_rng(1).permutation(classes)
    assert class_separability(x, shuffled) < 50  # chance: 25%


def test_chance_is_the_largest_labels_share_and_one_label_has_no_score():
    labels = np.array(["a"] * 6 + ["b"] * 3 + ["c"])
    assert chance(labels) == pytest.approx(60.0)
    x, _ = blobs([0.0], 10)
    assert np.isnan(domain_separability(x, np.array(["a"] * 10)))
    # A label with 2 clips: two folds, not five, and a score all the same.
    assert not np.isnan(domain_separability(*blobs([0.0, 6.0], 2)))


def test_perplexity_is_capped_for_small_sets_and_a_small_set_maps():
    assert perplexity(1000) == 30.0 and perplexity(10) == 3.0 and perplexity(4) == 1.0
    coordinates = embed(blobs([0.0, 6.0], 3)[0])
    assert coordinates.shape == (6, 2) and np.isfinite(coordinates).all()


def write_features(folder, modalities=("video", "audio", "flow"), per_class: int = 6, fused_width: int = 12):
    """features.npz as `evaluate --features` writes it: two source domains (validation clips) and a held-out
    one (target clips), 3 classes; the audio separates the classes, the video the domains."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "done").write_text("")
    rng = np.random.default_rng(0)
    domains = np.repeat(["day", "night", "toon"], 3 * per_class)
    labels = np.tile(np.repeat([0, 1, 2], per_class), 3)
    codes = {"day": 0, "night": 1, "toon": 2}
    signal = {"video": np.array([codes[d] for d in domains]), "audio": labels}
    table = {f"feature_{m}": rng.normal(size=(len(labels), 5)) + 8 * signal.get(m, 0)[:, None] if m in signal
             else rng.normal(size=(len(labels), 5)) for m in modalities}
    table["feature_fused"] = rng.normal(size=(len(labels), fused_width))
    np.savez(folder / FEATURES, **table, label=labels, domain=domains,
             split=np.where(domains == "toon", "target", "val"), clip_id=np.arange(len(labels)).astype(str),
             class_names=np.array(["up", "down", "left"]), modalities=np.array(modalities), run=np.array(folder.name),
             weights=np.array("best-val"), epoch=np.array(3), fusion=np.array("concat"))
    return folder


def test_plot_features_writes_the_figure_and_its_scores_for_any_modalities(tmp_path):
    run = write_features(tmp_path / "runs" / "toy__gmp__toon__seed0__abc")
    write_features(tmp_path / "runs" / "toy__baseline__toon__seed0__abc", modalities=("audio",))
    (tmp_path / "runs" / "toy__pcgrad__toon__seed0__abc").mkdir()  # no features: left out of a folder's maps
    out = tmp_path / "figures"
    result = runner.invoke(app, ["plot", str(tmp_path / "runs"), "--features", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"toy__{s}__toon__seed0__abc_{kind}" for s in ("gmp", "baseline")
        for kind in ("feature_maps.png", "feature_maps.svg", "feature_scores.csv"))
    stem = out / f"{run.name}_feature_maps"
    assert stem.with_suffix(".png").read_bytes().startswith(PNG_MAGIC)
    svg = stem.with_suffix(".svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "toon (held out)" in svg
    scores = pd.read_csv(out / f"{run.name}_feature_scores.csv")
    assert list(scores.view) == ["video", "audio", "flow", "fused"]  # three modalities: four columns
    by_view = scores.set_index("view")
    assert by_view.loc["video", "domain_probe"] > 95 and by_view.loc["audio", "class_knn"] > 95
    assert by_view.loc["flow", "domain_probe"] < 80 and by_view.loc["video", "domain_chance"] == pytest.approx(33.33)
    assert by_view.loc["fused", "class_chance"] == pytest.approx(33.33)
    assert list(pd.read_csv(out / "toy__baseline__toon__seed0__abc_feature_scores.csv").view) == ["audio", "fused"]
    shown = " ".join(result.output.split())
    assert "domain probe" in shown and f"{by_view.loc['video', 'domain_probe']:.1f}" in shown


def test_the_api_returns_the_written_files(tmp_path):
    from mmdg_bench import api

    run = write_features(tmp_path / "toy__gmp__toon__seed0__abc", modalities=("audio",))
    written = api.plot(run, tmp_path / "out", features=True)
    assert sorted(p.suffix for p in written) == [".csv", ".png", ".svg"]


def test_a_run_without_features_names_the_command_that_saves_them(tmp_path):
    run = tmp_path / "toy__gmp__toon__seed0__abc"
    run.mkdir()
    (run / "done").write_text("")
    result = runner.invoke(app, ["plot", str(run), "--features", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"mmdg-bench evaluate {run} --features" in " ".join(result.output.split()).replace("\n", "")
    empty = runner.invoke(app, ["plot", str(tmp_path), "--features", "--out", str(tmp_path / "out")])
    assert empty.exit_code == 2 and "no run under" in " ".join(empty.output.split())
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("damage", ["garbage", "no fused", "rows"])
def test_a_damaged_features_file_is_one_sentence(tmp_path, damage):
    run = write_features(tmp_path / "toy__gmp__toon__seed0__abc")
    path = run / FEATURES
    if damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    else:
        saved = dict(np.load(path))
        if damage == "no fused":
            del saved["feature_fused"]
        else:
            saved["feature_audio"] = saved["feature_audio"][:-1]
        np.savez(path, **saved)
    result = runner.invoke(app, ["plot", str(run), "--features", "--out", str(tmp_path / "out")])
    shown = " ".join(result.output.split())
    assert result.exit_code == 2 and "is damaged" in shown and "Traceback" not in result.output, result.output
    assert "--features`" in shown


def test_features_and_sensitivity_together_and_an_unknown_embedding_are_refused(tmp_path):
    run = write_features(tmp_path / "toy__gmp__toon__seed0__abc", modalities=("audio",))
    both = runner.invoke(app, ["plot", str(run), "--features", "--sensitivity", "strategy.gmp.alpha_k"])
    assert both.exit_code == 2 and "give one of them" in both.output
    unknown = runner.invoke(app, ["plot", str(run), "--features", "--embedding", "pca"])
    assert unknown.exit_code == 2 and "--embedding must be one of tsne, umap" in " ".join(unknown.output.split())
    try:
        import umap  # noqa: F401
    except ImportError:
        missing = runner.invoke(app, ["plot", str(run), "--features", "--embedding", "umap"])
        assert missing.exit_code == 2 and "pip install umap-learn" in " ".join(missing.output.split())


def test_read_features_gives_class_names_per_row(tmp_path):
    run = write_features(tmp_path / "toy__gmp__toon__seed0__abc", modalities=("audio",), per_class=2)
    features = read_features(run)
    assert list(features.views) == ["audio", "fused"] and features.target_domain == "toon"
    assert list(features.classes[:3]) == ["up", "up", "down"] and features.epoch == 3
    json.dumps(features.weights)


def test_the_report_shows_each_runs_feature_maps_and_scores_and_notes_a_damaged_file(tmp_path):
    from mmdg_bench import api
    from tests.results.test_report import finished_run

    root = tmp_path / "runs"
    mapped = write_features(finished_run(root, "gmp", "day", 0, 60.0), modalities=("video", "audio"))
    damaged = finished_run(root, "baseline", "day", 0, 50.0)
    (damaged / FEATURES).write_bytes(b"cut short")
    with pytest.warns(UserWarning, match="is damaged"):
        page = api.report(root, tmp_path / "report.html").read_text()
    assert page.count("Feature maps and separability") == 1 and page.count(f"Feature maps of {mapped.name}") == 1
    scores = separability_scores(read_features(mapped)).set_index("view")
    assert f"<td>{mapped.name}</td><td>fused</td><td>{int(scores.loc['fused', 'clips'])}</td>" \
           f"<td>{scores.loc['fused', 'domain_probe']:.1f}</td>" in page
    assert f"{damaged / FEATURES} is damaged" in page and "left out of the feature maps" in page
