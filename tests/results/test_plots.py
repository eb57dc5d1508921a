"""Per-epoch table and figures on hand-written run folders: seconds, no training."""

import json
import math
import os
import subprocess
import sys

import pytest

from mmdg_bench.errors import UserError
from mmdg_bench.facts import STRATEGY_FACTS as KNOWN_STRATEGIES
from mmdg_bench.results import plots
from mmdg_bench.results.epochs import ALL_TARGETS, epoch_stats, epoch_table
from mmdg_bench.results.plots import FALLBACK_PALETTE, accuracy_specs, draw, plot_results, strategy_colour

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PDF_MAGIC = b"%PDF-"
GMP_DIAGNOSTICS = ("cos_cd", "rho", "sigma", "k", "p")


def epoch_line(epoch: int, fused: float, diagnostics: bool = False) -> dict:
    """One metrics.jsonl record; unimodal heads and diagnostics derived from `fused` so they differ."""
    strategy = {f"{m}/{name}": fused / 100 for m in ("video", "audio") for name in GMP_DIAGNOSTICS} \
        if diagnostics else {}
    return {"epoch": epoch, "train": {"loss_cls": 1.0, "loss_dom": 0.5, "acc_fused": fused},
            "val": {"fused": fused + 10, "video": fused - 5, "audio": fused - 10, "loss": 1.0},
            "target": {"fused": fused, "video": fused - 5, "audio": fused - 10, "loss": 1.2},
            "strategy": strategy}


def write_run(root, strategy: str, target: str, seed: int, fused: list[float], preset: str = "toy",
              done: bool = True, extra_lines: dict[int, str] | None = None, info: dict | None = None):
    """A run folder as the engine leaves it: summary.json, metrics.jsonl and (if finished) `done`.
    `extra_lines` inserts raw text before the given 0-based record index."""
    folder = root / f"{preset}__{strategy}__{target}__seed{seed}__abc"
    folder.mkdir(parents=True)
    summary = {"preset": preset, "dataset": "synth", "strategy": strategy, "target_domain": target,
               "seed": seed, "config_hash": "abc", "modalities": ["video", "audio"]}
    if info:
        summary["strategy_info"] = info
    (folder / "summary.json").write_text(json.dumps(summary))
    lines = [json.dumps(epoch_line(e, acc, strategy.startswith("gmp"))) for e, acc in enumerate(fused, 1)]
    for index, raw in sorted((extra_lines or {}).items(), reverse=True):
        lines.insert(index, raw)
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    if done:
        (folder / "done").write_text("")
    return folder


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    for seed in (0, 1):
        for target in ("day", "night"):
            write_run(root, "baseline", target, seed, [40.0 + seed, 50.0 + seed])
            write_run(root, "gmp", target, seed, [45.0 + seed, 60.0 + seed])
    return root


def test_plot_results_writes_every_figure_as_png_and_pdf(runs, tmp_path):
    out = tmp_path / "figures"
    written, damaged = plot_results(runs, out)
    assert damaged == []
    stems = ["toy_accuracy", "toy_modality_accuracy", "toy_gradient_cosine",
             "toy_gmp_coefficients_video", "toy_gmp_coefficients_audio"]
    assert sorted(p.name for p in written) == sorted(f"{s}.{fmt}" for s in stems for fmt in ("png", "pdf"))
    for path in written:
        magic = PNG_MAGIC if path.suffix == ".png" else PDF_MAGIC
        assert path.read_bytes().startswith(magic), path
        assert path.stat().st_size > 1000, path
    assert sorted(os.listdir(out)) == sorted(p.name for p in written)  # no temporary file left behind


@pytest.fixture
def png_only(monkeypatch):
    """For tests about which figures are drawn: one format is enough (writing both is tested above)."""
    monkeypatch.setattr(plots, "FORMATS", ("png",))


def test_runs_without_diagnostics_get_no_diagnostic_figures(tmp_path, png_only):
    write_run(tmp_path, "baseline", "day", 0, [40.0, 50.0])
    names = {p.stem for p in plot_results(tmp_path, tmp_path / "figures")[0]}
    assert names == {"toy_accuracy", "toy_modality_accuracy"}


def test_presets_are_never_mixed(tmp_path, png_only):
    write_run(tmp_path, "baseline", "day", 0, [40.0, 50.0], preset="toy")
    write_run(tmp_path, "baseline", "day", 0, [90.0, 95.0], preset="hac")
    names = {p.stem for p in plot_results(tmp_path, tmp_path / "figures")[0]}
    assert {"toy_accuracy", "hac_accuracy"} <= names
    stats = epoch_stats(epoch_table(tmp_path), "target/fused")
    assert stats.groupby(["preset", "epoch"]).n.max().max() == 1  # no curve pools the two presets


