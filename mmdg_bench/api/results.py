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

from mmdg_bench.errors import UserError, UserNotice, check_choice
from mmdg_bench.results.cells import Group
from mmdg_bench.results.collect import Damaged, collect_runs, planned_runs
from mmdg_bench.results.render import RENDERERS, render_report
from mmdg_bench.results.tables import compare_report

SELECTIONS = ("best-val", "last", "oracle")
REFERENCES = ("paper",)


def compare_groups(results_dir: Path | str = "results/runs", selection: str = "best-val", against: str | None = None,
                   reference: str | None = None, robustness: bool = False, tuned: bool = False
                   ) -> tuple[list[Group], list[Damaged]]:
    """Everything `compare` shows, per (preset, dataset) group, and the finished runs that could not
    be read (listed among the missing ones). With `tuned`, instead the defaults-only and tuned tables of
    a `sweep --tune` (mmdg_bench/results/tuned.py)."""
    check_choice(selection, SELECTIONS, "--selection")
    if tuned and (robustness or reference):
        other = "--robustness" if robustness else "--reference"
        raise UserError(f"--tuned shows the tuning tables alone; drop {other}")
    if tuned:
        from mmdg_bench.results.tuned import tuned_report

        runs, damaged = collect_runs(results_dir)
        return tuned_report(runs, results_dir, selection, against), damaged
    if robustness:
        from mmdg_bench.results.robustness import collect_robustness, robustness_report

        return robustness_report(collect_robustness(results_dir), selection, against), []
    runs, damaged = collect_runs(results_dir)
    return compare_report(runs, selection, against, reference, damaged, planned_runs(results_dir)), damaged


def compare(results_dir: Path | str = "results/runs", selection: str = "best-val", against: str | None = None,
            reference: str | None = None, robustness: bool = False, format: str | None = None,
            numbers: bool = True, tuned: bool = False) -> dict[str, pd.DataFrame] | str:
    """The tables `mmdg-bench compare` prints, by title (prefixed by "<preset>/<dataset>: " when the
    folder holds several): the numbers behind each, one row per cell (strategy, column, mean, std, n,
    ci_low, ci_high, p: numeric columns a notebook can compute with), or with `numbers=False` the
    shown text (rows × columns, cells like "6.25 (n=1)"); with `format` (md, latex, csv, json) the
    whole output as that text instead. Unreadable finished runs are warned about. `tuned`: the tables of a
    `sweep --tune` instead, defaults-only and tuned (`--tuned`)."""
    if format is not None:
        check_choice(format, RENDERERS, "--format")
    groups, damaged = compare_groups(results_dir, selection, against, reference, robustness, tuned)
    for run in damaged:
        warnings.warn(UserNotice(run.note), stacklevel=2)
    if format is not None:
        return render_report(groups, format)
    prefix = (lambda g: f"{g.preset}/{g.dataset}: ") if len(groups) > 1 else (lambda g: "")
    return {prefix(g) + table.title: table.cells if numbers else table.text for g in groups for table in g.tables}


def plot(results_dir: Path | str = "results/runs", out: Path | str = "results/figures",
         sensitivity: list[str] = (), features: bool = False, embedding: str = "tsne") -> list[Path]:
    """Figures over training per preset (PNG and PDF): accuracy, per-modality accuracy, cos(g_c, g_d),
    GMP's rho, sigma, k, p; returns the files written. Unreadable finished runs are warned about.
    With `sensitivity` (one or two settings a `sweep --vary` varied, e.g. ["strategy.gmp.alpha_k"]),
    instead the sensitivity figure: accuracy against the setting, or a heatmap over the two. With
    `features`, instead the feature maps and separability scores of the run folder `results_dir` (or of
    each run under it) that `evaluate --features` saved (feature_maps; `embedding`: tsne or umap)."""
    from mmdg_bench.results.plots import plot_results
    from mmdg_bench.results.sensitivity import plot_sensitivity

    if features:
        return feature_maps(results_dir, out, embedding, bool(sensitivity))[0]
    if sensitivity:
        written, damaged = plot_sensitivity(Path(results_dir), Path(out), list(sensitivity))
    else:
        written, damaged = plot_results(Path(results_dir), Path(out))
    for run in damaged:
        warnings.warn(UserNotice(run.note), stacklevel=2)
    return written


def feature_maps(results_dir: Path | str, out: Path | str = "results/figures", embedding: str = "tsne",
                 sensitivity: bool = False) -> tuple[list[Path], pd.DataFrame]:
    """`plot --features`: the files written and the scores (one row per run and view: each modality,
    then fused), which the CLI prints as a table."""
    from mmdg_bench.results.feature_maps import plot_features

    if sensitivity:
        raise UserError("--features and --sensitivity draw different figures: give one of them")
    return plot_features(Path(results_dir), Path(out), embedding)
