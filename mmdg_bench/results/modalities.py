"""GMP's Table 1 layout: per-modality and fused accuracy on target and source validation and, when
single-modality runs exist, each modality trained alone minus its head in the joint model.
"""


import pandas as pd

from mmdg_bench.results.cells import CELLS_CAPTION, Leaderboard, leaderboard, stat_cell, value_cell
from mmdg_bench.results.collect import ROW
from mmdg_bench.results.reference import MODALITIES as PAPER_MODALITIES
from mmdg_bench.results.reference import SOURCE as PAPER_SOURCE
from mmdg_bench.results.reference import TABLE1_ALONE, TABLE1_DATASET, TABLE1_JOINT, TABLE2, published
from mmdg_bench.results.rows import BASELINE, FUSED_TARGET, of_row, ordered_rows, row_facts, seed_averages, with_rows


def modality_metrics(runs: pd.DataFrame) -> dict[str, str]:
    """Column label -> metric: every modality head, then the fused head, on target then on val."""
    metrics = {}
    for split in ("target", "val"):
        heads = [c.removeprefix(f"{split}/") for c in runs.columns
                 if c.startswith(f"{split}/") and c != f"{split}/fused" and runs[c].notna().any()]
        metrics.update({f"{head} ({split})": f"{split}/{head}" for head in [*heads, "fused"]})
    return metrics


def gap_column(modality: str) -> str:
    return f"{modality} gap (alone − joint)"


def alone_row(facts: pd.DataFrame, joint: str, modality: str) -> str | None:
    """The single-modality row that stands for `modality` trained alone beside the joint row: the
    baseline's (the paper's "trained alone"), else the same strategy's, with the same other settings."""
    candidates = facts[(facts.modalities == modality) & (facts.shared == facts.loc[joint, "shared"])]
    for strategy in (BASELINE, facts.loc[joint, "strategy"]):
        rows = candidates.index[candidates.strategy == strategy]
        if len(rows):
            return rows[0]
    return None


def imbalance_cells(runs: pd.DataFrame, rows: list[str]) -> tuple[list[dict], list[str]]:
    """Per joint row and modality m with a single-modality row for m: (m alone, fused target) −
    (m's head in the joint model, target), paired over seeds (each averaged over targets); and the
    modalities that ran alone."""
    facts = row_facts(runs)
    singles = sorted({m for m in facts.modalities if "," not in m})
    fused = seed_averages(runs, FUSED_TARGET)
    cells = []
    for joint in rows:
        modalities = facts.loc[joint, "modalities"].split(",")
        for m in singles:
            alone = alone_row(facts, joint, m) if len(modalities) > 1 and m in modalities else None
            if alone is None or f"target/{m}" not in runs.columns:
                continue
            head = of_row(seed_averages(runs, f"target/{m}"), joint).droplevel(ROW)
            cells.append(stat_cell(joint, gap_column(m), (of_row(fused, alone).droplevel(ROW) - head).dropna()))
    return cells, singles


def paper_modality_cells(singles: list[str]) -> list[dict]:
    """Table 1's published EPIC rows: the joint models' heads, and each modality trained alone."""
    fused = published(TABLE2, TABLE1_DATASET)
    cells = []
    for method, heads in TABLE1_JOINT.items():
        label = f"{method} (paper)"
        cells += [value_cell(label, f"{m} (target)", heads[m]) for m in PAPER_MODALITIES]
        cells += [value_cell(label, "fused (target)", fused[method]),
                  value_cell(label, "fused (val)", heads["fused (val)"])]
        cells += [value_cell(label, gap_column(m), TABLE1_ALONE[m] - heads[m])
                  for m in PAPER_MODALITIES if m in singles]
    cells += [value_cell(f"{m} alone (paper)", "fused (target)", TABLE1_ALONE[m]) for m in PAPER_MODALITIES]
    return cells


def modality_table(runs: pd.DataFrame, with_paper: bool = False) -> Leaderboard:
    """Table 1 layout: per-modality and fused accuracy, target and source validation; the imbalance
    gap when single-modality runs exist; the paper's EPIC rows on request."""
    runs = with_rows(runs)
    rows = ordered_rows(runs)
    averages = {column: seed_averages(runs, metric) for column, metric in modality_metrics(runs).items()}
    cells = [stat_cell(row, column, of_row(by_seed, row)) for row in rows for column, by_seed in averages.items()]
    gaps, singles = imbalance_cells(runs, rows)
    cells += gaps
    caption = "val = source validation (the source domains' test splits); target = the held-out domain. "
    if singles:
        caption += ("m gap: m trained alone (the fused target accuracy of the baseline's single-modality row, "
                    "else the same strategy's, with the same other settings) minus m's head in the joint "
                    "model, per seed over the held-out domains, then mean ± std over seeds (GMP Table 1). ")
    if with_paper:
        cells += paper_modality_cells(singles)
        caption += f"(paper) rows: {PAPER_SOURCE} Table 1, EPIC-Kitchens. "
    return leaderboard("Per-modality accuracy (%), mean over held-out domains (Table 1 layout)", cells,
                       caption + CELLS_CAPTION)
