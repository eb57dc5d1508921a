"""A leaderboard's rows: their labels in display order, the facts each row carries (block, paper row,
method, fusion, shared settings), the per-seed averages over held-out domains, and the paired tests
between rows over (target, seed) pairs (results/stats.py).
"""

import json

import pandas as pd

from mmdg_bench.facts import METHOD_FACTS, STRATEGY_FACTS, UNORDERED
from mmdg_bench.results.cells import (
    AVG,
    MARK_RULE,
    MISSING,
    Leaderboard,
    format_p,
    format_signed,
    format_spread,
    numbers,
    shown,
    stat_cell,
)
from mmdg_bench.results.collect import CONFIG, DEFAULT_FUSION, DEFAULT_METHOD, FUSION, METHOD, ROW, label_rows
from mmdg_bench.results.stats import EXACT_MAX_PAIRS, MIN_PAIRS, PairedTest, paired_test

BASELINE = "baseline"
GMP = "gmp"
FUSED_TARGET = "target/fused"


def with_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """`runs` with ROW labels (tidy tables built by hand may lack them, and their config)."""
    if ROW in runs.columns:
        return runs
    return label_rows(runs if CONFIG in runs.columns else runs.assign(**{CONFIG: "{}"}))


def info_of(runs: pd.DataFrame, key: str) -> pd.Series:
    """Per run, a strategy fact (block, paper_row, order): the summary's, else the built-in one."""
    column = f"info/{key}"
    known = runs.strategy.map(lambda s: getattr(STRATEGY_FACTS.get(s), key, None))
    return runs[column].where(runs[column].notna(), known) if column in runs.columns else known


def column_or(runs: pd.DataFrame, column: str, default) -> pd.Series:
    """A column of `runs`, or `default` for every run where the tidy table lacks it (built by hand)."""
    return runs[column] if column in runs.columns else pd.Series(default, index=runs.index, dtype=object)


def method_fact(runs: pd.DataFrame, key: str) -> pd.Series:
    """Per run, a fact of its method (paper_row, order): the summary's, else the built-in one."""
    known = column_or(runs, METHOD, DEFAULT_METHOD).map(lambda m: getattr(METHOD_FACTS.get(m), key, None))
    stated = column_or(runs, f"method_info/{key}", None)
    return stated.where(stated.notna(), known)


def ordered_rows(runs: pd.DataFrame) -> list[str]:
    """Row labels by the methods' display order (erm first), then the strategies', then name, then label."""
    order = pd.to_numeric(info_of(runs, "order"), errors="coerce").fillna(UNORDERED)
    method_order = pd.to_numeric(method_fact(runs, "order"), errors="coerce").fillna(UNORDERED)
    keys = pd.DataFrame({"method_order": method_order, "method": column_or(runs, METHOD, DEFAULT_METHOD),
                         "order": order, "strategy": runs.strategy, "row": runs[ROW]}).drop_duplicates()
    return keys.sort_values(["method_order", "method", "order", "strategy", "row"],
                            kind="stable").row.drop_duplicates().tolist()


def row_facts(runs: pd.DataFrame) -> pd.DataFrame:
    """One line per row label: strategy, block, paper_row, modalities, method (and its paper row),
    fusion, and `shared`, its config without the strategy's own settings and the modalities (rows
    are paired only with rows of equal ones)."""
    facts = runs.assign(block=info_of(runs, "block"), paper_row=info_of(runs, "paper_row"),
                        method=column_or(runs, METHOD, DEFAULT_METHOD), method_row=method_fact(runs, "paper_row"),
                        fusion=column_or(runs, FUSION, DEFAULT_FUSION))
    facts = facts.drop_duplicates(ROW).set_index(ROW)
    shared = facts[CONFIG].map(lambda c: json.dumps({k: v for k, v in json.loads(c).items()
                                                     if not k.startswith("strategy.") and k != "data.modalities"},
                                                    sort_keys=True))
    return facts[["strategy", "block", "paper_row", "modalities", "method", "method_row", "fusion"]].assign(
        shared=shared)


