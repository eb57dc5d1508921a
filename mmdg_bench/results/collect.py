"""Run folders -> a tidy DataFrame, one row per finished run and model-selection rule."""

import json
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from mmdg_bench.engine.run_folder import DONE, SUMMARY
from mmdg_bench.errors import UserError

ID_COLUMNS = ["preset", "dataset", "strategy", "target_domain", "seed", "config_hash"]


def run_folders(results_dir: Path) -> list[Path]:
    """Finished run folders (those with a `done` marker) anywhere under `results_dir`."""
    return sorted(p.parent for p in Path(results_dir).rglob(DONE) if (p.parent / SUMMARY).is_file())


def summary_rows(summary: dict) -> list[dict]:
    rows = []
    for rule, chosen in summary["selection"].items():
        row = {k: summary[k] for k in ID_COLUMNS}
        row.update(selection=rule, epoch=chosen["epoch"], modalities=",".join(summary["modalities"]))
        for split in ("val", "target"):
            row.update({f"{split}/{head}": acc for head, acc in chosen[split].items() if head != "loss"})
        row.update({f"diag/{key}": value for key, value in summary.get("diagnostics", {}).items()})
        rows.append(row)
    return rows


def finished_run_rows(results_dir: Path | str, read_folder: Callable[[Path], list[dict]]) -> list[dict]:
    """`read_folder` applied to every finished run folder under `results_dir`, rows concatenated;
    an unreadable folder is skipped with a warning naming it."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise UserError(f"results folder {results_dir} does not exist")
    rows = []
    for folder in run_folders(results_dir):
        try:
            rows += read_folder(folder)
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
            warnings.warn(f"skipping {folder}: unreadable run folder ({err})", stacklevel=2)
    if not rows:
        raise UserError(f"no finished runs under {results_dir} (a run folder counts once it has a "
                        f"'{DONE}' marker); start one with `mmdg-bench run`")
    return rows


def collect(results_dir: Path | str) -> pd.DataFrame:
    """One row per finished run and model-selection rule."""
    return pd.DataFrame(finished_run_rows(
        results_dir, lambda folder: summary_rows(json.loads((folder / SUMMARY).read_text()))))
