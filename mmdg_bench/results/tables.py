"""Leaderboards from the tidy runs table, one group per (preset, dataset): runs of different
presets are never averaged together, and one row stands for one strategy under one configuration
(collect.ROW), never a pool of configurations.

    Table 2 layout (GMP): rows × (held-out domains + Avg) of fused target accuracy, a Δ column
        against a reference row backed by a paired test, the paper's Avg rows on request;
    Table 1 layout: per-modality and fused accuracy on source validation and on target, and, when
        single-modality runs exist, each modality trained alone minus its head in the joint model;
    Table 4 layout: GMP's ablations in the paper's blocks (modulation without CAGP against IGDM only,
        projection without IGDM against CAGP only, every row against gmp), only when they ran;
    Table 3 layout: each MMDG method other than erm alone (under baseline) and with each strategy it
        ran, Δ and paired test against the method alone, only when such a method ran;
    Table 5 layout: ERM under each fusion without and with each strategy, Δ and paired test against
        the same fusion without one, only when a fusion other than concat ran;
    strategy diagnostics (rho, sigma, k, p, conflicts, ...).

Cells: mean ± std (ddof=1) over seeds, with n. Avg is computed per seed over the target domains
(only seeds with every target present count), then summarised over seeds. Each table keeps its
numbers (`cells`, long, for CSV/JSON) and the text shown (`text`, wide); render.py lays them out.
"""

import itertools
import json
import math
from dataclasses import dataclass

import pandas as pd

from mmdg_bench.errors import UserError, did_you_mean
from mmdg_bench.facts import EXTRA, FUSION_FACTS, MAIN, METHOD_FACTS, STRATEGY_FACTS, UNORDERED
from mmdg_bench.results.collect import (CONFIG, DEFAULT_FUSION, DEFAULT_METHOD, ENVIRONMENT, FUSION, METHOD, ROW,
                                        RUN_FOLDER, Damaged, label_rows, method_label)
from mmdg_bench.results.reference import (TABLE1_ALONE, TABLE1_DATASET, TABLE1_JOINT, TABLE2, TABLE3, TABLE4,
                                          TABLE4_BLOCKS, TABLE5, plugin_published, published, table2_rows)
from mmdg_bench.results.reference import MODALITIES as PAPER_MODALITIES
from mmdg_bench.results.reference import SOURCE as PAPER_SOURCE
from mmdg_bench.results.stats import ALPHA, EXACT_MAX_PAIRS, MIN_PAIRS, PairedTest, paired_test

AVG = "Avg"
BASELINE = "baseline"
GMP = "gmp"
FUSED_TARGET = "target/fused"
MISSING = "–"
NUMBERS = {"strategy": object, "column": object, "mean": float, "std": float, "n": "Int64",
           "ci_low": float, "ci_high": float, "p": float}
SELECTION_LABELS = {
    "best-val": "best-val (best source-validation epoch)",
    "last": "last (final epoch, as MMDG-Bench)",
    "oracle": "oracle (peeks at target labels)",
}
SHOWN_MISSING = 5
SHOWN_CELLS = 3

CELLS_CAPTION = ("Cells: mean ± std (ddof=1) over seeds, n = seeds; Avg averages each seed over the "
                 "held-out domains first (seeds missing one are left out); – = no run.")
MARK_RULE = f"* = beyond seed noise: two-sided paired sign-flip test over (target, seed) pairs, p < {ALPHA}"


@dataclass(frozen=True)
class Leaderboard:
    title: str
    cells: pd.DataFrame  # the numbers, long: one row per (row label, column), NUMBERS columns
    text: pd.DataFrame  # what is shown: one row per row label, formatted strings
    caption: str = ""


@dataclass(frozen=True)
class Group:
    preset: str
    dataset: str
    selection: str
    tables: list[Leaderboard]
    notes: list[str]

    @property
    def label(self) -> str:
        rule = SELECTION_LABELS.get(self.selection, self.selection)
        return f"preset {self.preset}, dataset {self.dataset}, selection {rule}"


def format_spread(std: float) -> str:
    return "" if pd.isna(std) else f" ± {std:.2f}"


def format_cell(mean: float, std: float, n: int) -> str:
    return MISSING if n == 0 else f"{mean:.2f}{format_spread(std)} (n={n})"


def format_signed(value: float, significant: bool = False) -> str:
    return MISSING if pd.isna(value) else f"{value:+.2f}{'*' if significant else ''}"


def format_p(p: float) -> str:
    if pd.isna(p):
        return MISSING
    return ("<0.001" if p < 0.001 else f"{p:.3f}") + ("*" if p < ALPHA else "")


def stat_cell(row: str, column: str, values: pd.Series) -> dict:
    n = int(values.count())
    mean = values.mean() if n else math.nan
    std = values.std(ddof=1) if n > 1 else math.nan
    return {"strategy": row, "column": column, "mean": mean, "std": std, "n": n,
            "text": format_cell(mean, std, n)}


def value_cell(row: str, column: str, value: float) -> dict:
    """A published number: no spread, no n."""
    return {"strategy": row, "column": column, "mean": value, "text": f"{value:.2f}"}


