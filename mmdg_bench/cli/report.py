"""`mmdg-bench report`: one self-contained HTML file of the tables, figures and provenance of a results
folder (mmdg_bench/api/reports.py gathers them; mmdg_bench/results/report.py builds the page).

    mmdg-bench report results/synth/runs --out results/synth/report.html
"""

from pathlib import Path

import typer

from mmdg_bench.cli.common import AGAINST, RESULTS_DIR, SELECTION, Selection, console, user_errors


@user_errors
def report(
    results_dir: Path = RESULTS_DIR,
    out: Path = typer.Option(Path("results/report.html"), metavar="FILE", help="The HTML file to write."),
    selection: Selection = SELECTION,
    against: str = AGAINST,
):
    """One self-contained HTML report: every compare table (sortable, with the published rows), the figures, the
    protocol, each run's provenance."""
    from mmdg_bench.api.reports import report as write_report

    written = write_report(results_dir, out, selection.value, against)
    console.print(f"wrote {written} ({written.stat().st_size / 1e6:.1f} MB)", highlight=False)
