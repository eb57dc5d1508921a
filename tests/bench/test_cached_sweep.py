"""`bench --part cached-sweep`: a random cache in the real layout at the backbones' widths, and a
short sweep over it timed through the command line."""

import pytest
from rich.console import Console
from typer.testing import CliRunner

from mmdg_bench.bench.cached_sweep import SKELETON, bench_cached_sweep, cached_overrides, write_random_cache
from mmdg_bench.cli import app
from mmdg_bench.config import load_config
from mmdg_bench.data import load_index
from mmdg_bench.features import open_caches
from mmdg_bench.features.verify import verify_features


@pytest.fixture
def skeleton(tmp_path):
    for name in SKELETON:
        (tmp_path / "data" / name).mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize("preset, clips, widths", [
    ("hac_paper", 3381, {"video": 2304, "audio": 512}),
    ("epic_kitchens_paper", 10094, {"video": 2304, "audio": 512}),
])
def test_the_random_cache_is_a_finished_cache_that_runs_read(skeleton, preset, clips, widths):
    config = load_config(preset, [*cached_overrides(preset, skeleton / "data", skeleton / "features"),
                                  "features.views=2"])
    write_random_cache(config, load_index(config.data))
    assert all(check.ok for check in verify_features(config)), [c.problems for c in verify_features(config)]
    caches = open_caches(config)  # the key a run of these settings looks for
    assert {m: cache.dim for m, cache in caches.items()} == widths
    assert caches["video"].manifest["clips"] == clips


@pytest.mark.e2e
def test_a_short_cached_sweep_is_timed_and_tabulated():
    console = Console(record=True, width=250)
    report = bench_cached_sweep(console, "hac_paper", seeds="0", jobs=1, strategies=["baseline", "gmp"],
                                targets="cartoon",
                                overrides=["optim.epochs=1", "features.views=1", "optim.batch_size=128"])
    assert report["runs"] == 2 and report["sweep_s"] > 0 and set(report["train_s"]) == {"baseline", "gmp"}
    text = " ".join(console.export_text().split())
    assert "2 runs x 1 epochs" in text and "measured on" in text and "<= 1.3 min" in text


@pytest.mark.parametrize("args, says", [
    (["--seeds", "x"], "--seeds must look like"),
    (["--preset", "synth"], "preset synth's video encoder (tiny3d) is not one"),
    (["--jobs", "-1"], "--jobs must be 0 (one per CPU) or more"),
])
def test_a_bad_option_is_one_sentence_before_anything_runs(args, says):
    result = CliRunner().invoke(app, ["bench", "--part", "cached-sweep", *args])
    assert result.exit_code == 2 and says in result.output
