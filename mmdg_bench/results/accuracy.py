"""GMP's Table 2 layout (fused target accuracy per held-out domain, Avg, Δ and the paired tests behind
it, the paper's Avg rows on request) and the table of strategy diagnostics.
"""


import pandas as pd

from mmdg_bench.facts import EXTRA
from mmdg_bench.results.cells import AVG, CELLS_CAPTION, MARK_RULE, Leaderboard, leaderboard, stat_cell, value_cell
from mmdg_bench.results.collect import ROW
from mmdg_bench.results.reference import MODALITIES as PAPER_MODALITIES
from mmdg_bench.results.reference import SOURCE as PAPER_SOURCE
from mmdg_bench.results.reference import table2_rows
from mmdg_bench.results.rows import (
    FUSED_TARGET,
    delta_cells,
    info_of,
    ordered_rows,
    paired_table,
    paired_tests,
    target_cells,
    with_rows,
)


def extras_caption(runs: pd.DataFrame) -> str:
    """What the table's rows are not: extras not in the paper, strategies with no official code."""
    extras = [row for row in ordered_rows(runs) if row in set(runs[ROW][info_of(runs, "block") == EXTRA])]
    from_text = [row for row in ordered_rows(runs) if row in set(runs[ROW][info_of(runs, "from_text") == True])]  # noqa: E712
    caption = f" {', '.join(extras)}: an extra, not in the paper." if extras else ""
    if from_text:
        caption += (f" {', '.join(from_text)}: implemented from the paper's text (no official code exists; "
                    f"the choices the text leaves open are in the departures table).")
    return caption


def accuracy_tables(runs: pd.DataFrame, title: str, against: str | None, published_rows: dict[str, float]) \
        -> list[Leaderboard]:
    """Table 2 layout (targets + Avg + Δ), then the paired tests behind the Δ marks."""
    runs = with_rows(runs)
    cells = target_cells(runs, FUSED_TARGET)
    tests = paired_tests(runs, FUSED_TARGET, against)
    caption = CELLS_CAPTION
    if tests:
        cells += delta_cells(tests, against)
        caption += (f" Δ vs {against}: mean paired difference over the (target, seed) pairs both ran "
                    f"(the Avg difference when no run is missing); {MARK_RULE}.")
    caption += extras_caption(runs)
    if published_rows:
        cells += [value_cell(label, AVG, value) for label, value in published_rows.items()]
        caption += (f" (paper) rows: published Avg of {PAPER_SOURCE}, "
                    f"{'+'.join(PAPER_MODALITIES)}; the paper gives no per-domain numbers.")
    table = leaderboard(title, cells, caption)
    return [table, paired_table(tests, against)] if tests else [table]


def paper_rows(runs: pd.DataFrame) -> tuple[dict[str, float], list[str]]:
    """The published Table 2 rows that apply to this group, and notes on what does not apply."""
    dataset = runs.dataset.iloc[0]
    rows = table2_rows(dataset)
    if not rows:
        return {}, [f"--reference paper: no published numbers apply to dataset {dataset} "
                    f"(the paper reports EPIC-Kitchens and HAC only)."]
    expected = ",".join(PAPER_MODALITIES)
    others = sorted(set(runs.modalities) - {expected})
    notes = [f"--reference paper: the published numbers use {expected}; some runs here use "
             f"{'; '.join(others)}."] if others else []
    return rows, notes


def diagnostics_table(runs: pd.DataFrame) -> list[Leaderboard]:
    """Each strategy diagnostic (rho, sigma, k, p, cos, ...) averaged over a run's epochs, then
    summarised over runs (targets × seeds); no table when no strategy logs one."""
    runs = with_rows(runs)
    columns = [c for c in runs.columns if c.startswith("diag/") and runs[c].notna().any()]
    if not columns:
        return []
    cells = [stat_cell(row, column.removeprefix("diag/"), runs.loc[runs[ROW] == row, column].dropna())
             for row in ordered_rows(runs) for column in columns]
    return [leaderboard("Strategy diagnostics, mean over epochs, then over runs (n = runs)", cells,
                        row_label="diagnostic")]
