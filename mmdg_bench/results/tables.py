"""Leaderboards from the tidy runs table, one group per (preset, dataset): runs of different
presets are never averaged together.

    Table 2 layout (GMP): strategies × (held-out domains + Avg) of fused target accuracy, a Δ
        column against a reference strategy backed by a paired test, the paper's Avg on request;
    Table 1 layout: per-modality and fused accuracy on source validation and on target;
    Table 4 layout: gmp and its gmp-* variants, Δ against gmp (only when variants ran);
    strategy diagnostics (rho, sigma, k, p, conflicts, ...).

Cells: mean ± std (ddof=1) over seeds, with n. Avg is computed per seed over the target domains
(only seeds with every target present count), then summarised over seeds. Each table keeps its
numbers (`cells`, long, for CSV/JSON) and the text shown (`text`, wide); render.py lays them out.
"""

import itertools
import math
from dataclasses import dataclass

import pandas as pd

from mmdg_bench.errors import UserError, did_you_mean
from mmdg_bench.results.reference import MODALITIES as PAPER_MODALITIES
from mmdg_bench.results.reference import SOURCE as PAPER_SOURCE
from mmdg_bench.results.reference import published_avg
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

CELLS_CAPTION = ("Cells: mean ± std (ddof=1) over seeds, n = seeds; Avg averages each seed over the "
                 "held-out domains first (seeds missing one are left out); – = no run.")
MARK_RULE = f"* = beyond seed noise: two-sided paired sign-flip test over (target, seed) pairs, p < {ALPHA}"


@dataclass(frozen=True)
class Leaderboard:
    title: str
    cells: pd.DataFrame  # the numbers, long: one row per (strategy, column), NUMBERS columns
    text: pd.DataFrame  # what is shown: one row per strategy, formatted strings
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


def stat_cell(strategy: str, column: str, values: pd.Series) -> dict:
    n = int(values.count())
    mean = values.mean() if n else math.nan
    std = values.std(ddof=1) if n > 1 else math.nan
    return {"strategy": strategy, "column": column, "mean": mean, "std": std, "n": n,
            "text": format_cell(mean, std, n)}


