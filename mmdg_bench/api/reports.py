"""`mmdg-bench report` as a function: `compare`'s tables, `plot`'s figures and every run's provenance in
one self-contained HTML file (mmdg_bench/results/report.py builds it; mmdg_bench/cli/report.py calls this).
Not api/report.py: a submodule named like its function would hide the function once imported.

    from mmdg_bench import api
    api.report("results/synth/runs", out="results/synth/report.html")
"""

import warnings
from pathlib import Path

import pandas as pd

from mmdg_bench.errors import UserError, UserNotice, check_choice
from mmdg_bench.files import write_text_atomically
from mmdg_bench.results.collect import collect_runs, finished_run_rows, planned_runs
from mmdg_bench.results.rows import BASELINE
from mmdg_bench.results.tables import compare_report

SELECTIONS = ("best-val", "last", "oracle")


def check_out(out: Path) -> None:
    """Refuse, before any work, an --out the HTML file cannot be written to."""
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give the HTML file to write, e.g. {out / 'report.html'}")
    if not out.parent.is_dir():
        what = "is a file, not a folder" if out.parent.exists() else "does not exist"
        raise UserError(f"the folder of --out {out}, {out.parent}, {what}; create it or choose another path")


def report(results_dir: Path | str = "results/runs", out: Path | str = "results/report.html",
           selection: str = "best-val", against: str | None = None) -> Path:
    """Write every table `compare --reference paper` shows for `results_dir` (sortable), the figures of
    `plot` (inline SVG), the protocol, each run's provenance and the notes on missing or unreadable runs
    into the HTML file `out`, atomically; returns its path. Unreadable finished runs are warned about. A folder
    with `sweep --tune` runs also gets the tables of `compare --tuned`; runs with saved features (`evaluate
    --features`) their feature maps and separability scores (`plot --features`); a `sweep --vary` grid its
    sensitivity figures (`plot --sensitivity`)."""
    from mmdg_bench.results.epochs import epoch_runs
    from mmdg_bench.results.report import (
        draw_feature_maps,
        draw_figures,
        draw_sensitivity,
        provenance_rows,
        report_html,
    )
    from mmdg_bench.results.tuned import with_tuned_tables

    check_choice(selection, SELECTIONS, "--selection")
    out = Path(out)
    check_out(out)
    runs, damaged = collect_runs(results_dir)
    groups = compare_report(runs, selection, against, "paper", damaged, planned_runs(results_dir))
    groups = with_tuned_tables(groups, runs, results_dir, selection, against)  # where a `sweep --tune` ran
    provenance = pd.DataFrame(finished_run_rows(results_dir, lambda f: provenance_rows(f, Path(results_dir))).rows)
    known = {d.folder for d in damaged}
    try:
        epochs, unreadable = epoch_runs(results_dir)
        figures = draw_figures(epochs)
    except UserError as err:  # no run has a readable metrics.jsonl: the tables still stand
        figures, unreadable = [], []
        figure_notes = [f"no figures: {err}"]
    else:
        figure_notes = [f"{d.note} (left out of the figures)" for d in unreadable if d.folder not in known]
    feature_maps, feature_notes = draw_feature_maps(Path(results_dir))  # runs whose features evaluate saved
    try:
        sensitivity = draw_sensitivity(Path(results_dir))  # the settings a `sweep --vary` grid varied
    except UserError as err:  # a damaged saved plan: the rest of the report still stands
        sensitivity, figure_notes = [], [*figure_notes, f"no sensitivity figures: {err}"]
    figure_notes += feature_notes
    for note in [run.note for run in damaged] + figure_notes:
        warnings.warn(UserNotice(note), stacklevel=2)
    page = report_html(groups, runs, provenance, figures, damaged, str(results_dir), against or BASELINE,
                       figure_notes, feature_maps, sensitivity)
    write_text_atomically(out, page)
    return out
