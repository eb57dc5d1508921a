"""Leaderboards from the tidy runs table: mean ± std (ddof=1) over seeds, with n.

Table 2 layout (GMP): rows = strategies, columns = target domains + Avg, cells = fused target
accuracy. Table 1 layout: per-modality and fused target accuracy and fused source-validation
accuracy, each averaged over the target domains. Avg is computed per seed over the target
domains (only seeds with every target present count), then summarised over seeds.
"""

import json

import pandas as pd

AVG = "Avg"


def _stats(values: pd.Series) -> dict:
    return {"mean": values.mean(), "std": values.std(ddof=1) if len(values) > 1 else float("nan"),
            "n": int(values.count())}


def per_target(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Long table (strategy, column, mean, std, n): one column per target domain plus Avg."""
    targets = sorted(runs.target_domain.unique())
    cells = []
    for strategy, group in runs.groupby("strategy", sort=True):
        for target in targets:
            cells.append({"strategy": strategy, "column": target,
                          **_stats(group.loc[group.target_domain == target, metric].dropna())})
        cells.append({"strategy": strategy, "column": AVG, **_stats(seed_averages(group, metric, targets))})
    return pd.DataFrame(cells)


def seed_averages(group: pd.DataFrame, metric: str, targets: list[str]) -> pd.Series:
    """Per seed, the mean of `metric` over the target domains; seeds missing a target are left out."""
    by_seed = group.pivot_table(index="seed", columns="target_domain", values=metric, aggfunc="mean")
    by_seed = by_seed.reindex(columns=targets)
    return by_seed.dropna().mean(axis=1)


def modality_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Table 1 layout: (strategy, column, mean, std, n) with per-modality/fused target and fused val."""
    modalities = [c.removeprefix("target/") for c in runs.columns
                  if c.startswith("target/") and c != "target/fused" and runs[c].notna().any()]
    metrics = {f"{m} (target)": f"target/{m}" for m in modalities}
    metrics.update({"fused (target)": "target/fused", "fused (val)": "val/fused"})
    targets = sorted(runs.target_domain.unique())
    cells = []
    for strategy, group in runs.groupby("strategy", sort=True):
        for column, metric in metrics.items():
            cells.append({"strategy": strategy, "column": column,
                          **_stats(seed_averages(group, metric, targets))})
    return pd.DataFrame(cells)


def diagnostics_table(runs: pd.DataFrame) -> pd.DataFrame:
    """(strategy, column, mean, std, n) of each strategy diagnostic (rho, sigma, k, p, cos, ...),
    averaged over a run's epochs, then summarised over runs (targets × seeds)."""
    columns = [c for c in runs.columns if c.startswith("diag/") and runs[c].notna().any()]
    cells = []
    for strategy, group in runs.groupby("strategy", sort=True):
        for column in columns:
            cells.append({"strategy": strategy, "column": column.removeprefix("diag/"),
                          **_stats(group[column].dropna())})
    return pd.DataFrame(cells, columns=["strategy", "column", "mean", "std", "n"])


def leaderboards(runs: pd.DataFrame, selection: str) -> list[tuple[str, pd.DataFrame]]:
    """(title, long table) pairs, per preset: runs of different presets are never averaged together."""
    chosen = runs[runs.selection == selection]
    tables = []
    for preset, group in chosen.groupby("preset", sort=True):
        label = f"preset {preset}, dataset {group.dataset.iloc[0]}, selection {selection}"
        tables.append((f"Fused target accuracy (%) — {label}", per_target(group, "target/fused")))
        tables.append((f"Per-modality accuracy (%), mean over targets — {label}", modality_table(group)))
        diagnostics = diagnostics_table(group)
        if not diagnostics.empty:
            tables.append((f"Strategy diagnostics, mean over epochs, then over runs (n = runs) — {label}",
                           diagnostics))
    return tables


def format_cell(mean: float, std: float, n: int) -> str:
    if n == 0:
        return "–"
    spread = "" if pd.isna(std) else f" ± {std:.2f}"
    return f"{mean:.2f}{spread} (n={n})"


def wide(cells: pd.DataFrame) -> pd.DataFrame:
    """Long cells -> strategies × columns of formatted strings, columns in their first-seen order."""
    text = cells.assign(cell=[format_cell(m, s, n) for m, s, n in zip(cells["mean"], cells["std"], cells["n"])])
    table = text.pivot(index="strategy", columns="column", values="cell")
    return table.reindex(columns=list(dict.fromkeys(cells.column))).fillna("–")


def to_markdown(title: str, cells: pd.DataFrame) -> str:
    table = wide(cells)
    header = ["strategy", *table.columns]
    lines = [f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join([strategy, *row]) + " |" for strategy, row in zip(table.index, table.values)]
    return "\n".join(lines) + "\n"


def to_csv(tables: list[tuple[str, pd.DataFrame]]) -> str:
    frames = [cells.assign(table=title)[["table", "strategy", "column", "mean", "std", "n"]] for title, cells in tables]
    return pd.concat(frames).to_csv(index=False, float_format="%.4f")


def to_json(tables: list[tuple[str, pd.DataFrame]]) -> str:
    payload = [{"table": title, "cells": json.loads(cells.to_json(orient="records"))} for title, cells in tables]
    return json.dumps(payload, indent=2)
