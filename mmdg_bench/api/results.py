"""Leaderboards and figures from run folders as functions: `mmdg-bench compare` and `plot`
(mmdg_bench/cli/results.py) call these.

    from mmdg_bench import api
    tables = api.compare("results/nb")       # {table title: DataFrame}, as `compare` prints them
    tables["Fused target accuracy (%) (Table 2 layout)"]
    print(api.compare("results/nb", format="latex"))
"""

import warnings
from pathlib import Path

import pandas as pd

from mmdg_bench.errors import UserNotice, check_choice
from mmdg_bench.results.cells import Group
from mmdg_bench.results.collect import Damaged, collect_runs, planned_runs
from mmdg_bench.results.render import RENDERERS, render_report
from mmdg_bench.results.tables import compare_report

SELECTIONS = ("best-val", "last", "oracle")
REFERENCES = ("paper",)


def compare_groups(results_dir: Path | str = "results/runs", selection: str = "best-val", against: str | None = None,
                   reference: str | None = None, robustness: bool = False) -> tuple[list[Group], list[Damaged]]:
    """Everything `compare` shows, per (preset, dataset) group, and the finished runs that could not
    be read (listed among the missing ones)."""
    check_choice(selection, SELECTIONS, "--selection")
    if robustness:
        from mmdg_bench.results.robustness import collect_robustness, robustness_report

        return robustness_report(collect_robustness(results_dir), selection, against), []
    runs, damaged = collect_runs(results_dir)
    return compare_report(runs, selection, against, reference, damaged, planned_runs(results_dir)), damaged


def compare(results_dir: Path | str = "results/runs", selection: str = "best-val", against: str | None = None,
            reference: str | None = None, robustness: bool = False, format: str | None = None,
            numbers: bool = True) -> dict[str, pd.DataFrame] | str:
    """The tables `mmdg-bench compare` prints, by title (prefixed by "<preset>/<dataset>: " when the
    folder holds several): the numbers behind each, one row per cell (strategy, column, mean, std, n,
    ci_low, ci_high, p: numeric columns a notebook can compute with), or with `numbers=False` the
    shown text (rows × columns, cells like "6.25 (n=1)"); with `format` (md, latex, csv, json) the
    whole output as that text instead. Unreadable finished runs are warned about."""
    if format is not None:
        check_choice(format, RENDERERS, "--format")
    groups, damaged = compare_groups(results_dir, selection, against, reference, robustness)
    for run in damaged:
        warnings.warn(UserNotice(run.note), stacklevel=2)
    if format is not None:
        return render_report(groups, format)
    prefix = (lambda g: f"{g.preset}/{g.dataset}: ") if len(groups) > 1 else (lambda g: "")
    return {prefix(g) + table.title: table.cells if numbers else table.text for g in groups for table in g.tables}


def plot(results_dir: Path | str = "results/runs", out: Path | str = "results/figures",
         sensitivity: list[str] = ()) -> list[Path]:
    """Figures over training per preset (PNG and PDF): accuracy, per-modality accuracy, cos(g_c, g_d),
    GMP's rho, sigma, k, p; returns the files written. Unreadable finished runs are warned about.
    With `sensitivity` (one or two settings a `sweep --vary` varied, e.g. ["strategy.gmp.alpha_k"]),
    instead the sensitivity figure: accuracy against the setting, or a heatmap over the two."""
    from mmdg_bench.results.plots import plot_results
    from mmdg_bench.results.sensitivity import plot_sensitivity

    if sensitivity:
        written, damaged = plot_sensitivity(Path(results_dir), Path(out), list(sensitivity))
    else:
        written, damaged = plot_results(Path(results_dir), Path(out))
    for run in damaged:
        warnings.warn(UserNotice(run.note), stacklevel=2)
    return written
