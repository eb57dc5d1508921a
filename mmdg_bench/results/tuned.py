"""`compare --tuned`: the tables of equal-budget tuning (`sweep --tune K`; DomainBed's training-domain
validation selection, Gulrajani and Lopez-Paz, ICLR 2021, model_selection.py).

Per row (method + strategy) and held-out domain, the draw whose source-validation accuracy, averaged over
seeds, is the highest is chosen; the table reports that draw's target accuracy over its seeds, with the Δ
and sign-flip test against the (also tuned) reference row. The choice reads only `val/fused`: a target
metric never chooses a draw, so the target stays unseen as the protocol demands. Under `--selection
oracle` the draw (and each run's epoch) is chosen by target accuracy instead, and the table says it peeks.
Beside it: the defaults-only table (draw 0, K = 1) and each strategy's per-step cost (its facts' `cost`).
Which run is which draw is read from the saved sweep plans (`<out>/sweeps/`, each run's `draw`).
"""

import dataclasses
import json
from pathlib import Path

import pandas as pd

from mmdg_bench.errors import UserError
from mmdg_bench.results.accuracy import accuracy_tables, extras_caption
from mmdg_bench.results.cells import CELLS_CAPTION, MARK_RULE, Group, Leaderboard, leaderboard
from mmdg_bench.results.collect import ROW, RUN_FOLDER, method_label
from mmdg_bench.results.rows import (
    BASELINE,
    FUSED_TARGET,
    delta_cells,
    info_of,
    ordered_rows,
    paired_table,
    paired_tests,
    resolve_against,
    target_cells,
)
from mmdg_bench.settings import NOT_ROW_SETTINGS

DRAW, STUDY = "draw", "study"
SOURCE_VAL = "val/fused"
# The metric that chooses a row's draw, per selection rule: source validation, but for the oracle.
CHOOSE_BY = {"best-val": SOURCE_VAL, "last": SOURCE_VAL, "oracle": FUSED_TARGET}


def tuned_draws(results_dir: Path | str) -> dict[str, tuple[int, tuple[str, ...]]]:
    """{run folder name: (draw, study)} of every run a `sweep --tune` planned under `results_dir`; a study
    is the sweep's own overrides (those that change what a run computes), so that two tuning sweeps of
    one strategy under different settings are told apart."""
    from mmdg_bench.sweep.plan import plan_records

    draws = {}
    for raw in plan_records(results_dir):
        if raw.get(DRAW) is None or not raw.get("run_folder"):
            continue
        drawn = set(raw.get("varied") or ())
        study = tuple(o for o in raw["overrides"] if o not in drawn
                      and o.partition("=")[0].strip() not in NOT_ROW_SETTINGS)
        draws[raw["run_folder"]] = (int(raw[DRAW]), study)
    return draws


def tuned_runs(runs: pd.DataFrame, draws: dict[str, tuple[int, tuple[str, ...]]]) -> pd.DataFrame:
    """The runs a tuning sweep planned, with their DRAW and a ROW label per (method, strategy, study): the
    strategy's name, and the study's overrides where one name ran under several."""
    tuned = runs[runs[RUN_FOLDER].isin(draws)].copy()
    if tuned.empty:
        return tuned
    tuned[DRAW] = tuned[RUN_FOLDER].map(lambda name: draws[name][0])
    tuned[STUDY] = tuned[RUN_FOLDER].map(lambda name: json.dumps(draws[name][1]))
    tuned[ROW] = [method_label(m, s) for m, s in zip(tuned["method"], tuned["strategy"])]
    shared = set.intersection(*(set(json.loads(s)) for s in tuned[STUDY].unique()))
    several = tuned.groupby(ROW)[STUDY].transform("nunique") > 1
    tuned[ROW] = [f"{row} [{', '.join(o for o in json.loads(study) if o not in shared)}]" if many else row
                  for row, study, many in zip(tuned[ROW], tuned[STUDY], several)]
    return tuned


