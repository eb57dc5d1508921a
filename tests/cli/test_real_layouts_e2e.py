"""`mmdg-bench run` end to end with the shipped presets on tiny fixtures in each real on-disk layout
(EPIC-Kitchens as SimMMDG and as MMDG-Bench store it, HAC as SimMMDG and as MMDG-Bench store it, with
flow_y files shorter than flow_x), with video, audio and flow."""

import json
from functools import partial

import pytest
from typer.testing import CliRunner

from mmdg_bench.cli import app
from mmdg_bench.config import load_config
from mmdg_bench.data import DATASETS
from mmdg_bench.engine import train_run
from mmdg_bench.engine.run_folder import METRICS
from mmdg_bench.strategies import STRATEGIES
from tests.media_fixtures import make_epic_mmdg_bench, make_epic_simmmdg, make_hac

runner = CliRunner()
# The presets' pre-processing (augmentation and reference spectrogram included) at toy sizes, one
# epoch: a run on a dozen clips takes a second or two on 2 CPU cores.
TINY = ["optim.epochs=1", "optim.batch_size=4", "data.num_workers=0",
        "data.video.num_frames=4", "data.video.resize_short=20", "data.video.size=16",
        "data.flow.num_frames=2", "data.flow.resize_short=20", "data.flow.size=16", "data.audio.seconds=0.5",
        "model.feature_dim=16", "model.head_hidden=16"]
LAYOUTS = {  # layout -> (dataset = preset, builder, held-out domain, target clips)
    "epic-simmmdg": ("epic_kitchens", make_epic_simmmdg, "D2", 2),  # EPIC: the target's test split
    "epic-mmdg-bench": ("epic_kitchens", make_epic_mmdg_bench, "D2", 2),
    "hac": ("hac", make_hac, "animal", 4),  # HAC: the target's train + test splits
    "hac-mmdg-bench": ("hac", partial(make_hac, mmdg_bench=True, short_flow_y=3), "animal", 4),
}


def needs(dataset: str):
    return pytest.mark.skipif(dataset not in DATASETS, reason=f"dataset '{dataset}' is not registered yet "
                                                              f"(mmdg_bench/data index pieces)")


def settings(*overrides: str) -> list[str]:
    return [arg for override in (*TINY, *overrides) for arg in ("--set", override)]


@pytest.mark.e2e
@pytest.mark.parametrize("layout, modalities, workers", [
    pytest.param("epic-simmmdg", "[video, audio, flow]", 0, marks=needs("epic_kitchens")),
    pytest.param("epic-mmdg-bench", "[video, audio, flow]", 0, marks=needs("epic_kitchens")),
    pytest.param("hac", "[video, audio, flow]", 2, marks=needs("hac")),
    pytest.param("hac", "[audio, flow]", 0, marks=needs("hac")),
    pytest.param("hac-mmdg-bench", "[audio, flow]", 0, marks=needs("hac")),
])
def test_run_on_a_real_layout(tmp_path, layout, modalities, workers):
    dataset, build, target, target_clips = LAYOUTS[layout]
    root = build(tmp_path / "data")
    out = tmp_path / "runs"
    result = runner.invoke(app, ["run", "--preset", dataset, "--data-root", str(root), "--target", target,
                                 "--out", str(out), *settings(f"data.modalities={modalities}",
                                                              f"data.num_workers={workers}")])
    assert result.exit_code == 0, result.output
    (run,) = [folder for folder in out.iterdir() if not folder.name.startswith(".")]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["dataset"] == dataset and summary["target_domain"] == target
    assert summary["clips"] == {"train": 4, "val": 4, "target": target_clips}
    (line,) = [json.loads(text) for text in (run / METRICS).read_text().splitlines()]
    names = modalities.strip("[]").split(", ")
    assert set(line["target"]) == {"fused", "loss", *names}


# Gradient-Blending holds out part of every (domain, class) group: one of the two clips of each here.
STRATEGY_SETTINGS = {"grad-blending": ["strategy.grad-blending.holdout_fraction=0.5"]}


@pytest.fixture(scope="module")
def hac_root(tmp_path_factory):
    # Two clips of each of two classes in every domain's splits.
    return make_hac(tmp_path_factory.mktemp("hac") / "data", clips_per_split=4, labels=2)


# One of each kind (tests/strategies/test_strategies.py checks every strategy's step on three modalities): plain,
# per-modality scaling, a held-out loader of flow clips, per-modality projection.
@pytest.mark.slow
@needs("hac")
@pytest.mark.parametrize("strategy", ["baseline", "ogm-ge", "grad-blending", "gmp"])
def test_strategies_train_on_video_audio_and_flow_clips(hac_root, tmp_path, strategy):
    if strategy not in STRATEGIES:
        pytest.skip(f"strategy '{strategy}' is not registered")
    config = load_config("hac", [*TINY, f"data.root={hac_root}", "data.modalities=[video, audio, flow]",
                                 f"strategy.name={strategy}", *STRATEGY_SETTINGS.get(strategy, [])])
    result = train_run(config, "cartoon", tmp_path)
    accuracies = result.summary["selection"]["last"]["target"]
    assert {"video", "audio", "flow", "fused"} <= set(accuracies)


@pytest.mark.slow
@needs("hac")
def test_every_method_under_baseline_and_gmp_sweeps_the_hac_layout(tmp_path):
    """Issue 12's check: `sweep --methods erm,rna-net,simmmdg,moosa,cmrf --strategies baseline,gmp` on
    the HAC layout, then `compare` prints the Table 3 layout."""
    root = make_hac(tmp_path / "data")
    out = tmp_path / "runs"
    result = runner.invoke(app, ["sweep", "--preset", "hac", "--set", f"data.root={root}", "--targets", "animal",
                                 "--seeds", "0", "--methods", "erm,rna-net,simmmdg,moosa,cmrf",
                                 "--strategies", "baseline,gmp", "--out", str(out), *settings()])
    assert result.exit_code == 0, result.output
    runs = sorted(folder.name.split("__")[1] for folder in out.iterdir() if (folder / "done").is_file())
    assert runs == sorted(f"{m}+{s}".removeprefix("erm+") for m in ("erm", "rna-net", "simmmdg", "moosa", "cmrf")
                          for s in ("baseline", "gmp"))
    shown = runner.invoke(app, ["compare", str(out), "--format", "md", "--reference", "paper"])
    assert shown.exit_code == 0, shown.output
    assert "Table 3" in shown.output and "simmmdg + gmp" in shown.output
