"""Finished runs under test-time conditions as a function: `mmdg-bench evaluate`
(mmdg_bench/cli/evaluate.py) calls it.

    from mmdg_bench import api
    api.evaluate(["results/runs/synth__gmp__day__seed0__1a2b3c4d5e"], missing=["audio"], corrupt=["blur:3"])
    api.evaluate(["results/runs/synth__gmp__day__seed0__1a2b3c4d5e"], features=True)  # <run>/features.npz
"""

import warnings
from pathlib import Path

import pandas as pd

from mmdg_bench.errors import UserError, UserNotice
from mmdg_bench.plugins import load_plugins
from mmdg_bench.robustness import evaluate_run, parse_conditions
from mmdg_bench.robustness.evaluate import check_run
from mmdg_bench.robustness.features import save_features
from mmdg_bench.sweep.plan import is_plans_folder


def evaluate(run_dirs: list[Path | str], missing: list[str] = (), corrupt: list[str] = (), weights: str = "best-val",
             missing_as: str = "features", device: str = "cpu", plugins: list[str] = (),
             features: bool = False) -> pd.DataFrame:
    """Fused target accuracy of each finished run (a row: its folder's name) under each condition (a
    column: clean, missing:<modality>, <corruption>:<severity>); each run's robustness.json records them.
    With `features`, also (or, without a condition, only) each run's pooled per-modality and fused features
    of its source-validation and target clips, saved into <run>/features.npz (a "features" column: its path).
    A run's own plugins are imported from its config; `plugins` adds others."""
    load_plugins(plugins)
    conditions = parse_conditions(list(missing), list(corrupt))
    if len(conditions) == 1 and not features:
        raise UserError("name a condition to evaluate: --missing MODALITY or --corrupt NAME:SEVERITY, or save "
                        "the features with --features")
    folders = [Path(folder) for folder in run_dirs]
    for plans in (folder for folder in folders if is_plans_folder(folder)):  # `results/runs/*/` matches it
        warnings.warn(UserNotice(f"skipped {plans}: it holds sweep plans, not a run"), stacklevel=2)
    folders = [folder for folder in folders if not is_plans_folder(folder)]
    if not folders:
        raise UserError("no run folder to evaluate: name the folders of finished runs")
    for folder in folders:  # every run checked before any work: a weightless third run stops nothing half-done
        check_run(folder, weights)
    if len(conditions) == 1:  # --features alone: no accuracy columns
        conditions = []
    rows = []
    for folder in folders:
        results = evaluate_run(folder, conditions, weights, missing_as, device) if conditions else {}
        row = {"run": folder.name, **{c.name: results[c.name]["fused"] for c in conditions}}
        if features:
            row["features"] = save_features(folder, weights, device)
        rows.append(row)
    return pd.DataFrame(rows, columns=["run", *(c.name for c in conditions), *(["features"] if features else [])])
