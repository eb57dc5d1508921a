"""Run folders -> a tidy per-epoch DataFrame, and mean ± std curves over seeds for the plots.

    from mmdg_bench.results.epochs import epoch_table, epoch_stats
    table = epoch_table("results/runs")          # one row per (run, epoch)
    curves = epoch_stats(table, "target/fused")  # mean, std, n over seeds per epoch

Columns of `epoch_table`: the run identifiers of `collect.ID_COLUMNS`, `modalities`, `epoch`, then
one column per logged number: `train/loss_cls`, `val/fused`, `target/video`, ..., and the strategy
diagnostics as `diag/video/rho`, `diag/ogm/video/coeff`, ... (the same `diag/` prefix as `collect`).
"""

import json
import warnings
from pathlib import Path

import pandas as pd

from mmdg_bench.engine.run_folder import METRICS
from mmdg_bench.results.collect import ROW, Damaged, finished_run_rows, label_rows, read_summary, run_identity

ALL_TARGETS = "all targets"
# metrics.jsonl section -> column prefix; "strategy" becomes "diag" to match the runs table of `collect`.
SECTIONS = {"train": "train", "val": "val", "target": "target", "strategy": "diag"}
CURVE_KEYS = ["preset", "dataset", ROW, "target_domain", "seed", "epoch"]


def flatten(line: dict) -> dict:
    """One metrics.jsonl line -> {"epoch": 3, "val/fused": 61.2, "diag/video/rho": 1.1, ...}."""
    row = {"epoch": int(line["epoch"])}
    for section, prefix in SECTIONS.items():
        row.update({f"{prefix}/{key}": float(value) for key, value in line.get(section, {}).items()})
    return row


def read_metrics(path: Path) -> list[dict]:
    """The flattened epochs of one metrics.jsonl; a line that does not parse is skipped with a
    warning naming the file, so one bad write never hides the rest of a run."""
    rows = []
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if not text.strip():
            continue
        try:
            rows.append(flatten(json.loads(text)))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as err:
            warnings.warn(f"skipping line {number} of {path}: not a metrics record ({err})", stacklevel=2)
    return rows


def run_rows(folder: Path) -> list[dict]:
    """Every epoch of one finished run, each carrying the run's identity from summary.json."""
    identity = run_identity(read_summary(folder))
    return [{**identity, **epoch} for epoch in read_metrics(folder / METRICS)]


def epoch_runs(results_dir: Path | str) -> tuple[pd.DataFrame, list[Damaged]]:
    """One row per (finished run, epoch) under `results_dir`, each labelled with its ROW (strategy and
    configuration, as in the leaderboards); and the finished runs that could not be read."""
    collected = finished_run_rows(results_dir, run_rows)
    table = label_rows(pd.DataFrame(collected.rows))
    return table.sort_values(CURVE_KEYS, kind="stable", ignore_index=True), collected.damaged


def epoch_table(results_dir: Path | str) -> pd.DataFrame:
    """`epoch_runs` without the damaged runs; unfinished folders are ignored."""
    return epoch_runs(results_dir)[0]


def seed_curves(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """(preset, dataset, row, target_domain, seed, epoch, value), plus rows with target_domain
    ALL_TARGETS: per seed and epoch, the mean over every target domain of the preset. A seed that
    misses a target (or an epoch of one) is left out of ALL_TARGETS, as in the leaderboard's Avg."""
    if metric not in table.columns:
        return pd.DataFrame(columns=[*CURVE_KEYS, "value"])
    # Duplicate runs of one (row, target, seed) are averaged, as the leaderboards' paired tests do.
    runs = (table.dropna(subset=[metric]).groupby(CURVE_KEYS, as_index=False)[metric].mean()
            .rename(columns={metric: "value"}))
    targets = table.groupby("preset").target_domain.nunique()
    by_seed = runs.groupby([k for k in CURVE_KEYS if k != "target_domain"], as_index=False).agg(
        value=("value", "mean"), covered=("target_domain", "nunique"))
    complete = by_seed[by_seed.covered == by_seed.preset.map(targets)].drop(columns="covered")
    return pd.concat([runs, complete.assign(target_domain=ALL_TARGETS)], ignore_index=True)


def epoch_stats(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """(preset, dataset, row, target_domain, epoch, mean, std, n): over seeds, std with ddof=1
    (NaN for a single seed, as in the leaderboards), per target domain and for ALL_TARGETS."""
    keys = [k for k in CURVE_KEYS if k != "seed"]
    curves = seed_curves(table, metric)
    stats = curves.groupby(keys, as_index=False).value.agg(mean="mean", std="std", n="count")  # ddof=1
    return stats.sort_values(keys, kind="stable", ignore_index=True)
