"""GMP as a plug-in: Table 3 layout (each MMDG method other than erm alone and with each strategy,
against the method alone) and Table 5 layout (ERM under each fusion without and with each
strategy, against the same fusion alone), each only when it applies.
"""

import json

import pandas as pd

from mmdg_bench.facts import FUSION_FACTS
from mmdg_bench.results.ablations import ablation_delta
from mmdg_bench.results.cells import (
    AVG,
    CELLS_CAPTION,
    MARK_RULE,
    MISSING,
    Leaderboard,
    format_p,
    leaderboard,
    renamed,
    stat_cell,
    value_cell,
)
from mmdg_bench.results.collect import DEFAULT_FUSION, DEFAULT_METHOD
from mmdg_bench.results.reference import MODALITIES as PAPER_MODALITIES
from mmdg_bench.results.reference import SOURCE as PAPER_SOURCE
from mmdg_bench.results.reference import TABLE3, TABLE5, plugin_published
from mmdg_bench.results.rows import (
    BASELINE,
    FUSED_TARGET,
    of_row,
    ordered_rows,
    pair_table,
    row_facts,
    seed_averages,
    with_rows,
)


def plugin_cells(runs: pd.DataFrame, facts: pd.DataFrame, rows: list[str], name: dict[str, str],
                 paper: dict[str, float | None]) -> list[dict]:
    """Per row: its group's name (method or fusion), Avg, Δ and p against the same group's
    row under baseline (same other settings), and the published Avg where there is one."""
    averages = seed_averages(runs, FUSED_TARGET)
    pairs = pair_table(runs, FUSED_TARGET)
    cells = []
    for row in rows:
        delta = ablation_delta(pairs, facts, row, BASELINE, f"Δ vs {BASELINE}")
        cells += [{"strategy": row, "column": "group", "text": name[row]}, stat_cell(row, AVG, of_row(averages, row)),
                  delta, {"strategy": row, "column": "p", "text": format_p(delta["p"]) if "p" in delta else MISSING}]
        if paper.get(row) is not None:
            cells.append(value_cell(row, "paper Avg", paper[row]))
    return cells


def plugin_caption(what: str, dataset: str | None, table: str) -> str:
    caption = (f"Δ vs {BASELINE}: against the same {what}'s row under {BASELINE} (no gradient strategy) with the "
               f"same other settings (– when none or several ran), mean paired difference over the (target, seed) "
               f"pairs both ran; {MARK_RULE}; p: that test's p-value. " + CELLS_CAPTION)
    if dataset:
        caption += (f" paper Avg: {PAPER_SOURCE} {table} ({dataset}; {'+'.join(PAPER_MODALITIES)}), without GMP on "
                    f"the baseline row, with GMP on the gmp row.")
    return caption


def method_tables(runs: pd.DataFrame, dataset: str | None = None) -> list[Leaderboard]:
    """Table 3 layout, only when a method other than erm ran: each method alone (baseline) and with
    each strategy it ran; with `dataset`, GMP's Table 3 numbers beside the baseline and gmp rows."""
    runs = with_rows(runs)
    facts = row_facts(runs)
    rows = [row for row in ordered_rows(runs) if facts.loc[row, "method"] != DEFAULT_METHOD]
    if not rows:
        return []
    name = {row: facts.loc[row, "method_row"] if pd.notna(facts.loc[row, "method_row"]) else facts.loc[row, "method"]
            for row in rows}
    paper = {row: plugin_published(TABLE3, facts.loc[row, "method_row"], facts.loc[row, "strategy"], dataset)
             for row in rows} if dataset else {}
    records = plugin_cells(runs, facts, rows, name, paper)
    columns = ["group", AVG, f"Δ vs {BASELINE}", "p", "paper Avg"]
    text_columns = {"group": "method"}
    return [renamed(leaderboard("MMDG methods with gradient strategies: fused target accuracy (%) (Table 3 layout)",
                                records, plugin_caption("method", dataset, "Table 3"), columns=columns), text_columns)]


def fusion_paper_row(fusion: str) -> str | None:
    return getattr(FUSION_FACTS.get(fusion), "paper_row", None)


def fusion_name(fusion: str) -> str:
    paper_row = fusion_paper_row(fusion)
    if getattr(FUSION_FACTS.get(fusion), "assumed", None):
        return f"{fusion} (paper: {paper_row}, assumed)"
    return f"{fusion} (paper: {paper_row})" if paper_row else f"{fusion} (not in paper)"


def fusion_tables(runs: pd.DataFrame, dataset: str | None = None) -> list[Leaderboard]:
    """Table 5 layout, only when ERM ran under a fusion other than concat: ERM's rows per fusion,
    without (baseline) and with each strategy; with `dataset`, GMP's Table 5 numbers beside them."""
    runs = with_rows(runs)
    facts = row_facts(runs)
    erm = facts[facts.method == DEFAULT_METHOD]
    if (erm.fusion == DEFAULT_FUSION).all():
        return []
    # Only rows run like the fusion variants (same strategies, other settings and modalities): not
    # every strategy, ablation and single-modality run that ran under the default fusion.
    without_fusion = erm.shared.map(lambda c: json.dumps(
        {k: v for k, v in json.loads(c).items() if k != "model.fusion"}, sort_keys=True))
    variants = erm.fusion != DEFAULT_FUSION
    like = set(zip(erm.strategy[variants], without_fusion[variants], erm.modalities[variants]))
    erm = erm[[key in like for key in zip(erm.strategy, without_fusion, erm.modalities)]]
    rank = {fusion: facts.order for fusion, facts in FUSION_FACTS.items()}
    rows = sorted((row for row in ordered_rows(runs) if row in erm.index),
                  key=lambda row: rank.get(erm.loc[row, "fusion"], len(rank)))
    name = {row: fusion_name(erm.loc[row, "fusion"]) for row in rows}
    paper = {row: plugin_published(TABLE5, fusion_paper_row(erm.loc[row, "fusion"]), erm.loc[row, "strategy"],
                                   dataset) for row in rows} if dataset else {}
    records = plugin_cells(runs, facts, rows, name, paper)
    caption = plugin_caption("fusion", dataset, "Table 5")
    assumed = ", ".join(f"{ours} stands for the paper's {facts.paper_row}" for ours, facts in FUSION_FACTS.items()
                        if facts.assumed)
    caption += (f" Assumption: {assumed}, a fusion the text we have does not define (ours: a sigmoid of the other "
                f"modalities gating the first).")
    columns = ["group", AVG, f"Δ vs {BASELINE}", "p", "paper Avg"]
    return [renamed(leaderboard("Fusion variants with gradient strategies: fused target accuracy (%) "
                                "(Table 5 layout)", records, caption, columns=columns), {"group": "fusion"})]