def choose_draws(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (row, held-out domain), the runs of the draw with the highest `metric` averaged over its seeds
    (a tie goes to the lower draw: the defaults first). Only `metric` is read to choose."""
    means = runs.groupby([ROW, "target_domain", DRAW])[metric].mean().rename("score").reset_index()
    best = means.sort_values([ROW, "target_domain", "score", DRAW], ascending=[True, True, False, True],
                             kind="stable").drop_duplicates([ROW, "target_domain"])
    return runs.merge(best[[ROW, "target_domain", DRAW]], on=[ROW, "target_domain", DRAW])


def cost_text(cost) -> str:
    return "–" if pd.isna(cost) else f"{float(cost):.2f}×"


def tuned_table(chosen: pd.DataFrame, title: str, against: str | None, budget: str, rule: str) -> list[Leaderboard]:
    """The chosen draws' target accuracy (targets, Avg, Δ), each row's chosen draw per held-out domain and
    its per-step cost; then the paired tests behind the Δ."""
    cells = target_cells(chosen, FUSED_TARGET)
    tests = paired_tests(chosen, FUSED_TARGET, against)
    caption = f"{budget} {rule} {CELLS_CAPTION}"
    if tests:
        cells += delta_cells(tests, against)
        caption += f" Δ vs {against} (tuned alike): mean paired difference over (target, seed) pairs; {MARK_RULE}."
    costs = dict(zip(chosen[ROW], info_of(chosen, "cost")))
    for row in ordered_rows(chosen):
        picked = chosen[chosen[ROW] == row].drop_duplicates("target_domain").sort_values("target_domain")
        cells.append({"strategy": row, "column": "draws",
                      "text": ", ".join(f"{t} {d}" for t, d in zip(picked.target_domain, picked[DRAW]))})
        cost = costs.get(row)
        cells.append({"strategy": row, "column": "cost ×", "text": cost_text(cost),
                      **({} if pd.isna(cost) else {"mean": float(cost)})})
    caption += (" draws: the draw chosen per held-out domain (0 = defaults); cost ×: the strategy's training "
                "step, × baseline's (its facts; `mmdg-bench strategies`)." + extras_caption(chosen))
    table = leaderboard(title, cells, caption)
    return [table, titled(paired_table(tests, against), "Tuned")] if tests else [table]


def titled(table: Leaderboard, prefix: str) -> Leaderboard:
    """`table` under a title of its own (a page's anchors and `api.compare`'s keys are titles)."""
    return dataclasses.replace(table, title=f"{prefix}: {table.title}")


def tuned_group(runs: pd.DataFrame, selection: str, against: str) -> Group:
    """One (preset, dataset)'s defaults-only and tuned tables."""
    preset, dataset = runs.preset.iloc[0], runs.dataset.iloc[0]
    budget_per_row = runs.groupby(ROW)[DRAW].nunique()
    k = int(budget_per_row.max())
    notes = [f"{row} has {n} of the {k} draws the others have: its budget is smaller"
             for row, n in budget_per_row.items() if n < k]
    reference = resolve_against(runs, against)
    if reference is None and runs[ROW].nunique() > 1:
        notes.append(f"no tuned {against} runs here: no Δ column or paired test (choose another with --against).")
    defaults = runs[runs[DRAW] == 0]
    tables = accuracy_tables(defaults, "Defaults only (draw 0): fused target accuracy (%)",
                             resolve_against(defaults, against), {}) if not defaults.empty else []
    tables = tables[:1] + [titled(table, "Defaults only (draw 0)") for table in tables[1:]]
    metric = CHOOSE_BY[selection]
    budget = f"K = {k} draws per row and held-out domain (draw 0 = the defaults)."
    if metric == SOURCE_VAL:
        title = f"Tuned (K = {k}, chosen by source validation): fused target accuracy (%)"
        rule = ("Chosen per row and held-out domain: the draw with the best source-validation accuracy averaged "
                "over seeds; no target metric is read to choose.")
    else:
        title = f"Tuned (K = {k}, ORACLE: chosen by target accuracy, peeks at target labels): fused target accuracy (%)"
        rule = ("Chosen per row and held-out domain: the draw with the best TARGET accuracy averaged over seeds "
                "(target-peeking: an upper bound, not a result).")
    tables += tuned_table(choose_draws(runs, metric), title, reference, budget, rule)
    return Group(preset, dataset, selection, tables, notes)


def tuned_groups(runs: pd.DataFrame, results_dir: Path | str, selection: str, against: str | None = None) \
        -> list[Group]:
    """Per (preset, dataset) of the folder's tuned runs, the defaults-only and the tuned tables; none where
    no `sweep --tune` planned runs here."""
    tuned = tuned_runs(runs[runs.selection == selection], tuned_draws(results_dir))
    return [tuned_group(group, selection, against or BASELINE)
            for _, group in tuned.groupby(["preset", "dataset"], sort=True)] if not tuned.empty else []


def tuned_report(runs: pd.DataFrame, results_dir: Path | str, selection: str, against: str | None = None) \
        -> list[Group]:
    """`compare --tuned`: per (preset, dataset), the defaults-only and the tuned tables."""
    groups = tuned_groups(runs, results_dir, selection, against)
    if not groups:
        raise UserError(f"no runs of a `sweep --tune` under {results_dir} (with a '{selection}' selection): "
                        f"run `mmdg-bench sweep --tune K --out {results_dir}` first")
    return groups


def with_tuned_tables(groups: list[Group], runs: pd.DataFrame, results_dir: Path | str, selection: str,
                      against: str | None = None) -> list[Group]:
    """`groups` (compare's) with each (preset, dataset)'s tuning tables appended, where the folder has tuned
    runs (`mmdg-bench report`); unchanged where it has none."""
    extra = {(g.preset, g.dataset): g for g in tuned_groups(runs, results_dir, selection, against)}
    return [dataclasses.replace(g, tables=[*g.tables, *extra[g.preset, g.dataset].tables],
                                notes=[*g.notes, *extra[g.preset, g.dataset].notes])
            if (g.preset, g.dataset) in extra else g for g in groups]