def seed_averages(runs: pd.DataFrame, metric: str) -> pd.Series:
    """Per (row, seed), the mean of `metric` over every target domain of the group; seeds missing a
    target are left out, so an Avg never mixes easier and harder subsets of domains."""
    targets = sorted(runs.target_domain.unique())
    by_seed = runs.pivot_table(index=[ROW, "seed"], columns="target_domain", values=metric, aggfunc="mean")
    return by_seed.reindex(columns=targets).dropna().mean(axis=1)


def of_row(averages: pd.Series, row: str) -> pd.Series:
    return averages[averages.index.get_level_values(ROW) == row]


def target_cells(runs: pd.DataFrame, metric: str) -> list[dict]:
    """One cell per row and target domain, plus Avg."""
    targets = sorted(runs.target_domain.unique())
    averages = seed_averages(runs, metric)
    cells = []
    for row in ordered_rows(runs):
        group = runs[runs[ROW] == row]
        cells += [stat_cell(row, t, group.loc[group.target_domain == t, metric].dropna()) for t in targets]
        cells.append(stat_cell(row, AVG, of_row(averages, row)))
    return cells


def pair_table(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """(target, seed) × row of `metric`; duplicate runs of a pair are averaged."""
    return runs.pivot_table(index=["target_domain", "seed"], columns=ROW, values=metric, aggfunc="mean")


def paired(pairs: pd.DataFrame, row: str, against: str) -> PairedTest:
    if row not in pairs.columns:  # a row without any value of the metric (a condition it was never evaluated under)
        return paired_test([])
    return paired_test((pairs[row] - pairs[against]).dropna().to_numpy())


def paired_tests(runs: pd.DataFrame, metric: str, against: str | None) -> dict[str, PairedTest]:
    """Each other row against the row `against` over the (target, seed) pairs both ran. Empty
    when `against` has no runs."""
    pairs = pair_table(runs, metric)
    if against not in pairs.columns:
        return {}
    return {row: paired(pairs, row, against) for row in ordered_rows(runs) if row != against}


def delta_cells(tests: dict[str, PairedTest], against: str, column: str | None = None) -> list[dict]:
    """Δ column: the mean paired difference, marked by its test. With no run missing it equals
    the difference of the Avg cells; with runs missing it compares only what both ran."""
    column = column or f"Δ vs {against}"
    rows = [{"strategy": against, "column": column, "mean": 0.0, "text": "ref"}]
    rows += [{"strategy": row, "column": column, "mean": t.mean, "n": t.n, "p": t.p,
              "text": format_signed(t.mean, t.significant)} for row, t in tests.items()]
    return rows


def paired_table(tests: dict[str, PairedTest], against: str) -> Leaderboard:
    """The paired tests behind the Δ marks: pairs, mean ± std of the differences, CI, p."""
    records = []
    for row, t in tests.items():
        ci = MISSING if pd.isna(t.ci_low) else f"[{t.ci_low:+.2f}, {t.ci_high:+.2f}]"
        texts = {"pairs": str(t.n), "mean Δ ± std": format_signed(t.mean) + format_spread(t.std),
                 "95% CI": ci, "p": format_p(t.p)}
        records += [{"strategy": row, "column": column, "text": text} for column, text in texts.items()]
    cells = numbers([{"strategy": s, "column": f"paired Δ vs {against}", "mean": t.mean, "std": t.std, "n": t.n,
                      "ci_low": t.ci_low, "ci_high": t.ci_high, "p": t.p} for s, t in tests.items()])
    caption = (f"Δ = row − {against}, over the (target, seed) pairs both ran. {MARK_RULE}; exact over every "
               f"sign pattern (seeded random patterns above {EXACT_MAX_PAIRS} pairs), so fewer than {MIN_PAIRS} "
               f"pairs can never be marked. CI: seeded percentile bootstrap of the mean, descriptive only "
               f"(too narrow with few pairs).")
    return Leaderboard(f"Paired differences of fused target accuracy vs {against}", cells, shown(records), caption)


def resolve_against(runs: pd.DataFrame, against: str) -> str | None:
    """The row `against` names: the row so labelled, else the one row of the strategy so named."""
    if against in set(runs[ROW]):
        return against
    rows = sorted(set(runs.loc[runs.strategy == against, ROW]))
    return rows[0] if len(rows) == 1 else None
