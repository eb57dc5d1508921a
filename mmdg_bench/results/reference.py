"""The published numbers `--reference paper` shows, and how the paper lays its tables out.

Published numbers: the GMP paper (AAAI 2026, arXiv 2603.14175), mean fused target accuracy (%)
over the held-out domains, video+audio, concatenation fusion, mean of 5 runs. Table 2 compares
gradient strategies, Table 4 ablates GMP in three blocks, Table 1 gives per-modality accuracy on
EPIC-Kitchens. The paper gives only the average over targets, so a reference row fills the Avg
column alone. Table 3 adds GMP to other MMDG methods (RNA-Net, MOOSA, SimMMDG, CMRF: each alone and
with GMP), Table 5 runs the base model under other fusions (without and with GMP).

Rows are the paper's labels; which strategy, method or fusion stands for a row is that entry's
`paper_row` fact (mmdg_bench/facts.py). This module imports no torch: `compare` reads run folders
without it.
"""

from dataclasses import dataclass

from mmdg_bench.facts import EXTRA, MODULATION, PROJECTION

SOURCE = "GMP (AAAI 2026, arXiv 2603.14175)"
MODALITIES = ("video", "audio")
DATASET_COLUMNS = {"epic_kitchens": 0, "hac": 1}


@dataclass(frozen=True)
class AblationBlock:
    """A block of Table 4, by the paper's row labels: its rows are compared against its `full` row,
    then every row against GMP."""

    name: str  # the block fact of the strategies it holds ("both": GMP itself)
    title: str
    full: str  # the paper row of the block's full variant
    rows: tuple[str, ...]  # the paper's rows, in its order; `full` last


TABLE4_BLOCKS = (
    AblationBlock(MODULATION, "modulation (no CAGP)", "IGDM only", ("Unified", "w/o k", "w/o p", "IGDM only")),
    AblationBlock(PROJECTION, "projection (no IGDM)", "CAGP only",
                  ("Fixed Proj-Class", "Fixed Proj-Domain", "PCGrad", "Reverse CAGP", "CAGP only")),
    AblationBlock("both", "IGDM + CAGP", "GMP", ("GMP",)),
    AblationBlock(EXTRA, "extra (not in paper)", "GMP", ()),
)

# Paper row -> (EPIC Avg, HAC Avg), in the paper's order.
TABLE2 = {"Base": (55.06, 61.86), "OGM-GE": (55.71, 62.83), "Grad-Blending": (55.49, 62.66),
          "AGM": (55.39, 62.16), "CGGM": (55.30, 62.80), "DRB": (54.88, 61.92), "BalGrad": (55.26, 62.36),
          "GMP": (57.36, 64.91)}
# Table 2 methods this benchmark does not implement: shown, marked, never beside a row of ours (none now).
TABLE2_NOT_IMPLEMENTED: dict[str, tuple[float, float]] = {}
TABLE4 = {"Unified": (54.97, 62.50), "w/o k": (55.19, 62.33), "w/o p": (55.70, 62.29),
          "IGDM only": (55.98, 63.05), "Fixed Proj-Class": (54.63, 62.38), "Fixed Proj-Domain": (53.88, 62.03),
          "PCGrad": (54.33, 62.64), "Reverse CAGP": (54.00, 62.57), "CAGP only": (55.34, 63.41),
          "GMP": (57.36, 64.91)}

# Table 1, EPIC-Kitchens only: target accuracy of each modality's head in the joint model, of each
# modality trained alone, and the fused source-validation accuracy.
TABLE1_DATASET = "epic_kitchens"
TABLE1_JOINT = {"Base": {"video": 48.86, "audio": 34.15, "fused (val)": 76.31},
                "GMP": {"video": 52.33, "audio": 35.88, "fused (val)": 78.05}}
TABLE1_ALONE = {"video": 54.98, "audio": 38.86}


# Table 3 (GMP): method -> ((EPIC, HAC) alone, (EPIC, HAC) with GMP); video+audio, mean of 5 runs.
TABLE3 = {"RNA-Net": ((60.31, 62.88), (60.92, 65.21)), "MOOSA": ((60.29, 67.39), (61.79, 68.75)),
          "SimMMDG": ((60.81, 67.82), (62.03, 69.11)), "CMRF": ((60.60, 67.66), (62.30, 68.93))}
# Table 5 (GMP): fusion -> ((EPIC, HAC) without GMP, (EPIC, HAC) with GMP).
TABLE5 = {"Activation": ((52.23, 57.49), (55.69, 61.33)), "Concat": ((55.06, 61.86), (57.36, 64.91)),
          "Sum": ((52.94, 58.51), (56.37, 63.21)), "FiLM": ((53.16, 59.35), (56.19, 63.04))}
# Strategy -> which Table 3/5 column its published number is: GMP's plug-in tables pair a model
# without a gradient strategy (baseline) with the same model under GMP.
PLUGIN_COLUMNS = {"baseline": 0, "gmp": 1}


def plugin_published(table: dict, paper_row: str | None, strategy: str, dataset: str) -> float | None:
    """The published Avg of a Table 3/5 row (method or fusion) under `strategy` (baseline: without
    GMP, gmp: with it) on `dataset`; None when the paper has none."""
    if paper_row not in table or strategy not in PLUGIN_COLUMNS or dataset not in DATASET_COLUMNS:
        return None
    return table[paper_row][PLUGIN_COLUMNS[strategy]][DATASET_COLUMNS[dataset]]


def published(table: dict[str, tuple[float, float]], dataset: str) -> dict[str, float]:
    """Paper row -> published Avg on `dataset`; empty when the paper does not report it."""
    if dataset not in DATASET_COLUMNS:
        return {}
    return {row: values[DATASET_COLUMNS[dataset]] for row, values in table.items()}


def table2_rows(dataset: str) -> dict[str, float]:
    """Labelled Table 2 reference rows in our rows' order: the implemented methods, with PCGrad (a
    Table 4 row, but one of our main strategies) before GMP; then the methods not implemented here,
    marked as such."""
    implemented = {**TABLE2, "PCGrad": TABLE4["PCGrad"]}
    order = [row for row in TABLE2 if row != "GMP"] + ["PCGrad", "GMP"]
    values = published({row: implemented[row] for row in order}, dataset)
    rows = {f"{row} (paper{', Table 4' if row == 'PCGrad' else ''})": value for row, value in values.items()}
    rows.update({f"{row} (paper, not implemented here)": value
                 for row, value in published(TABLE2_NOT_IMPLEMENTED, dataset).items()})
    return rows
