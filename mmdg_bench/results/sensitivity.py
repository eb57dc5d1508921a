"""Sensitivity figures (GMP's Fig. 4): accuracy against a setting that a sweep varied (`sweep --vary`),
or, for two settings, a heatmap of the mean fused target accuracy.

    mmdg-bench plot results/sens --sensitivity strategy.gmp.alpha_k --sensitivity strategy.gmp.alpha_p

The numbers are the leaderboard's (best source-validation epoch, mmdg_bench/results/collect.py). A line
is a strategy with its other settings (those that differ between its runs, the varied one aside, as in
the leaderboard's row labels): mean over seeds with ± 1 std (ddof=1) error bars, one column per held-out
domain plus their mean (per seed, over the seed's targets; a seed that misses one is left out, as in
the leaderboard's Avg). With two settings, one heatmap per line of the sweep (rows: the first setting,
columns: the second), each cell annotated with its mean ± std over seeds.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mmdg_bench.errors import UserError
from mmdg_bench.results.collect import CONFIG, METHOD, ROW, Damaged, collect_runs, method_label, strategy_labels
from mmdg_bench.results.epochs import ALL_TARGETS
from mmdg_bench.results.plots import PANEL_INCHES, column_header, file_stem, legend_handles, line_styles, save

SELECTION = "best-val"  # the leaderboard's default rule: the figure shows the numbers `compare` prints
METRICS = {"target/fused": "held-out target\nfused accuracy (%)",
           "val/fused": "source validation\nfused accuracy (%)"}
HEATMAP_METRIC = "target/fused"
MISSING = "–"  # a run whose config lacks the setting (another strategy's hyper-parameter)
VALUE = "value"  # the varied setting's value of a run, as JSON text (hashable, and lists too)
SEEDS_KEYS = ["line", "target_domain", "seed"]


def short_name(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def value_of(config: str, key: str) -> str:
    return json.dumps(json.loads(config).get(key, MISSING))


def sorted_values(values) -> list[str]:
    """JSON texts in the order of their values: numbers by size, anything else as text after them."""
    def order(text: str):
        value = json.loads(text)
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        return (0, value, "") if numeric else (1, 0, text)
    return sorted(set(values), key=order)


def shown(text: str) -> str:
    value = json.loads(text)
    return value if isinstance(value, str) else json.dumps(value)


def lines_without(runs: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Per run, its line: the strategy's label with the settings, other than `keys`, in which its runs
    differ (`gmp [alpha_p=0.5]` when only alpha_k is plotted from an alpha_k x alpha_p grid)."""
    def without(config: str) -> str:
        return json.dumps({k: v for k, v in json.loads(config).items() if k not in keys}, sort_keys=True)

    rest = runs[CONFIG].map(without)
    labels = {}
    for (method, strategy), group in runs.assign(rest=rest).groupby([METHOD, "strategy"], sort=False):
        settings = strategy_labels(strategy, list(dict.fromkeys(group.rest)))
        name = method_label(method, strategy)
        labels.update({(method, strategy, config): f"{name} [{', '.join(shown_)}]" if shown_ else name
                       for config, shown_ in settings.items()})
    return pd.Series([labels[key] for key in zip(runs[METHOD], runs.strategy, rest)], index=runs.index)


