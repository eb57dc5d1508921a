"""GMP's Table 4 layout: its ablations in the paper's blocks (modulation without CAGP against IGDM
only, projection without IGDM against CAGP only, every row against gmp), only when they ran.
"""


import pandas as pd

from mmdg_bench.facts import MAIN, STRATEGY_FACTS
from mmdg_bench.results.cells import (
    AVG,
    CELLS_CAPTION,
    MARK_RULE,
    MISSING,
    Leaderboard,
    format_signed,
    leaderboard,
    stat_cell,
    value_cell,
)
from mmdg_bench.results.reference import SOURCE as PAPER_SOURCE
from mmdg_bench.results.reference import TABLE4, TABLE4_BLOCKS, published
from mmdg_bench.results.rows import FUSED_TARGET, GMP, of_row, pair_table, paired, row_facts, seed_averages, with_rows


def row_strategy(paper_row: str) -> str:
    """The built-in strategy that stands for a row of the paper's tables (its `paper_row` fact)."""
    return next(name for name, facts in STRATEGY_FACTS.items() if facts.paper_row == paper_row)


def block_rows(facts: pd.DataFrame, block, with_paper: bool) -> list[tuple[str, str]]:
    """(row label, strategy) of one Table 4 block in the paper's order: the strategies of its paper
    rows (with `with_paper`, a "(not run)" row for each that did not run), then rows whose strategy
    states this block and stands for no row of any block."""
    named = {row_strategy(row) for b in TABLE4_BLOCKS for row in b.rows}
    rows = []
    for member in map(row_strategy, block.rows):
        ran = facts.index[facts.strategy == member].tolist()
        rows += [(row, member) for row in ran] or ([(f"{member} (not run)", member)] if with_paper else [])
    stated = facts[(facts.block == block.name) & ~facts.strategy.isin(named)]
    rows += list(zip(stated.index, stated.strategy))
    if all(row.endswith("(not run)") for row, _ in rows):
        return []
    return rows


def reference_row(facts: pd.DataFrame, row: str, strategy: str) -> str | None:
    """The row of `strategy` with the same shared settings as `row`: like is paired with like; None
    when no row, or several (differing in the strategy's own settings), would do."""
    same = (facts.shared == facts.loc[row, "shared"]) & (facts.modalities == facts.loc[row, "modalities"])
    matches = facts.index[(facts.strategy == strategy) & same]
    return matches[0] if len(matches) == 1 else None


def ablation_delta(pairs: pd.DataFrame, facts: pd.DataFrame, row: str, strategy: str, column: str) -> dict:
    """Δ of `row` against the row of `strategy` with the same other settings ("ref" for that row
    itself, – when there is none), paired over (target, seed)."""
    if facts.loc[row, "strategy"] == strategy:
        return {"strategy": row, "column": column, "mean": 0.0, "text": "ref"}
    against = reference_row(facts, row, strategy)
    if against is None:
        return {"strategy": row, "column": column, "text": MISSING}
    t = paired(pairs, row, against)
    return {"strategy": row, "column": column, "mean": t.mean, "n": t.n, "p": t.p,
            "text": format_signed(t.mean, t.significant)}


def ablation_tables(runs: pd.DataFrame, dataset: str | None = None) -> list[Leaderboard]:
    """Table 4 layout, only when an ablation (a row outside the main block) ran: per block, its rows'
    Avg, Δ against the block's full variant and against gmp, paired over (target, seed); with
    `dataset`, the paper's Avg beside each row and its rows that did not run here."""
    runs = with_rows(runs)
    facts = row_facts(runs)
    ablations = facts[facts.block.fillna(MAIN) != MAIN]
    if ablations.empty:
        return []
    # Only rows run like the ablations (same method, fusion, modalities...): not gmp under every method.
    like = set(zip(ablations.shared, ablations.modalities))
    facts = facts[[key in like for key in zip(facts.shared, facts.modalities)]]
    averages = seed_averages(runs, FUSED_TARGET)
    pairs = pair_table(runs, FUSED_TARGET)
    paper = published(TABLE4, dataset) if dataset else {}
    cells = []
    for block in TABLE4_BLOCKS:
        for row, strategy in block_rows(facts, block, bool(paper)):
            paper_row = STRATEGY_FACTS[strategy].paper_row if row not in facts.index else facts.loc[row, "paper_row"]
            cells += [{"strategy": row, "column": "block", "text": block.title},
                      {"strategy": row, "column": "paper row", "text": paper_row or MISSING}]
            if row in facts.index:
                cells.append(stat_cell(row, AVG, of_row(averages, row)))
                if row_strategy(block.full) != GMP:
                    cells.append(ablation_delta(pairs, facts, row, row_strategy(block.full), "Δ vs full"))
                cells.append(ablation_delta(pairs, facts, row, GMP, f"Δ vs {GMP}"))
            if paper_row in paper:
                cells.append(value_cell(row, "paper Avg", paper[paper_row]))
    full = {b.name: row_strategy(b.full) for b in TABLE4_BLOCKS if row_strategy(b.full) != GMP}
    caption = ("GMP Table 4: the modulation variants run without CAGP; Δ vs full compares them with "
               f"{full['modulation']}. The projection variants run without IGDM; Δ vs full compares them with "
               f"{full['projection']}. Every row is also compared with {GMP}. Δ: mean paired difference "
               f"over the (target, seed) pairs both ran, against the row of the same other settings "
               f"(– when none or several such rows ran); {MARK_RULE}. " + CELLS_CAPTION)
    if paper:
        caption += f" paper Avg: {PAPER_SOURCE} Table 4 ({dataset})."
    columns = ["block", "paper row", AVG, "Δ vs full", f"Δ vs {GMP}", "paper Avg"]
    return [leaderboard("GMP ablations: fused target accuracy (%) (Table 4 layout)", cells, caption, columns=columns)]
