"""Leaderboard statistics on hand-computed inputs."""

import math

import pandas as pd
import pytest

from mmdg_bench.results.tables import AVG, format_cell, leaderboards, modality_table, per_target, to_markdown


def runs():
    # baseline: seeds 0 and 1 on both targets; gmp: seed 1 lacks target "b".
    rows = [("baseline", "a", 0, 50.0, 40, 60, 90), ("baseline", "b", 0, 70.0, 30, 80, 92),
            ("baseline", "a", 1, 54.0, 44, 62, 94), ("baseline", "b", 1, 74.0, 34, 82, 96),
            ("gmp", "a", 0, 60.0, 50, 70, 91), ("gmp", "b", 0, 80.0, 40, 90, 93),
            ("gmp", "a", 1, 62.0, 52, 72, 95)]
    frame = pd.DataFrame(rows, columns=["strategy", "target_domain", "seed", "target/fused", "target/video",
                                        "target/audio", "val/fused"])
    return frame.assign(preset="p", dataset="d", selection="best-val")


def cell(cells, strategy, column):
    row = cells[(cells.strategy == strategy) & (cells.column == column)].iloc[0]
    return row["mean"], row["std"], row["n"]


def test_per_target_mean_std_n():
    cells = per_target(runs(), "target/fused")
    mean, std, n = cell(cells, "baseline", "a")
    assert (mean, n) == (52.0, 2) and std == pytest.approx(math.sqrt(8))  # (50, 54): var = 8, ddof=1
    mean, std, n = cell(cells, "gmp", "b")
    assert (mean, n) == (80.0, 1) and math.isnan(std)


def test_avg_averages_each_complete_seed_over_targets():
    cells = per_target(runs(), "target/fused")
    mean, std, n = cell(cells, "baseline", AVG)  # seed 0: 60, seed 1: 64
    assert (mean, n) == (62.0, 2) and std == pytest.approx(math.sqrt(8))
    mean, _, n = cell(cells, "gmp", AVG)  # seed 1 misses target b: only seed 0 counts
    assert (mean, n) == (70.0, 1)


def test_modality_table_columns():
    cells = modality_table(runs())
    assert list(dict.fromkeys(cells.column)) == ["video (target)", "audio (target)", "fused (target)", "fused (val)"]
    assert cell(cells, "baseline", "video (target)")[0] == pytest.approx(37.0)  # seeds: 35, 39
    assert cell(cells, "baseline", "fused (val)")[0] == pytest.approx(93.0)  # seeds: 91, 95


def test_presets_are_never_averaged_together():
    mixed = pd.concat([runs(), runs().assign(preset="q", **{"target/fused": 0.0})])
    tables = leaderboards(mixed, "best-val")
    assert len(tables) == 4
    assert cell(tables[0][1], "baseline", "a")[0] == 52.0
    assert cell(tables[2][1], "baseline", "a")[0] == 0.0


def test_cell_format_and_markdown():
    assert format_cell(52.0, math.sqrt(8), 2) == "52.00 ± 2.83 (n=2)"
    assert format_cell(80.0, float("nan"), 1) == "80.00 (n=1)"
    assert format_cell(float("nan"), float("nan"), 0) == "–"
    text = to_markdown("T", per_target(runs(), "target/fused"))
    assert "| strategy | a | b | Avg |" in text
    assert "| gmp | 61.00 ± 1.41 (n=2) | 80.00 (n=1) | 70.00 (n=1) |" in text


def test_diagnostics_table_only_for_strategies_that_log_them():
    frame = runs().assign(**{"diag/video/rho": [None] * 4 + [1.5, 2.5, 2.0]})
    tables = leaderboards(frame, "best-val")
    title, cells = tables[2]
    assert title.startswith("Strategy diagnostics")
    assert cell(cells, "gmp", "video/rho") == (2.0, 0.5, 3)
    assert cell(cells, "baseline", "video/rho")[2] == 0
    assert "| baseline | – |" in to_markdown(title, cells)