def varied(runs: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The runs with a column per key (its value) and their `line`; a key that no two runs set apart is
    refused: the folder holds no sweep over it."""
    columns = {}
    for key in keys:
        values = runs[CONFIG].map(lambda config, key=key: value_of(config, key))
        if values[values != json.dumps(MISSING)].nunique() < 2:
            raise UserError(f"no runs here vary {key}: make them with sweep --vary {key}=V1,V2,...")
        columns[key] = values
    return runs.assign(**columns, line=lines_without(runs, keys))


def seed_values(runs: pd.DataFrame, keys: list[str], metric: str) -> pd.DataFrame:
    """(line, *keys, target_domain, seed, value), plus ALL_TARGETS rows: per seed, the mean over the
    preset's targets (a seed that misses one is left out, as in the leaderboard's Avg)."""
    by = ["line", *keys, "target_domain", "seed"]
    per_run = runs.dropna(subset=[metric]).groupby(by, as_index=False)[metric].mean()  # duplicates averaged
    per_run = per_run.rename(columns={metric: VALUE})
    targets = runs.target_domain.nunique()
    over = per_run.groupby([k for k in by if k != "target_domain"], as_index=False).agg(
        value=(VALUE, "mean"), covered=("target_domain", "nunique"))
    complete = over[over.covered == targets].drop(columns="covered").assign(target_domain=ALL_TARGETS)
    return pd.concat([per_run, complete], ignore_index=True)


def sensitivity_stats(runs: pd.DataFrame, keys: list[str], metric: str) -> pd.DataFrame:
    """(line, *keys, target_domain, mean, std, n) over seeds; std with ddof=1, NaN for one seed."""
    by = ["line", *keys, "target_domain"]
    return seed_values(runs, keys, metric).groupby(by, as_index=False)[VALUE].agg(mean="mean", std="std",
                                                                                    n="count")


def axis_positions(values: list[str]) -> tuple[dict[str, float], bool]:
    """Where each value sits on the x axis: at itself when every value is a number, else evenly."""
    parsed = [json.loads(v) for v in values]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in parsed):
        return dict(zip(values, map(float, parsed))), True
    return {v: float(i) for i, v in enumerate(values)}, False


def line_figure(runs: pd.DataFrame, key: str) -> Figure:
    """Fused target and source-validation accuracy against `key`: a column per target plus their mean."""
    targets = [*sorted(runs.target_domain.unique()), ALL_TARGETS]
    values = sorted_values(runs[key][runs[key] != json.dumps(MISSING)])
    positions, numeric = axis_positions(values)
    styles = line_styles(runs.assign(**{ROW: runs.line}))
    fig = Figure(figsize=(PANEL_INCHES[0] * len(targets) + 2.4, PANEL_INCHES[1] * len(METRICS) + 1.0),
                 layout="constrained")
    FigureCanvasAgg(fig)  # Agg explicitly, with no pyplot (as in plots.py)
    axes = fig.subplots(len(METRICS), len(targets), sharex=True, sharey="row", squeeze=False)
    for r, (metric, label) in enumerate(METRICS.items()):
        stats = sensitivity_stats(runs[runs[key] != json.dumps(MISSING)], [key], metric)
        for c, target in enumerate(targets):
            ax = axes[r][c]
            for line, style in styles.items():
                curve = stats[(stats.line == line) & (stats.target_domain == target)]
                curve = curve.assign(x=curve[key].map(positions)).sort_values("x")
                if not curve.empty:
                    ax.errorbar(curve.x, curve["mean"], yerr=curve["std"], color=style.colour,
                                linestyle=style.dash, marker="o", markersize=3, capsize=3, linewidth=1.5, label=line)
            ax.grid(alpha=0.3)
            if r == 0:
                ax.set_title(column_header(target), fontsize="medium")
        axes[r][0].set_ylabel(label)
    for ax in axes[-1]:
        ax.set_xlabel(short_name(key))
        ax.set_xticks(list(positions.values()), [shown(v) for v in values] if not numeric else None)
    plotted = runs[runs[key] != json.dumps(MISSING)].assign(**{ROW: lambda frame: frame.line})
    entries = [line for line in styles if line in set(plotted[ROW])]
    fig.legend(handles=legend_handles(plotted, entries, styles), loc="outside right upper", title="strategy",
               fontsize="small")
    fig.suptitle(f"Sensitivity to {key}\npreset {runs.preset.iloc[0]} (dataset {runs.dataset.iloc[0]}), "
                 f"best source-validation epoch\npoint: mean over seeds, bar: ± 1 std (ddof=1)", fontsize="medium")
    return fig


def heatmap_figure(runs: pd.DataFrame, rows_key: str, columns_key: str) -> Figure:
    """The mean fused target accuracy over targets (and seeds) per (rows_key, columns_key) cell, one
    heatmap per line, on one colour scale, each cell annotated with its mean ± std over seeds."""
    present = runs[(runs[rows_key] != json.dumps(MISSING)) & (runs[columns_key] != json.dumps(MISSING))]
    stats = sensitivity_stats(present, [rows_key, columns_key], HEATMAP_METRIC)
    stats = stats[stats.target_domain == ALL_TARGETS]
    row_values, column_values = sorted_values(present[rows_key]), sorted_values(present[columns_key])
    lines = list(dict.fromkeys(present.line))
    fig = Figure(figsize=(1.0 * len(column_values) * len(lines) + 2.0, 0.7 * len(row_values) + 1.8),
                 layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(lines), squeeze=False)[0]
    low, high = (stats["mean"].min(), stats["mean"].max()) if not stats.empty else (0.0, 100.0)
    image = None
    for ax, line in zip(axes, lines):
        cells = stats[stats.line == line].set_index([rows_key, columns_key])
        grid = np.full((len(row_values), len(column_values)), np.nan)
        for i, rv in enumerate(row_values):
            for j, cv in enumerate(column_values):
                if (rv, cv) in cells.index:
                    cell = cells.loc[(rv, cv)]
                    grid[i, j] = cell["mean"]
                    spread = "" if pd.isna(cell["std"]) else f"\n±{cell['std']:.1f}"
                    dark = (cell["mean"] - low) < 0.5 * (high - low)  # light text on the dark end of viridis
                    ax.text(j, i, f"{cell['mean']:.1f}{spread}", ha="center", va="center", fontsize="x-small",
                            color="white" if dark else "black")
                else:
                    ax.text(j, i, "no run", ha="center", va="center", fontsize="x-small", color="0.5")
        image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", vmin=low, vmax=high, aspect="auto")
        ax.set_xticks(range(len(column_values)), [shown(v) for v in column_values])
        ax.set_yticks(range(len(row_values)), [shown(v) for v in row_values])
        ax.set_xlabel(short_name(columns_key))
        ax.set_ylabel(short_name(rows_key))
        ax.set_title(f"{line} (n={present[present.line == line].seed.nunique()} seeds)", fontsize="medium")
    fig.colorbar(image, ax=list(axes), label="held-out target fused accuracy (%)")
    fig.suptitle(f"Mean fused target accuracy over held-out domains and seeds\npreset {runs.preset.iloc[0]}, "
                 f"best source-validation epoch; cell: mean ± std (ddof=1) over seeds", fontsize="medium")
    return fig


def plot_sensitivity(results_dir: Path, out: Path, keys: list[str]) -> tuple[list[Path], list[Damaged]]:
    """The sensitivity figure of one setting (lines) or two (a heatmap) for every preset under
    `results_dir`, written into `out` as PNG and PDF; the files written, and the unreadable runs."""
    keys = list(dict.fromkeys(keys))
    if not 1 <= len(keys) <= 2:
        raise UserError(f"--sensitivity takes one setting (lines) or two (a heatmap), got {len(keys)}: "
                        f"{', '.join(keys)}")
    table, damaged = collect_runs(results_dir)
    table = table[table.selection == SELECTION]
    figures, refused = [], []
    for preset, runs in table.groupby("preset", sort=True):
        try:
            runs = varied(runs, keys)
        except UserError as err:  # another preset's runs in the same folder need not vary the keys
            refused.append(err)
            continue
        kind = "sensitivity_" + "_x_".join(short_name(k) for k in keys)
        figures.append((line_figure(runs, keys[0]) if len(keys) == 1 else heatmap_figure(runs, *keys),
                        Path(out) / file_stem(preset, kind)))
    if not figures:
        raise refused[0] if refused else UserError(f"no runs here vary {keys[0]}: make them with sweep --vary "
                                                   f"{keys[0]}=V1,V2,...")  # no run chosen at best-val
    Path(out).mkdir(parents=True, exist_ok=True)
    written = []
    for fig, stem in figures:
        written += save(fig, stem)
    return written, damaged


def varied_keys(results_dir: Path) -> list[str]:
    """The settings that the `sweep --vary` grids under `results_dir` varied, read from their saved plans,
    in the order the sweeps gave them (a `sweep --tune`'s draws are not a grid: left out)."""
    from mmdg_bench.sweep.plan import plan_records

    keys = {}
    for raw in plan_records(results_dir):
        if raw.get("draw") is None:
            keys.update(dict.fromkeys(o.partition("=")[0].strip() for o in raw.get("varied") or ()))
    return list(keys)


def sensitivity_figures(results_dir: Path) -> list[tuple[str, str, Figure]]:
    """(preset, title, figure) of the sensitivity figures a report shows for `results_dir`: for a grid over
    two settings their heatmap, then every varied setting alone (lines); none where no sweep varied any."""
    keys = varied_keys(results_dir)
    if not keys:
        return []
    table, _ = collect_runs(results_dir)
    table = table[table.selection == SELECTION]
    figures = []
    for preset, runs in table.groupby("preset", sort=True):
        for combo in ([keys] if len(keys) == 2 else []) + [[key] for key in keys]:
            try:
                marked = varied(runs, combo)
            except UserError:  # this preset's runs do not vary it
                continue
            names = " × ".join(short_name(k) for k in combo)
            if len(combo) == 2:
                figures.append((preset, f"Sensitivity: fused target accuracy over {names}",
                                heatmap_figure(marked, *combo)))
            else:
                figures.append((preset, f"Sensitivity to {names}", line_figure(marked, combo[0])))
    return figures
