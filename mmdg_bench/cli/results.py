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
):
    """Leaderboards from run folders: strategies × held-out domains, mean ± std over seeds, paired tests."""
    from mmdg_bench.api.results import compare_groups
    from mmdg_bench.results.render import print_report, render_report, report_notes

    groups, damaged = compare_groups(results_dir, selection.value, against, reference and reference.value, robustness)
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
):
    """Figures over training per preset: accuracy, per-modality accuracy, cos(g_c, g_d), GMP's rho, sigma, k, p."""
    from mmdg_bench.api.results import plot as plot_figures

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = plot_figures(results_dir, out, sensitivity or [])
    for message in caught:
        warning(str(message.message))
    for path in written:
        console.print(str(path), highlight=False)
    console.print(f"wrote {len(written) // 2} figures (PNG and PDF) to {out}", highlight=False)
