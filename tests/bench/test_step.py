"""`bench --part step|grid`: the step bench at a preset's shapes (tiny backbones here), and the grid
arithmetic on the packaged split sizes."""

import math

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from mmdg_bench.bench.step import (
    PAPER_STRATEGIES,
    GridInputs,
    StepReport,
    bench_step,
    build_stepper,
    estimate_grid,
    input_shapes,
    protocol_sizes,
    random_init,
    strategy_configs,
)
from mmdg_bench.cli import app
from mmdg_bench.config import load_config
from mmdg_bench.settings import read_preset

TINY = ["model.encoders.video={name: slowfast_tiny, regime: reference}",
        "model.encoders.audio={name: vggsound_r18_tiny, regime: reference}",
        "data.video.size=32", "data.video.num_frames=8", "data.audio.seconds=0.5", "device=cpu", "threads=1"]


def test_the_paper_presets_shapes_are_the_papers():
    config = load_config("hac_paper", ["data.modalities=[video,audio,flow]"])
    assert input_shapes(config) == {"video": (3, 32, 224, 224), "audio": (1, 257, 1004), "flow": (2, 8, 224, 224)}
    assert sorted(random_init("hac_paper")) == [f"model.encoders.{m}.weights=null" for m in ("audio", "flow", "video")]


@pytest.mark.slow
def test_every_strategy_gets_a_rate_peak_memory_and_ratio_measured_in_one_process():
    console = Console(record=True, width=250)
    report = bench_step(console, "hac_paper", batch=2, repeats=1, overrides=TINY)
    assert [r["strategy"] for r in report.rows] == PAPER_STRATEGIES
    assert all(r["error"] is None and r["clips_per_s"] > 0 and r["peak_mib"] > 0 for r in report.rows)
    assert report.rows[0]["ratio"] == 1.0 and all(r["ratio"] > 0 for r in report.rows)
    assert all(r["error"] is None and r["clips_per_s"] > 0 for r in report.cached_rows)
    assert report.eval_clips_per_s > 0
    text = " ".join(console.export_text().split())  # the title wraps
    assert "random-init backbones" in text and "measured on" in text and "threads" in text


def test_the_packaged_splits_give_the_protocols_clip_counts():
    hac = protocol_sizes("hac")
    assert [sum(t.values()) for t in hac] == [3381] * 3  # HAC's target is its train + test: every clip once
    assert [t["train"] for t in protocol_sizes("epic_kitchens")] == [2495 + 3897, 1543 + 3897, 1543 + 2495]


def fixed_report(step_rate: float, eval_rate: float, cached_rate: float) -> StepReport:
    rows = [{"strategy": s, "clips_per_s": step_rate, "error": None} for s in PAPER_STRATEGIES]
    cached = [{"strategy": s, "clips_per_s": cached_rate, "error": None} for s in PAPER_STRATEGIES]
    return StepReport("hac_paper", "cpu", 1, rows, cached, eval_rate)


def test_the_grid_is_bound_by_the_slower_of_step_and_loader():
    targets = protocol_sizes("hac")
    per_seed = sum(20 * (t["train"] / 10 + (t["val"] + t["target"]) / 20) for t in targets)
    fast_loader = estimate_grid({"hac": GridInputs(fixed_report(10, 20, 1000), 1e6, "")})[0]
    assert fast_loader["bottleneck"] == "training step"
    assert math.isclose(fast_loader["reference_s"], 5 * 5 * per_seed)
    slow_loader = estimate_grid({"hac": GridInputs(fixed_report(10, 20, 1000), 2.0, "")})[0]
    assert slow_loader["bottleneck"] == "decoding"
    assert math.isclose(slow_loader["reference_s"], 5 * 5 * sum(20 * 3381 / 2.0 for _ in targets))
    # every clip's centre view and 5 views of each of HAC's 2,711 training clips, at the loader's rate
    assert math.isclose(slow_loader["extraction_s"], (3381 + 5 * 2711) / 2.0)
    assert slow_loader["runs"] == 75


@pytest.mark.slow
def test_bench_step_on_the_command_line(tmp_path):
    preset = read_preset("hac_paper")
    preset.pop("preset")  # named after its file
    preset["model"]["encoders"] = {"video": {"name": "slowfast_tiny"}, "audio": {"name": "vggsound_r18_tiny"}}
    preset.update(device="cpu", threads=1)
    preset["data"]["video"].update(size=32, num_frames=8)
    preset["data"]["audio"]["seconds"] = 0.5
    path = tmp_path / "tiny_paper.yaml"
    path.write_text(yaml.safe_dump(preset))
    result = CliRunner().invoke(app, ["bench", "--part", "step", "--preset", str(path), "--repeats", "1"])
    assert result.exit_code == 0, result.output
    assert "tiny_paper at its input size" in result.output and "│ gmp " in result.output


@pytest.mark.parametrize("bad", ["nonexistent_preset"])
def test_an_unknown_preset_is_one_sentence(bad):
    result = CliRunner().invoke(app, ["bench", "--part", "step", "--preset", bad])
    assert result.exit_code == 2 and "unknown preset 'nonexistent_preset'" in result.output


@pytest.mark.slow
def test_each_strategy_is_timed_with_its_own_parameters():
    """A preset that selects GMP (with its parameters) still times OGM-GE with OGM-GE's, and a
    --set of a strategy's parameter reaches that strategy's stepper."""
    overrides = [*TINY, "strategy.name=gmp", "strategy.gmp.alpha_k=0.3"]
    configs = strategy_configs("hac_paper", 1, overrides, ["baseline", "ogm-ge", "gmp"])
    assert [c.strategy.name for c in configs.values()] == ["baseline", "ogm-ge", "gmp"]
    stepper = build_stepper("gmp", configs["gmp"], 7, "cpu")
    assert stepper.strategy.params.alpha_k == 0.3
    report = bench_step(Console(record=True, width=250), "hac_paper", batch=1, repeats=1, overrides=overrides,
                        strategies=["baseline", "ogm-ge", "gmp"])
    assert all(r["error"] is None for r in report.rows + report.cached_rows), report.rows + report.cached_rows