def numbers(records: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(records, columns=list(NUMBERS)).astype(NUMBERS)


def shown(records: list[dict]) -> pd.DataFrame:
    """(strategy, column, text) records -> strategies × columns of text, in first-seen order
    (so reference rows stay below ours); absent cells read "–"."""
    frame = pd.DataFrame(records)
    text = frame.pivot(index="strategy", columns="column", values="text")
    text = text.reindex(index=list(dict.fromkeys(frame.strategy)), columns=list(dict.fromkeys(frame.column)))
    return text.fillna(MISSING)


def leaderboard(title: str, records: list[dict], caption: str = "", row_label: str | None = None) -> Leaderboard:
    """A table of strategies × columns, or, given `row_label`, shown transposed: one row per column
    (e.g. per diagnostic) and one column per strategy, for tables with many narrow columns."""
    text = shown(records)
    if row_label is not None:
        text = text.T.rename_axis(index=row_label, columns=None)
    return Leaderboard(title, numbers(records), text, caption)


def seed_averages(runs: pd.DataFrame, metric: str) -> pd.Series:
    """Per (strategy, seed), the mean of `metric` over every target domain of the group; seeds
    missing a target are left out, so an Avg never mixes easier and harder subsets of domains."""
    targets = sorted(runs.target_domain.unique())
    by_seed = runs.pivot_table(index=["strategy", "seed"], columns="target_domain", values=metric, aggfunc="mean")
    return by_seed.reindex(columns=targets).dropna().mean(axis=1)


def of_strategy(averages: pd.Series, strategy: str) -> pd.Series:
    return averages[averages.index.get_level_values("strategy") == strategy]


def target_cells(runs: pd.DataFrame, metric: str) -> list[dict]:
    """One cell per strategy and target domain, plus Avg."""
    targets = sorted(runs.target_domain.unique())
    averages = seed_averages(runs, metric)
    cells = []
    for strategy, group in runs.groupby("strategy", sort=True):
        cells += [stat_cell(strategy, t, group.loc[group.target_domain == t, metric].dropna()) for t in targets]
        cells.append(stat_cell(strategy, AVG, of_strategy(averages, strategy)))
    return cells


def paired_tests(runs: pd.DataFrame, metric: str, against: str) -> dict[str, PairedTest]:
    """Each other strategy against `against` over the (target, seed) pairs both ran; duplicate
    runs of a pair are averaged. Empty when `against` has no runs."""
    pairs = runs.pivot_table(index=["target_domain", "seed"], columns="strategy", values=metric, aggfunc="mean")
    if against not in pairs.columns:
        return {}
    return {strategy: paired_test((pairs[strategy] - pairs[against]).dropna().to_numpy())
            for strategy in pairs.columns if strategy != against}


def delta_cells(tests: dict[str, PairedTest], against: str) -> list[dict]:
    """Δ column: the mean paired difference, marked by its test. With no run missing it equals
    the difference of the Avg cells; with runs missing it compares only what both ran."""
    column = f"Δ vs {against}"
    rows = [{"strategy": against, "column": column, "mean": 0.0, "text": "ref"}]
    rows += [{"strategy": strategy, "column": column, "mean": t.mean, "n": t.n, "p": t.p,
              "text": format_signed(t.mean, t.significant)} for strategy, t in tests.items()]
    return rows


def paired_table(tests: dict[str, PairedTest], against: str) -> Leaderboard:
    """The paired tests behind the Δ marks: pairs, mean ± std of the differences, CI, p."""
    records = []
    for strategy, t in tests.items():
        ci = MISSING if pd.isna(t.ci_low) else f"[{t.ci_low:+.2f}, {t.ci_high:+.2f}]"
        texts = {"pairs": str(t.n), "mean Δ ± std": format_signed(t.mean) + format_spread(t.std),
                 "95% CI": ci, "p": format_p(t.p)}
        records += [{"strategy": strategy, "column": column, "text": text} for column, text in texts.items()]
    cells = numbers([{"strategy": s, "column": f"paired Δ vs {against}", "mean": t.mean, "std": t.std, "n": t.n,
                      "ci_low": t.ci_low, "ci_high": t.ci_high, "p": t.p} for s, t in tests.items()])
    caption = (f"Δ = strategy − {against}, over the (target, seed) pairs both ran. {MARK_RULE}; exact over every "
               f"sign pattern (seeded random patterns above {EXACT_MAX_PAIRS} pairs), so fewer than {MIN_PAIRS} "
               f"pairs can never be marked. CI: seeded percentile bootstrap of the mean, descriptive only "
               f"(too narrow with few pairs).")
    return Leaderboard(f"Paired differences of fused target accuracy vs {against}", cells, shown(records), caption)


def accuracy_tables(runs: pd.DataFrame, title: str, against: str, published: dict[str, float]) -> list[Leaderboard]:
    """Table 2 layout (targets + Avg + Δ), then the paired tests behind the Δ marks."""
    cells = target_cells(runs, FUSED_TARGET)
    tests = paired_tests(runs, FUSED_TARGET, against)
    caption = CELLS_CAPTION
    if tests:
        cells += delta_cells(tests, against)
        caption += (f" Δ vs {against}: mean paired difference over the (target, seed) pairs both ran "
                    f"(the Avg difference when no run is missing); {MARK_RULE}.")
    if published:
        cells += [{"strategy": label, "column": AVG, "mean": value, "text": f"{value:.2f}"}
                  for label, value in published.items()]
        caption += (f" (paper) rows: published Avg of {PAPER_SOURCE}, "
                    f"{'+'.join(PAPER_MODALITIES)}; the paper gives no per-domain numbers.")
    table = leaderboard(title, cells, caption)
    return [table, paired_table(tests, against)] if tests else [table]


def modality_metrics(runs: pd.DataFrame) -> dict[str, str]:
    """Column label -> metric: every modality head, then the fused head, on target then on val."""
    metrics = {}
    for split in ("target", "val"):
        heads = [c.removeprefix(f"{split}/") for c in runs.columns
                 if c.startswith(f"{split}/") and c != f"{split}/fused" and runs[c].notna().any()]
        metrics.update({f"{head} ({split})": f"{split}/{head}" for head in [*heads, "fused"]})
    return metrics


def modality_table(runs: pd.DataFrame) -> Leaderboard:
    """Table 1 layout: per-modality and fused accuracy, target and source validation."""
    averages = {column: seed_averages(runs, metric) for column, metric in modality_metrics(runs).items()}
    cells = [stat_cell(strategy, column, of_strategy(by_seed, strategy))
             for strategy in sorted(runs.strategy.unique()) for column, by_seed in averages.items()]
    return leaderboard("Per-modality accuracy (%), mean over held-out domains (Table 1 layout)", cells,
                       "val = source validation (the source domains' test splits); target = the held-out "
                       "domain. " + CELLS_CAPTION)


def diagnostics_table(runs: pd.DataFrame) -> list[Leaderboard]:
    """Each strategy diagnostic (rho, sigma, k, p, cos, ...) averaged over a run's epochs, then
    summarised over runs (targets × seeds); no table when no strategy logs one."""
    columns = [c for c in runs.columns if c.startswith("diag/") and runs[c].notna().any()]
    if not columns:
        return []
    cells = [stat_cell(strategy, column.removeprefix("diag/"), group[column].dropna())
             for strategy, group in runs.groupby("strategy", sort=True) for column in columns]
    return [leaderboard("Strategy diagnostics, mean over epochs, then over runs (n = runs)", cells,
                        row_label="diagnostic")]


def is_gmp_variant(strategy: str) -> bool:
    return strategy.startswith(f"{GMP}-")


def ablation_tables(runs: pd.DataFrame) -> list[Leaderboard]:
    """Table 4 layout: gmp and its variants, Δ vs gmp; nothing when no variant ran."""
    variants = runs.strategy.map(is_gmp_variant)
    if not variants.any():
        return []
    return accuracy_tables(runs[variants | (runs.strategy == GMP)],
                           "GMP and its variants: fused target accuracy (%) (Table 4 layout)", GMP, {})


def missing_runs(runs: pd.DataFrame) -> list[str]:
    """strategy/target/seed of each run absent from the grid of strategies × targets × seeds seen."""
    present = set(zip(runs.strategy, runs.target_domain, runs.seed))
    grid = itertools.product(*(sorted(runs[c].unique()) for c in ("strategy", "target_domain", "seed")))
    return [f"{s}/{t}/seed{seed}" for s, t, seed in grid if (s, t, seed) not in present]


def missing_notes(runs: pd.DataFrame) -> list[str]:
    missing = missing_runs(runs)
    if not missing:
        return []
    more = len(missing) - SHOWN_MISSING
    listed = ", ".join(missing[:SHOWN_MISSING]) + (f", … ({more} more)" if more > 0 else "")
    return [f"{len(missing)} run(s) missing: {listed}"]


def paper_rows(runs: pd.DataFrame) -> tuple[dict[str, float], list[str]]:
    """The published Avg rows that apply to this group, and notes on what does not apply."""
    dataset = runs.dataset.iloc[0]
    published = published_avg(dataset)
    if not published:
        return {}, [f"--reference paper: no published numbers apply to dataset {dataset} "
                    f"(the paper reports EPIC-Kitchens and HAC only)."]
    expected = ",".join(PAPER_MODALITIES)
    others = sorted(set(runs.modalities) - {expected})
    notes = [f"--reference paper: the published numbers use {expected}; some runs here use "
             f"{'; '.join(others)}."] if others else []
    return published, notes


def group_report(runs: pd.DataFrame, selection: str, against: str, with_paper: bool) -> Group:
    notes = missing_notes(runs)
    published = {}
    if with_paper:
        published, paper_notes = paper_rows(runs)
        notes += paper_notes
    strategies = set(runs.strategy)
    if against not in strategies and len(strategies) > 1:
        notes.append(f"no {against} runs here: no Δ column or paired test (choose another with --against).")
    tables = [*accuracy_tables(runs, "Fused target accuracy (%) (Table 2 layout)", against, published),
              modality_table(runs), *ablation_tables(runs), *diagnostics_table(runs)]
    preset, dataset = runs.preset.iloc[0], runs.dataset.iloc[0]
    return Group(preset, dataset, selection, tables, notes)


def compare_report(runs: pd.DataFrame, selection: str, against: str | None = None,
                   reference: str | None = None) -> list[Group]:
    """Everything `compare` shows, per (preset, dataset) group. `against` defaults to baseline;
    naming one that never ran is a user error. `reference` "paper" adds published rows."""
    chosen = runs[runs.selection == selection]
    if chosen.empty:
        raise UserError(f"no run records a '{selection}' model selection; choose another with --selection")
    if against is not None and against not in set(chosen.strategy):
        raise UserError(f"no runs of strategy '{against}' to compare against"
                        f"{did_you_mean(against, set(chosen.strategy))}")
    if reference not in (None, "paper"):
        raise UserError(f"unknown reference '{reference}' (choose from: paper)")
    return [group_report(group, selection, against or BASELINE, reference == "paper")
            for _, group in chosen.groupby(["preset", "dataset"], sort=True)]
