"""The notes under a group's tables: the runs missing (from the sweeps' plans, else from the grid
of rows × targets × seeds seen, damaged ones included) and cells whose runs mix environments.
"""

import itertools

import pandas as pd

from mmdg_bench.results.collect import (
    DEFAULT_METHOD,
    ENVIRONMENT,
    ROW,
    RUN_FOLDER,
    Damaged,
    method_label,
)
from mmdg_bench.results.rows import (
    ordered_rows,
    with_rows,
)

SHOWN_MISSING = 5
SHOWN_CELLS = 3


def damaged_ids(damaged: list[Damaged], preset: str, unnamed: bool) -> list[tuple[str, str, int] | None]:
    """(row label, target, seed) of each damaged run of `preset`, read from its folder name
    (<preset>__<strategy or method+strategy>__<target>__seed<N>__<hash>); with `unnamed`, None for
    each whose name does not say (they are counted once, in the first group)."""
    ids = []
    for run in damaged:
        parts = run.folder.name.split("__")
        if len(parts) == 5 and parts[3].startswith("seed") and parts[3][4:].isdigit():
            if parts[0] == preset:
                method, _, strategy = parts[1].rpartition("+")  # "simmmdg+gmp": another method than erm
                ids.append((method_label(method or DEFAULT_METHOD, strategy), parts[2], int(parts[3][4:])))
        elif unnamed:
            ids.append(None)
    return ids


def missing_runs(runs: pd.DataFrame) -> list[str]:
    """row/target/seed of each run absent from the grid of rows × targets × seeds seen."""
    runs = with_rows(runs)
    present = set(zip(runs[ROW], runs.target_domain, runs.seed))
    grid = itertools.product(ordered_rows(runs), *(sorted(runs[c].unique()) for c in ("target_domain", "seed")))
    return [f"{s}/{t}/seed{seed}" for s, t, seed in grid if (s, t, seed) not in present]


def missing_notes(runs: pd.DataFrame, damaged: list[tuple[str, str, int] | None] = ()) -> list[str]:
    """The runs missing from the grid, damaged ones (unreadable summary.json) included."""
    missing = missing_runs(runs)
    named = [f"{s}/{t}/seed{seed}" for s, t, seed in filter(None, damaged)]
    missing += [run for run in named if run not in missing]
    return missing_note(missing, len(missing) + sum(run is None for run in damaged), len(damaged))


def planned_missing_notes(runs: pd.DataFrame, planned: dict[str, str], damaged_folders: set[str]) -> list[str]:
    """The runs the sweep plans name that have no readable summary (`planned`: folder name -> label)."""
    present = set(runs[RUN_FOLDER]) if RUN_FOLDER in runs else set()
    absent = [name for name in planned if name not in present]
    return missing_note([planned[name] for name in absent], len(absent), len(damaged_folders & set(absent)))


def missing_note(missing: list[str], count: int, unreadable: int) -> list[str]:
    if not count:
        return []
    more = len(missing) - SHOWN_MISSING
    listed = ", ".join(missing[:SHOWN_MISSING]) + (f", … ({more} more)" if more > 0 else "")
    damaged = f" ({unreadable} of them finished but unreadable)" if unreadable else ""
    return [f"{count} run(s) missing{damaged}: {listed}".rstrip(": ")]


def environment_notes(runs: pd.DataFrame) -> list[str]:
    """One line when the runs of a cell (row, target) differ in torch version, device or threads."""
    columns = [c for c in ENVIRONMENT.values() if c in runs.columns]
    if not columns:
        return []
    mixed = []
    for (row, target), cell in with_rows(runs).groupby([ROW, "target_domain"], sort=True):
        differ = [f"{c.removeprefix('env/')} {', '.join(map(str, sorted(cell[c].dropna().astype(str).unique())))}"
                  for c in columns if cell[c].dropna().astype(str).nunique() > 1]
        if differ:
            mixed.append(f"{row}/{target} ({'; '.join(differ)})")
    if not mixed:
        return []
    more = f", … ({len(mixed) - SHOWN_CELLS} more)" if len(mixed) > SHOWN_CELLS else ""
    return [f"runs in {len(mixed)} cell(s) differ in torch version, device or threads, so their spread "
            f"mixes environments: {', '.join(mixed[:SHOWN_CELLS])}{more}"]
