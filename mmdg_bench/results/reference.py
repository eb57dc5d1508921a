"""What the results side knows about strategies and the published numbers `--reference paper` shows.

Published numbers: the GMP paper (AAAI 2026, arXiv 2603.14175), mean fused target accuracy (%)
over the held-out domains, video+audio, concatenation fusion, mean of 5 runs. Table 2 compares
gradient strategies, Table 4 ablates GMP in three blocks, Table 1 gives per-modality accuracy on
EPIC-Kitchens. The paper gives only the average over targets, so a reference row fills the Avg
column alone. Table 3 adds GMP to other MMDG methods (RNA-Net, MOOSA, SimMMDG, CMRF: each alone and
with GMP), Table 5 runs the base model under other fusions (without and with GMP).

Strategy facts (`StrategyInfo`): a new summary.json carries them under "strategy_info"; older ones
do not, so `KNOWN_STRATEGIES` holds the same facts for the strategies known when they were written.
Methods likewise ("method_info", `KNOWN_METHODS`). This module imports no torch: `compare` reads
run folders without it.
"""

from dataclasses import dataclass

SOURCE = "GMP (AAAI 2026, arXiv 2603.14175)"
MODALITIES = ("video", "audio")
DATASET_COLUMNS = {"epic_kitchens": 0, "hac": 1}
MAIN, MODULATION, PROJECTION, EXTRA = "main", "modulation", "projection", "extra"


@dataclass(frozen=True)
class StrategyInfo:
    family: str
    block: str  # MAIN, MODULATION, PROJECTION or EXTRA
    paper_row: str | None  # the row label in the paper's Table 2 or 4; None: not in the paper
    order: int  # display order in tables and legends
    colour: str


# Table 4 (GMP): the modulation block runs without CAGP, the projection block without IGDM.
KNOWN_STRATEGIES = {
    "baseline": StrategyInfo("baseline", MAIN, "Base", 0, "#4d4d4d"),
    "ogm-ge": StrategyInfo("ogm-ge", MAIN, "OGM-GE", 1, "#1f77b4"),
    "grad-blending": StrategyInfo("grad-blending", MAIN, "Grad-Blending", 2, "#ff7f0e"),
    "pcgrad": StrategyInfo("pcgrad", MAIN, "PCGrad", 3, "#9467bd"),
    "gmp": StrategyInfo("gmp", MAIN, "GMP", 4, "#d62728"),
    "gmp-fast": StrategyInfo("gmp", MAIN, None, 5, "#e377c2"),
    "gmp-unified": StrategyInfo("gmp", MODULATION, "Unified", 10, "#8c564b"),
    "gmp-no-k": StrategyInfo("gmp", MODULATION, "w/o k", 11, "#bcbd22"),
    "gmp-no-p": StrategyInfo("gmp", MODULATION, "w/o p", 12, "#aec7e8"),
    "gmp-igdm-only": StrategyInfo("gmp", MODULATION, "IGDM only", 13, "#2ca02c"),
    "gmp-fixed-proj-cls": StrategyInfo("gmp", PROJECTION, "Fixed Proj-Class", 20, "#ffbb78"),
    "gmp-fixed-proj-dom": StrategyInfo("gmp", PROJECTION, "Fixed Proj-Domain", 21, "#98df8a"),
    "gmp-reverse-cagp": StrategyInfo("gmp", PROJECTION, "Reverse CAGP", 23, "#c49c94"),
    "gmp-cagp-only": StrategyInfo("gmp", PROJECTION, "CAGP only", 24, "#17becf"),
    "gmp-pcgrad": StrategyInfo("gmp", EXTRA, None, 30, "#c5b0d5"),
}


@dataclass(frozen=True)
class AblationBlock:
    """A block of Table 4: its variants are compared against `full`, then every row against gmp."""

    name: str
    title: str
    full: str
    members: tuple[str, ...]  # the paper's order; `full` last


TABLE4_BLOCKS = (
    AblationBlock(MODULATION, "modulation (no CAGP)", "gmp-igdm-only",
                  ("gmp-unified", "gmp-no-k", "gmp-no-p", "gmp-igdm-only")),
    AblationBlock(PROJECTION, "projection (no IGDM)", "gmp-cagp-only",
                  ("gmp-fixed-proj-cls", "gmp-fixed-proj-dom", "pcgrad", "gmp-reverse-cagp", "gmp-cagp-only")),
    AblationBlock("both", "IGDM + CAGP", "gmp", ("gmp",)),
    AblationBlock(EXTRA, "extra (not in paper)", "gmp", ()),
)

# Paper row -> (EPIC Avg, HAC Avg).
TABLE2 = {"Base": (55.06, 61.86), "OGM-GE": (55.71, 62.83), "Grad-Blending": (55.49, 62.66),
          "GMP": (57.36, 64.91)}
# Table 2 methods this benchmark does not implement: shown, marked, never beside a row of ours.
TABLE2_NOT_IMPLEMENTED = {"AGM": (55.39, 62.16), "CGGM": (55.30, 62.80), "DRB": (54.88, 61.92),
                          "BalGrad": (55.26, 62.36)}
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
# Our fusion -> its Table 5 row. The paper does not define "Activation"; `gated` (a sigmoid activation
# of the other modalities gating the first) is our closest variant: an assumption, shown as one.
FUSION_PAPER_ROWS = {"concat": "Concat", "sum": "Sum", "film": "FiLM", "gated": "Activation"}
ASSUMED_FUSIONS = {"gated": "Activation"}
FUSION_ORDER = ("concat", "sum", "film", "gated", "late")
DEFAULT_FUSION = "concat"
DEFAULT_METHOD = "erm"
# Strategy -> which Table 3/5 column its published number is: GMP's plug-in tables pair a model
# without a gradient strategy (baseline) with the same model under GMP.
PLUGIN_COLUMNS = {"baseline": 0, "gmp": 1}

# Method facts for summaries written without "method_info" (the registry's, mmdg_bench/methods/).
KNOWN_METHODS = {"erm": {"paper_row": None, "order": 0}, "rna-net": {"paper_row": "RNA-Net", "order": 1},
                 "simmmdg": {"paper_row": "SimMMDG", "order": 2}, "moosa": {"paper_row": "MOOSA", "order": 3},
                 "cmrf": {"paper_row": "CMRF", "order": 4}}


def method_info(method: str) -> dict:
    return dict(KNOWN_METHODS.get(method, {}))


def plugin_published(table: dict, paper_row: str | None, strategy: str, dataset: str) -> float | None:
    """The published Avg of a Table 3/5 row (method or fusion) under `strategy` (baseline: without
    GMP, gmp: with it) on `dataset`; None when the paper has none."""
    if paper_row not in table or strategy not in PLUGIN_COLUMNS or dataset not in DATASET_COLUMNS:
        return None
    return table[paper_row][PLUGIN_COLUMNS[strategy]][DATASET_COLUMNS[dataset]]


def strategy_info(strategy: str) -> StrategyInfo | None:
    return KNOWN_STRATEGIES.get(strategy)


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
    order = ["Base", "OGM-GE", "Grad-Blending", "PCGrad", "GMP"]
    values = published({row: implemented[row] for row in order}, dataset)
    rows = {f"{row} (paper{', Table 4' if row == 'PCGrad' else ''})": value for row, value in values.items()}
    rows.update({f"{row} (paper, not implemented here)": value
                 for row, value in published(TABLE2_NOT_IMPLEMENTED, dataset).items()})
    return rows