def numbers(records: list[dict]) -> pd.DataFrame:
    """The records that carry a number (not the text-only ones, e.g. a Table 4 block name)."""
    return pd.DataFrame([r for r in records if "mean" in r], columns=list(NUMBERS)).astype(NUMBERS)


def shown(records: list[dict]) -> pd.DataFrame:
    """(row, column, text) records -> rows × columns of text, in first-seen order (so reference
    rows stay below ours); absent cells read "–"."""
    frame = pd.DataFrame(records)
    text = frame.pivot(index="strategy", columns="column", values="text")
    text = text.reindex(index=list(dict.fromkeys(frame.strategy)), columns=list(dict.fromkeys(frame.column)))
    return text.fillna(MISSING)


def leaderboard(title: str, records: list[dict], caption: str = "", row_label: str | None = None,
                columns: list[str] | None = None) -> Leaderboard:
    """A table of rows × columns (in `columns` order, where given), or, given `row_label`, shown
    transposed: one row per column (e.g. per diagnostic) and one column per strategy row, for tables
    with many narrow columns."""
    text = shown(records)
    if columns is not None:
        text = text[[c for c in columns if c in text.columns]]
    if row_label is not None:
        text = text.T.rename_axis(index=row_label, columns=None)
    return Leaderboard(title, numbers(records), text, caption)


# --- rows: labels, order, strategy facts -------------------------------------------------------

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


def extras_caption(runs: pd.DataFrame) -> str:
    extras = [row for row in ordered_rows(runs) if row in set(runs[ROW][info_of(runs, "block") == EXTRA])]
    return f" {', '.join(extras)}: an extra, not in the paper." if extras else ""


def accuracy_tables(runs: pd.DataFrame, title: str, against: str | None, published_rows: dict[str, float]) \
        -> list[Leaderboard]:
    """Table 2 layout (targets + Avg + Δ), then the paired tests behind the Δ marks."""
    runs = with_rows(runs)
    cells = target_cells(runs, FUSED_TARGET)
    tests = paired_tests(runs, FUSED_TARGET, against)
    caption = CELLS_CAPTION
    if tests:
        cells += delta_cells(tests, against)
        caption += (f" Δ vs {against}: mean paired difference over the (target, seed) pairs both ran "
                    f"(the Avg difference when no run is missing); {MARK_RULE}.")
    caption += extras_caption(runs)
    if published_rows:
        cells += [value_cell(label, AVG, value) for label, value in published_rows.items()]
        caption += (f" (paper) rows: published Avg of {PAPER_SOURCE}, "
                    f"{'+'.join(PAPER_MODALITIES)}; the paper gives no per-domain numbers.")
    table = leaderboard(title, cells, caption)
    return [table, paired_table(tests, against)] if tests else [table]


# --- Table 1: per-modality accuracy and the imbalance figure ----------------------------------

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


def diagnostics_table(runs: pd.DataFrame) -> list[Leaderboard]:
    """Each strategy diagnostic (rho, sigma, k, p, cos, ...) averaged over a run's epochs, then
    summarised over runs (targets × seeds); no table when no strategy logs one."""
    runs = with_rows(runs)
    columns = [c for c in runs.columns if c.startswith("diag/") and runs[c].notna().any()]
    if not columns:
        return []
    cells = [stat_cell(row, column.removeprefix("diag/"), runs.loc[runs[ROW] == row, column].dropna())
             for row in ordered_rows(runs) for column in columns]
    return [leaderboard("Strategy diagnostics, mean over epochs, then over runs (n = runs)", cells,
                        row_label="diagnostic")]


# --- Table 4: GMP's ablations in the paper's blocks -------------------------------------------

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


# --- Tables 3 and 5: GMP as a plug-in to other methods and other fusions ----------------------

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
    without_fusion = erm.shared.map(lambda c: json.dumps({k: v for k, v in json.loads(c).items() if k != "model.fusion"},
                                                          sort_keys=True))
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


def renamed(table: Leaderboard, columns: dict[str, str]) -> Leaderboard:
    """`table` with some shown column headers renamed (its cells keep their column keys)."""
    return Leaderboard(table.title, table.cells, table.text.rename(columns=columns), table.caption)


# --- notes -------------------------------------------------------------------------------------

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


def paper_rows(runs: pd.DataFrame) -> tuple[dict[str, float], list[str]]:
    """The published Table 2 rows that apply to this group, and notes on what does not apply."""
    dataset = runs.dataset.iloc[0]
    rows = table2_rows(dataset)
    if not rows:
        return {}, [f"--reference paper: no published numbers apply to dataset {dataset} "
                    f"(the paper reports EPIC-Kitchens and HAC only)."]
    expected = ",".join(PAPER_MODALITIES)
    others = sorted(set(runs.modalities) - {expected})
    notes = [f"--reference paper: the published numbers use {expected}; some runs here use "
             f"{'; '.join(others)}."] if others else []
    return rows, notes


def resolve_against(runs: pd.DataFrame, against: str) -> str | None:
    """The row `against` names: the row so labelled, else the one row of the strategy so named."""
    if against in set(runs[ROW]):
        return against
    rows = sorted(set(runs.loc[runs.strategy == against, ROW]))
    return rows[0] if len(rows) == 1 else None


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
