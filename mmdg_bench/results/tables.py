"""Everything `compare` shows, one group per (preset, dataset): runs of different presets are never
averaged together, and one row stands for one strategy under one configuration (collect.ROW), never a
pool of configurations. Each layout is a module of its own:

    accuracy.py    Table 2: rows × (held-out domains + Avg) of fused target accuracy, a Δ column against
                   a reference row backed by a paired test, the paper's Avg rows on request; and the
                   strategy diagnostics (rho, sigma, k, p, conflicts, ...)
    modalities.py  Table 1: per-modality and fused accuracy, target and source validation, and each
                   modality trained alone minus its head in the joint model
    ablations.py   Table 4: GMP's ablations in the paper's blocks, only when they ran
    plug_in.py     Tables 3 and 5: each MMDG method, and ERM under each fusion, without and with each
                   strategy, only when they ran
    notes.py       the missing runs and the cells whose runs mix environments

Cells: mean ± std (ddof=1) over seeds, with n (cells.py). Avg is computed per seed over the target
domains (only seeds with every target present count), then summarised over seeds (rows.py). Each table
keeps its numbers (`cells`, long, for CSV/JSON) and the text shown (`text`, wide); render.py lays them out.
"""

import pandas as pd

from mmdg_bench.errors import UserError, did_you_mean
from mmdg_bench.results.ablations import ablation_tables
from mmdg_bench.results.accuracy import accuracy_tables, diagnostics_table, paper_rows
from mmdg_bench.results.cells import Group
from mmdg_bench.results.collect import ROW, Damaged
from mmdg_bench.results.modalities import modality_table
from mmdg_bench.results.notes import damaged_ids, environment_notes, missing_notes, planned_missing_notes
from mmdg_bench.results.plug_in import fusion_tables, method_tables
from mmdg_bench.results.reference import TABLE1_DATASET
from mmdg_bench.results.rows import BASELINE, resolve_against, with_rows


def group_report(runs: pd.DataFrame, selection: str, against: str, with_paper: bool,
                 damaged: list[tuple[str, str, int] | None] = (), planned: dict[str, str] | None = None,
                 damaged_folders: set[str] = frozenset()) -> Group:
    """One (preset, dataset) group's tables and notes; with `planned` (the sweep plans' runs of this
    preset), the missing runs are the planned ones, else the gaps in the grid of what ran."""
    preset, dataset = runs.preset.iloc[0], runs.dataset.iloc[0]
    missing = planned_missing_notes(runs, planned, damaged_folders) if planned else missing_notes(runs, damaged)
    notes = missing + environment_notes(runs)
    published_rows = {}
    if with_paper:
        published_rows, paper_notes = paper_rows(runs)
        notes += paper_notes
    reference = resolve_against(runs, against)
    several = sorted(set(runs.loc[runs.strategy == against, ROW]))
    if reference is None and len(several) > 1:
        notes.append(f"{against} ran under several configurations here ({', '.join(several)}): no Δ column "
                     f"or paired test; name one with --against.")
    elif reference is None and runs[ROW].nunique() > 1:
        notes.append(f"no {against} runs here: no Δ column or paired test (choose another with --against).")
    tables = [*accuracy_tables(runs, "Fused target accuracy (%) (Table 2 layout)", reference, published_rows),
              modality_table(runs, with_paper and dataset == TABLE1_DATASET),
              *ablation_tables(runs, dataset if with_paper else None),
              *method_tables(runs, dataset if with_paper else None),
              *fusion_tables(runs, dataset if with_paper else None), *diagnostics_table(runs)]
    return Group(preset, dataset, selection, tables, notes)


def check_against(chosen: pd.DataFrame, against: str) -> None:
    """A user-named reference must name one row in every group that has it, and exist somewhere."""
    labels = set(chosen[ROW]) | set(chosen.strategy)
    if against not in labels:
        raise UserError(f"no runs of strategy '{against}' to compare against{did_you_mean(against, labels)}")
    for _, group in chosen.groupby(["preset", "dataset"]):
        several = sorted(set(group.loc[group.strategy == against, ROW]))
        if against not in set(group[ROW]) and len(several) > 1:
            raise UserError(f"'{against}' ran under several configurations ({', '.join(several)}); "
                            f"name one of them with --against")


def compare_report(runs: pd.DataFrame, selection: str, against: str | None = None,
                   reference: str | None = None, damaged: list[Damaged] = (),
                   planned: dict[str, dict[str, str]] | None = None) -> list[Group]:
    """Everything `compare` shows, per (preset, dataset) group. `against` defaults to baseline;
    naming one that never ran is a user error. `reference` "paper" adds published rows; `damaged`
    finished runs that could not be read are counted among the missing ones; `planned` (from
    `planned_runs`) says which runs the sweeps meant to run, per preset."""
    chosen = with_rows(runs[runs.selection == selection])
    if chosen.empty:
        raise UserError(f"no run records a '{selection}' model selection; choose another with --selection")
    if against is not None:
        check_against(chosen, against)
    if reference not in (None, "paper"):
        raise UserError(f"unknown reference '{reference}' (choose from: paper)")
    groups = chosen.groupby(["preset", "dataset"], sort=True)
    damaged_folders = {run.folder.name for run in damaged}
    return [group_report(group, selection, against or BASELINE, reference == "paper",
                         damaged_ids(list(damaged), preset, unnamed=i == 0), (planned or {}).get(preset),
                         damaged_folders)
            for i, ((preset, _), group) in enumerate(groups)]
