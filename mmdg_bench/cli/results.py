"""`mmdg-bench compare` and `plot`: leaderboards and figures from run folders (mmdg_bench/api/results.py
gathers them; mmdg_bench/results/ builds them).

    mmdg-bench compare results/runs --format md --reference paper
    mmdg-bench plot results/runs --out results/figures
"""

import sys
import warnings
from enum import Enum
from pathlib import Path

import typer

from mmdg_bench.cli.common import AGAINST, RESULTS_DIR, SELECTION, Selection, console, errors, user_errors, warning


class Format(str, Enum):
    table = "table"
    md = "md"
    latex = "latex"
    csv = "csv"
    json = "json"


class Reference(str, Enum):
    paper = "paper"


@user_errors
def compare(
    results_dir: Path = RESULTS_DIR,
    format: Format = typer.Option(Format.table, "--format", help="Output format."),
    selection: Selection = SELECTION,
    against: str = AGAINST,
    reference: Reference = typer.Option(None, help="Add published rows: paper = GMP's EPIC-Kitchens/HAC averages."),
    robustness: bool = typer.Option(False, "--robustness", help="Accuracy under the test-time conditions "
                                                              "`mmdg-bench evaluate` recorded, instead."),
    tuned: bool = typer.Option(False, "--tuned", help="Instead, the tables of a sweep --tune: defaults only, and "
                                                      "each row's draw chosen by source validation."),
):
    """Leaderboards from run folders: strategies × held-out domains, mean ± std over seeds, paired tests."""
    from mmdg_bench.api.results import compare_groups
    from mmdg_bench.results.render import print_report, render_report, report_notes

    groups, damaged = compare_groups(results_dir, selection.value, against, reference and reference.value, robustness,
                                     tuned)
    for run in damaged:
        warning(run.note)
    if format is Format.table:
        print_report(groups, console)
        return
    sys.stdout.write(render_report(groups, format.value))
    if format is Format.csv:  # a CSV file holds data only: its notes go to stderr
        for note in report_notes(groups):
            errors.print(note, highlight=False, soft_wrap=True)


@user_errors
def plot(
    results_dir: Path = RESULTS_DIR,
    out: Path = typer.Option(Path("results/figures"), help="Where the figures are written (PNG and PDF)."),
    sensitivity: list[str] = typer.Option(None, metavar="KEY",
                                          help="Instead, accuracy against a setting that sweep --vary varied; "
                                               "given twice, a heatmap over the two settings."),
    features: bool = typer.Option(False, "--features",
                                  help="Instead, feature maps and domain/class separability scores of the run "
                                       "folder RESULTS_DIR (or each run under it) saved by evaluate --features."),
    embedding: str = typer.Option("tsne", "--embedding", metavar="tsne|umap",
                                  help="The 2-D map of --features: t-SNE, or UMAP where umap-learn is installed."),
):
    """Figures over training per preset: accuracy, per-modality accuracy, cos(g_c, g_d), GMP's rho, sigma, k, p."""
    from mmdg_bench.api.results import plot as plot_figures

    if features:
        plot_feature_maps(results_dir, out, embedding, bool(sensitivity))
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = plot_figures(results_dir, out, sensitivity or [])
    for message in caught:
        warning(str(message.message))
    for path in written:
        console.print(str(path), highlight=False)
    console.print(f"wrote {len(written) // 2} figures (PNG and PDF) to {out}", highlight=False)


def plot_feature_maps(results_dir: Path, out: Path, embedding: str, sensitivity: bool) -> None:
    """`plot --features`: the files, then the scores as a table (they do not depend on the picture)."""
    from rich.table import Table
    from rich.text import Text

    from mmdg_bench.api.results import feature_maps
    from mmdg_bench.results.feature_maps import FOLDS

    written, scores = feature_maps(results_dir, out, embedding, sensitivity)
    for path in written:
        console.print(str(path), highlight=False)
    for run, rows in scores.groupby("run", sort=False):
        table = Table(title=Text(f"{run}: separability (%), stratified {FOLDS}-fold on standardised features"),
                      caption=Text("domain probe: logistic regression's domain accuracy (lower = more "
                                   "domain-invariant); class kNN: kNN's class accuracy"))
        for column in ("features", "clips", "domain probe", "domain chance", "class kNN", "class chance"):
            table.add_column(column, justify="left" if column == "features" else "right")
        for row in rows.itertuples(index=False):
            table.add_row(Text(row.view), str(row.clips), *(
                "–" if value != value else f"{value:.1f}"  # NaN: too few clips of a label to cross-validate
                for value in (row.domain_probe, row.domain_chance, row.class_knn, row.class_chance)))
        console.print(table)
    console.print(f"wrote {scores.run.nunique()} feature map figure(s) (PNG and SVG) and their scores (CSV) to "
                  f"{out}", highlight=False)