def test_epoch_stats_mean_and_std_over_seeds(tmp_path):
    for seed, acc in enumerate([50.0, 60.0, 70.0]):
        write_run(tmp_path, "gmp", "day", seed, [acc])
    for seed, acc in enumerate([30.0, 40.0]):  # seed 2 never ran night: left out of "all targets"
        write_run(tmp_path, "gmp", "night", seed, [acc])
    stats = epoch_stats(epoch_table(tmp_path), "target/fused").set_index("target_domain")
    assert stats.loc["day", "mean"] == pytest.approx(60.0)
    assert stats.loc["day", "std"] == pytest.approx(10.0)  # ddof=1
    assert stats.loc["day", "n"] == 3
    # per seed (50+30)/2 = 40 and (60+40)/2 = 50 -> mean 45, std sqrt(50)
    assert stats.loc[ALL_TARGETS, "mean"] == pytest.approx(45.0)
    assert stats.loc[ALL_TARGETS, "std"] == pytest.approx(math.sqrt(50.0))
    assert stats.loc[ALL_TARGETS, "n"] == 2


def test_single_seed_has_no_std(tmp_path):
    write_run(tmp_path, "gmp", "day", 0, [50.0])
    stats = epoch_stats(epoch_table(tmp_path), "target/fused")
    assert stats["std"].isna().all() and (stats.n == 1).all()


def test_epoch_table_flattens_sections(tmp_path):
    write_run(tmp_path, "gmp", "day", 0, [50.0, 70.0])
    table = epoch_table(tmp_path)
    assert table.epoch.tolist() == [1, 2]
    assert table["val/fused"].tolist() == [60.0, 80.0]
    assert table["target/audio"].tolist() == [40.0, 60.0]
    assert table["diag/video/rho"].tolist() == [0.5, 0.7]


def test_corrupt_metrics_line_warns_with_the_file_and_is_skipped(tmp_path):
    folder = write_run(tmp_path, "gmp", "day", 0, [50.0, 70.0],
                       extra_lines={1: '{"epoch": 2, "val": {"fus', 2: '"a string, not a record"'})
    with pytest.warns(UserWarning, match=str(folder / "metrics.jsonl")) as record:
        table = epoch_table(tmp_path)
    assert len(record) == 2
    assert table.epoch.tolist() == [1, 2]
    assert table["target/fused"].tolist() == [50.0, 70.0]


def test_unfinished_folder_is_ignored(tmp_path):
    write_run(tmp_path, "baseline", "day", 0, [40.0])
    write_run(tmp_path, "gmp", "day", 0, [99.0], done=False)
    assert set(epoch_table(tmp_path).strategy) == {"baseline"}


def test_no_finished_runs_is_a_user_error(tmp_path):
    write_run(tmp_path, "gmp", "day", 0, [99.0], done=False)
    with pytest.raises(UserError, match="no finished runs"):
        plot_results(tmp_path, tmp_path / "figures")
    assert not (tmp_path / "figures").exists()


def test_known_strategies_have_fixed_distinct_colours():
    assert strategy_colour("gmp") == "#d62728" and strategy_colour("baseline") == "#4d4d4d"
    colours = [info.colour for info in KNOWN_STRATEGIES.values()]
    assert len(set(colours)) == len(colours)


@pytest.mark.e2e
def test_unknown_strategy_colour_is_stable_across_processes():
    # A different PYTHONHASHSEED changes hash(); the colour must not change with it.
    code = "from mmdg_bench.results.plots import strategy_colour; print(strategy_colour('my-new-method'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout.strip()
    assert other == strategy_colour("my-new-method") in FALLBACK_PALETTE


def line_colours(runs_table) -> dict[str, str]:
    fig = draw(accuracy_specs(runs_table)[0], runs_table)
    return {line.get_label(): line.get_color() for ax in fig.axes for line in ax.lines
            if not line.get_label().startswith("_")}


def test_a_strategy_keeps_its_colour_whatever_else_is_plotted(tmp_path):
    write_run(tmp_path / "a", "gmp", "day", 0, [50.0])
    write_run(tmp_path / "a", "baseline", "day", 0, [40.0])
    write_run(tmp_path / "b", "gmp", "day", 0, [50.0])
    write_run(tmp_path / "b", "aaa-new", "day", 0, [40.0])
    with_baseline, with_new = line_colours(epoch_table(tmp_path / "a")), line_colours(epoch_table(tmp_path / "b"))
    assert with_baseline["gmp"] == with_new["gmp"] == KNOWN_STRATEGIES["gmp"].colour
    assert with_new["aaa-new"] == strategy_colour("aaa-new")


