"""`compare --robustness`: accuracy under each test-time condition (robustness.json, written by
`mmdg-bench evaluate`) per strategy row, with the statistics of the main tables: mean ± std over
seeds of the per-seed average over held-out domains; the change from the clean condition and the gap
to baseline under each condition as paired differences over (target, seed) pairs with the exact
sign-flip test (results/stats.py)."""

import json
from pathlib import Path

import pandas as pd

from mmdg_bench.errors import UserError
from mmdg_bench.results.cells import MARK_RULE, Group, format_signed, leaderboard, stat_cell
from mmdg_bench.results.collect import ROW, finished_run_rows, read_summary, run_folders, run_identity, runs_frame
from mmdg_bench.results.rows import BASELINE, of_row, ordered_rows, paired_tests, resolve_against, seed_averages
from mmdg_bench.results.stats import PairedTest, paired_test
from mmdg_bench.robustness.conditions import CLEAN
from mmdg_bench.robustness.evaluate import ROBUSTNESS

PREFIX = "robust/"  # column robust/<condition>: fused target accuracy under that condition


def robustness_rows(folder: Path) -> list[dict]:
    """One row per kept-weights selection the run was evaluated with (none without robustness.json)."""
    path = folder / ROBUSTNESS
    if not path.is_file():
        return []
    identity = run_identity(read_summary(folder))
    return [{**identity, "selection": selection, "missing_as": entry["missing_as"],
             **{f"{PREFIX}{name}": metrics["fused"] for name, metrics in entry["conditions"].items()}}
            for selection, entry in json.loads(path.read_text()).items()]


def collect_robustness(results_dir: Path | str) -> pd.DataFrame:
    results_dir = Path(results_dir)
    if results_dir.is_dir() and not any((f / ROBUSTNESS).is_file() for f in run_folders(results_dir)):
        raise UserError(f"no finished run under {results_dir} has a {ROBUSTNESS}; evaluate them first: "
                        f"mmdg-bench evaluate RUN_DIR... --missing audio")
    return runs_frame(finished_run_rows(results_dir, robustness_rows, ROBUSTNESS))


def conditions_of(runs: pd.DataFrame) -> list[str]:
    """clean, then the missing modalities, then the corruptions (by name and severity)."""
    names = [c.removeprefix(PREFIX) for c in runs.columns if c.startswith(PREFIX) and runs[c].notna().any()]
    return sorted(names, key=lambda n: (n != CLEAN, not n.startswith("missing:"), n))


def accuracy_table(runs: pd.DataFrame, conditions: list[str]):
    cells = []
    for condition in conditions:
        averages = seed_averages(runs, PREFIX + condition)
        cells += [stat_cell(row, condition, of_row(averages, row)) for row in ordered_rows(runs)]
    caption = ("Cells: mean ± std (ddof=1) over seeds of each seed's average over the held-out domains "
               "(seeds missing one are left out), n = seeds.")
    return leaderboard("Fused target accuracy (%) under test-time conditions (Avg over held-out domains)",
                       cells, caption, columns=conditions)


def test_cell(row: str, column: str, test: PairedTest, text: str) -> dict:
    return {"strategy": row, "column": column, "mean": test.mean, "std": test.std, "n": test.n,
            "ci_low": test.ci_low, "ci_high": test.ci_high, "p": test.p, "text": text}


def drop_table(runs: pd.DataFrame, conditions: list[str]):
    """condition − clean, paired within each run over (target, seed)."""
    cells = []
    for row in ordered_rows(runs):
        group = runs[runs[ROW] == row]
        for condition in conditions:
            test = paired_test((group[PREFIX + condition] - group[PREFIX + CLEAN]).dropna().to_numpy())
            cells.append(test_cell(row, condition, test, f"{format_signed(test.mean, test.significant)} (n={test.n})"))
    caption = (f"Δ = accuracy under the condition − clean accuracy of the same run (negative: the condition "
               f"costs accuracy), mean over (target, seed) pairs; {MARK_RULE}.")
    return leaderboard("Change from the clean condition (fused target accuracy, points)", cells, caption,
                       columns=conditions)


def against_table(runs: pd.DataFrame, conditions: list[str], against: str):
    cells = []
    for condition in conditions:
        for row, test in paired_tests(runs, PREFIX + condition, against).items():
            cells.append(test_cell(row, condition, test, format_signed(test.mean, test.significant)))
    caption = f"Δ = row − {against} under the same condition, over the (target, seed) pairs both ran; {MARK_RULE}."
    return leaderboard(f"Δ vs {against} under each condition (fused target accuracy, points)", cells, caption,
                       columns=conditions) if cells else None


def robustness_report(runs: pd.DataFrame, selection: str, against: str | None = None) -> list[Group]:
    """The robustness tables per (preset, dataset) group, for the runs evaluated with `selection`'s weights."""
    chosen = runs[runs.selection == selection]
    if chosen.empty:
        raise UserError(f"no run was evaluated with its {selection} weights; run `mmdg-bench evaluate RUN_DIR... "
                        f"--weights {selection}` or choose another --selection")
    groups = []
    for (preset, dataset), group in chosen.groupby(["preset", "dataset"], sort=True):
        conditions = conditions_of(group)
        notes = [] if CLEAN in conditions else ["no clean evaluation: no drop table"]
        tables = [accuracy_table(group, conditions)]
        if CLEAN in conditions:
            tables.append(drop_table(group, [c for c in conditions if c != CLEAN]))
        reference = resolve_against(group, against or BASELINE)
        if reference is not None:
            tables.append(against_table(group, conditions, reference))
        groups.append(Group(preset, dataset, selection, [t for t in tables if t is not None], notes))
    return groups
