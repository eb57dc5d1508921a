"""Leaderboard cells: mean ± std (n) per (row, column), the paired Δ and p as text, and the
`Leaderboard` (its numbers, long, for CSV/JSON; its text, wide, as shown) and `Group` (one
(preset, dataset)'s tables and notes) that every layout builds; render.py lays them out.
"""

import math
from dataclasses import dataclass

import pandas as pd

from mmdg_bench.results.stats import ALPHA

AVG = "Avg"
MISSING = "–"
NUMBERS = {"strategy": object, "column": object, "mean": float, "std": float, "n": "Int64",
           "ci_low": float, "ci_high": float, "p": float}
SELECTION_LABELS = {
    "best-val": "best-val (best source-validation epoch)",
    "last": "last (final epoch, as MMDG-Bench)",
    "oracle": "oracle (peeks at target labels)",
}
CELLS_CAPTION = ("Cells: mean ± std (ddof=1) over seeds, n = seeds; Avg averages each seed over the "
                 "held-out domains first (seeds missing one are left out); – = no run.")
MARK_RULE = f"* = beyond seed noise: two-sided paired sign-flip test over (target, seed) pairs, p < {ALPHA}"


@dataclass(frozen=True)
class Leaderboard:
    title: str
    cells: pd.DataFrame  # the numbers, long: one row per (row label, column), NUMBERS columns
    text: pd.DataFrame  # what is shown: one row per row label, formatted strings
    caption: str = ""


@dataclass(frozen=True)
class Group:
    preset: str
    dataset: str
    selection: str
    tables: list[Leaderboard]
    notes: list[str]

    @property
    def label(self) -> str:
        rule = SELECTION_LABELS.get(self.selection, self.selection)
        return f"preset {self.preset}, dataset {self.dataset}, selection {rule}"


def format_spread(std: float) -> str:
    return "" if pd.isna(std) else f" ± {std:.2f}"


def format_cell(mean: float, std: float, n: int) -> str:
    return MISSING if n == 0 else f"{mean:.2f}{format_spread(std)} (n={n})"


def format_signed(value: float, significant: bool = False) -> str:
    return MISSING if pd.isna(value) else f"{value:+.2f}{'*' if significant else ''}"


def format_p(p: float) -> str:
    if pd.isna(p):
        return MISSING
    return ("<0.001" if p < 0.001 else f"{p:.3f}") + ("*" if p < ALPHA else "")


def stat_cell(row: str, column: str, values: pd.Series) -> dict:
    n = int(values.count())
    mean = values.mean() if n else math.nan
    std = values.std(ddof=1) if n > 1 else math.nan
    return {"strategy": row, "column": column, "mean": mean, "std": std, "n": n,
            "text": format_cell(mean, std, n)}


def value_cell(row: str, column: str, value: float) -> dict:
    """A published number: no spread, no n."""
    return {"strategy": row, "column": column, "mean": value, "text": f"{value:.2f}"}


def numbers(records: list[dict]) -> pd.DataFrame:
    """The records that carry a number (not the text-only ones, e.g. a Table 4 block name)."""
    return pd.DataFrame([r for r in records if "mean" in r], columns=list(NUMBERS)).astype(NUMBERS)


def shown(records: list[dict]) -> pd.DataFrame:
    """(row, column, text) records -> rows × columns of text, in first-seen order (so reference
    rows stay below ours); absent cells read "–"."""
    frame = pd.DataFrame(records)
    text = frame.pivot(index="strategy", columns="column", values="text")
    text = text.reindex(index=list(dict.fromkeys(frame.strategy)), columns=list(dict.fromkeys(frame.column)))
    return text.fillna(MISSING)


def leaderboard(title: str, records: list[dict], caption: str = "", row_label: str | None = None,
                columns: list[str] | None = None) -> Leaderboard:
    """A table of rows × columns (in `columns` order, where given), or, given `row_label`, shown
    transposed: one row per column (e.g. per diagnostic) and one column per strategy row, for tables
    with many narrow columns."""
    text = shown(records)
    if columns is not None:
        text = text[[c for c in columns if c in text.columns]]
    if row_label is not None:
        text = text.T.rename_axis(index=row_label, columns=None)
    return Leaderboard(title, numbers(records), text, caption)


def renamed(table: Leaderboard, columns: dict[str, str]) -> Leaderboard:
    """`table` with some shown column headers renamed (its cells keep their column keys)."""
    return Leaderboard(table.title, table.cells, table.text.rename(columns=columns), table.caption)