def line_dashes(runs_table) -> dict[str, object]:
    fig = draw(accuracy_specs(runs_table)[0], runs_table)
    return {line.get_label(): line.get_linestyle() for ax in fig.axes for line in ax.lines
            if not line.get_label().startswith("_")}


def test_strategy_info_sets_colour_and_style_and_gmp_fast_is_solid(tmp_path):
    info = {"family": "new", "block": "modulation", "paper_row": None, "order": 3, "colour": "#123456"}
    write_run(tmp_path, "my-ablation", "day", 0, [50.0], info=info)
    write_run(tmp_path, "gmp-fast", "day", 0, [40.0])
    write_run(tmp_path, "gmp-no-k", "day", 0, [45.0])
    table = epoch_table(tmp_path)
    assert line_colours(table)["my-ablation"] == "#123456"
    dashes = line_dashes(table)
    assert dashes["gmp-fast"] == "-" and dashes["gmp-no-k"] == "--" and dashes["my-ablation"] == "--"


def test_configurations_of_one_strategy_get_their_own_lines(tmp_path):
    for seed, alpha in ((0, 0.3), (1, 0.5)):
        folder = write_run(tmp_path, "gmp", "day", seed, [50.0 + seed])
        summary = json.loads((folder / "summary.json").read_text())
        summary["config"] = {"strategy": {"name": "gmp", "gmp": {"alpha_k": alpha}}}
        (folder / "summary.json").write_text(json.dumps(summary))
    colours = line_colours(epoch_table(tmp_path))
    assert set(colours) == {"gmp [alpha_k=0.3]", "gmp [alpha_k=0.5]"}
    assert len(set(colours.values())) == 2 and KNOWN_STRATEGIES["gmp"].colour in colours.values()


def configured_runs(root, strategy: str, count: int, epochs: int):
    """`count` configurations of `strategy` (alpha_k differs), one seed and target each."""
    for i in range(count):
        folder = write_run(root / str(i), strategy, "day", 0, [40.0 + i + e for e in range(epochs)])
        summary = json.loads((folder / "summary.json").read_text())
        summary["config"] = {"strategy": {"name": strategy, strategy: {"alpha_k": i / 100}}}
        (folder / "summary.json").write_text(json.dumps(summary))
    return epoch_table(root)


def test_every_row_has_a_colour_of_its_own(tmp_path):
    # The committed synthetic figure had 11 baseline rows in one grey and 11 gmp rows in one red.
    colours = line_colours(configured_runs(tmp_path, "baseline", 11, 2))
    assert len(colours) == 11 and len(set(colours.values())) == 11


def test_the_legend_fits_in_the_figure_however_many_rows(tmp_path):
    # 35 rows on two panel rows: the legend ran 1.5 inches past the figure's bottom edge.
    table = configured_runs(tmp_path, "gmp", 35, 2)
    fig = draw(accuracy_specs(table)[0], table)
    fig.canvas.draw()
    legend = fig.legends[0].get_window_extent()
    assert len(fig.legends[0].get_texts()) == 35 and legend.y0 >= 0 and legend.y1 <= fig.bbox.height


def test_a_one_epoch_run_has_one_whole_epoch_tick_and_its_spread(tmp_path):
    # Matplotlib's own limits for one point (0.945 to 1.055) gave eleven fractional ticks on top of
    # each other; a band over one epoch has no width, so the spread is an error bar.
    for seed in (0, 1):
        write_run(tmp_path, "gmp", "day", seed, [40.0 + 10 * seed])
    table = epoch_table(tmp_path)
    fig = draw(accuracy_specs(table)[0], table)
    fig.canvas.draw()
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    assert [t for t in ax.get_xticks() if low <= t <= high] == [1.0]
    assert any(len(c.lines) == 3 and c.has_yerr for c in ax.containers)


def test_a_damaged_run_is_skipped_and_reported(tmp_path, png_only):
    write_run(tmp_path, "baseline", "day", 0, [40.0])
    broken = write_run(tmp_path, "gmp", "day", 0, [50.0])
    (broken / "summary.json").write_text('{"preset": "to')
    written, damaged = plot_results(tmp_path, tmp_path / "figures")
    assert written and [d.file for d in damaged] == [broken / "summary.json"]
