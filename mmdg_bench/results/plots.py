"""Figures from run folders: accuracy, per-modality accuracy, cos(g_c, g_d) and GMP's coefficients
(rho, sigma, k, p) over training; mean line and ± std band over seeds, PNG and PDF.

    mmdg-bench plot results/runs --out results/figures

One figure per preset and kind (presets are never mixed: their numbers are not comparable), small
multiples per held-out target domain plus an "all targets" mean, one fixed colour per strategy (its
summary's "strategy_info" colour, else the known one), a solid line for main strategies, dashed for
GMP's Table 4 ablations, one line per configuration (leaderboard row) of a strategy, each further
configuration in a shade of the strategy's colour and a dash pattern of its own.
"""

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from mmdg_bench.facts import EXTRA, MAIN, MODULATION, PROJECTION, STRATEGY_FACTS, UNORDERED
from mmdg_bench.files import write_atomically
from mmdg_bench.results.collect import ROW, Damaged
from mmdg_bench.results.epochs import ALL_TARGETS, epoch_runs, epoch_stats

FORMATS = ("png", "pdf")
# SVG text as text (not glyph outlines): a third of the size, selectable, searchable; a fixed hash salt
# and no date, so the same figure makes the same file (a committed figure or report diffs cleanly).
SVG_SETTINGS = {"svg.fonttype": "none", "svg.hashsalt": "mmdg-bench"}
UNDATED = {"Date": None}  # an SVG without its creation date
# For strategies that state no colour and are not known: dark hues, away from the mid and light ones
# of the known strategies, and a dash-dot line, so a new strategy is not mistaken for a known one.
FALLBACK_PALETTE = ("#000000", "#08306b", "#3f007d", "#00441b", "#7f2704", "#014636", "#67001f")
# Main strategies solid; GMP's Table 4 ablations dashed, so they read as variants of the solid gmp line.
BLOCK_STYLES = {MAIN: "-", MODULATION: "--", PROJECTION: "--", EXTRA: ":"}
UNKNOWN_STYLE = "-."
# A strategy's further configurations (rows) take a shade of its colour (darker, lighter, alternately,
# so each row has a colour of its own and the family still reads as one) and these dash patterns.
SHADE_RANGE = 0.6  # at most this far towards black or white
CONFIG_DASHES = ((0, (1, 1)), (0, (5, 1, 1, 1)), (0, (3, 1, 1, 1, 1, 1)))
COEFFICIENTS = {  # GMP Eq. 9/10 quantities -> y-axis label and a reference line (None: no line)
    "rho": ("ρ: semantic dominance\nratio (1 = balanced)", 1.0),
    "sigma": ("σ: domain-invariance dominance\nratio (1 = balanced)", 1.0),
    "k": ("k: IGDM coefficient on g_c", None),
    "p": ("p: IGDM coefficient on g_d", None),
}
PANEL_INCHES = (3.0, 2.3)
LEGEND_ENTRY_INCHES = 0.19  # one legend line at fontsize "small", spacing included
MARKERS_UP_TO = 12  # epochs; beyond this, markers would blur the line


def strategy_colour(name: str) -> str:
    """The fixed colour of a known strategy; an unknown name is hashed into FALLBACK_PALETTE
    (sha256, not hash(): Python salts string hashes per process)."""
    known = STRATEGY_FACTS.get(name)
    if known is not None:
        return known.colour
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    return FALLBACK_PALETTE[digest % len(FALLBACK_PALETTE)]


def shade(colour: str, t: float) -> str:
    """`colour` moved a fraction |t| of the way towards white (t > 0) or black (t < 0)."""
    target = 1.0 if t > 0 else 0.0
    return to_hex(tuple(c + abs(t) * (target - c) for c in to_rgb(colour)))


def configuration_shades(count: int) -> list[float]:
    """The shade offsets of a strategy's `count` configurations: 0 for the first, then darker and
    lighter by growing steps, the farthest at SHADE_RANGE, so no two rows share a colour."""
    further = count - 1
    steps = (further + 1) // 2
    offsets = [0.0]
    for i in range(further):
        offsets.append((-1 if i % 2 == 0 else 1) * SHADE_RANGE * (i // 2 + 1) / max(steps, 1))
    return offsets


@dataclass(frozen=True)
class LineStyle:
    colour: str
    dash: object  # a Matplotlib linestyle
    order: tuple  # sort key of the legend


def line_styles(runs: pd.DataFrame) -> dict[str, LineStyle]:
    """Per row label: colour, dash and legend order from the runs' "strategy_info" (collected as
    info/ columns), else from the known strategies, else a hashed colour and a dash-dot line."""
    styles, seen = {}, {}
    first = runs.drop_duplicates(ROW)
    shades = {s: configuration_shades(n) for s, n in first.strategy.value_counts().items()}
    for row, strategy, colour, block, order in zip(first[ROW], first.strategy, first["info/colour"],
                                                   first["info/block"], first["info/order"]):
        colour = colour if isinstance(colour, str) else strategy_colour(strategy)
        dash = BLOCK_STYLES.get(block, UNKNOWN_STYLE)
        count = seen[strategy] = seen.get(strategy, -1) + 1
        if count:
            colour, dash = shade(colour, shades[strategy][count]), CONFIG_DASHES[(count - 1) % len(CONFIG_DASHES)]
        styles[row] = LineStyle(colour, dash, (UNORDERED if pd.isna(order) else order, strategy, row))
    return dict(sorted(styles.items(), key=lambda item: item[1].order))


@dataclass(frozen=True)
class Row:
    label: str  # the y-axis title, with its unit
    panels: list[tuple[str, str]]  # (metric column, target domain or ALL_TARGETS), one per column
    reference: float | None = None  # a dotted horizontal line, e.g. cos = 0 or a balanced ratio = 1


@dataclass(frozen=True)
class FigureSpec:
    kind: str  # the file name's suffix
    title: str
    headers: list[str]  # column titles
    rows: list[Row]


def column_header(target: str) -> str:
    return "all targets (mean)" if target == ALL_TARGETS else f"held out: {target}"


def modalities_of(runs: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(m for names in runs.modalities for m in names.split(",")))


def has(runs: pd.DataFrame, metric: str) -> bool:
    return metric in runs.columns and runs[metric].notna().any()


def target_grid(kind: str, title: str, runs: pd.DataFrame, rows: list[tuple[str, str, float | None]]):
    """A figure whose columns are the target domains plus ALL_TARGETS and whose rows are
    (label, metric, reference); rows no run logged are dropped, and a figure left with none."""
    targets = [*sorted(runs.target_domain.unique()), ALL_TARGETS]
    kept = [Row(label, [(metric, t) for t in targets], ref) for label, metric, ref in rows if has(runs, metric)]
    return [FigureSpec(kind, title, [column_header(t) for t in targets], kept)] if kept else []


def accuracy_specs(runs: pd.DataFrame) -> list[FigureSpec]:
    fused = [("held-out target\nfused accuracy (%)", "target/fused", None),
             ("source validation\nfused accuracy (%)", "val/fused", None)]
    heads = [(f"held-out target\n{m} accuracy (%)", f"target/{m}", None) for m in modalities_of(runs)]
    return (target_grid("accuracy", "Fused accuracy vs epoch", runs, fused)
            + target_grid("modality_accuracy", "Per-modality (unimodal head) accuracy vs epoch", runs, heads))


def cosine_specs(runs: pd.DataFrame) -> list[FigureSpec]:
    rows = [(f"cos(g_c, g_d),\n{m} encoder", f"diag/{m}/cos_cd", 0.0) for m in modalities_of(runs)]
    title = "Cosine between classification and domain gradients (< 0: conflict), batch mean per epoch"
    return target_grid("gradient_cosine", title, runs, rows)


def coefficient_specs(runs: pd.DataFrame) -> list[FigureSpec]:
    """GMP's rho, sigma, k, p: one figure per modality, as one figure would need 4 x modalities rows."""
    specs = []
    for m in modalities_of(runs):
        rows = [(label, f"diag/{m}/{name}", ref) for name, (label, ref) in COEFFICIENTS.items()]
        title = f"GMP coefficients of the {m} encoder vs epoch, batch mean per epoch"
        specs += target_grid(f"gmp_coefficients_{m}", title, runs, rows)
    return specs


def figure_specs(runs: pd.DataFrame) -> list[FigureSpec]:
    return accuracy_specs(runs) + cosine_specs(runs) + coefficient_specs(runs)


def draw_curve(ax, curve: pd.DataFrame, row: str, style: LineStyle) -> None:
    epochs = curve.epoch.to_numpy()
    marker = "o" if len(epochs) <= MARKERS_UP_TO else None
    ax.plot(epochs, curve["mean"], color=style.colour, linestyle=style.dash, marker=marker,
            markersize=3, linewidth=1.5, label=row)
    # std is NaN for a single seed: fill_between then draws nothing, which is the honest band. A band
    # over one epoch has no width, so there the spread is an error bar.
    if len(epochs) == 1:
        ax.errorbar(epochs, curve["mean"], yerr=curve["std"], color=style.colour, capsize=3, linewidth=1)
        return
    ax.fill_between(epochs, curve["mean"] - curve["std"], curve["mean"] + curve["std"],
                    color=style.colour, alpha=0.18, linewidth=0)


def draw_panel(ax, stats: pd.DataFrame, target: str, reference: float | None, styles: dict[str, LineStyle]) -> None:
    panel = stats[stats.target_domain == target]
    for row in (r for r in styles if r in set(panel[ROW])):
        draw_curve(ax, panel[panel[ROW] == row], row, styles[row])
    if panel.empty:
        message = "no seed ran every target" if target == ALL_TARGETS else "no runs"
        ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", color="0.5")
    if reference is not None:
        ax.axhline(reference, color="0.6", linewidth=0.8, linestyle=":")
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # one epoch: one tick


def legend_handles(runs: pd.DataFrame, rows: list[str], styles: dict[str, LineStyle]) -> list[Line2D]:
    seeds = runs.groupby(ROW).seed.nunique()
    return [Line2D([], [], color=styles[r].colour, linestyle=styles[r].dash,
                   label=f"{r} (n={seeds[r]} seed{'s' if seeds[r] != 1 else ''})") for r in rows]


def draw(spec: FigureSpec, runs: pd.DataFrame) -> Figure:
    """One figure: a grid of panels, titles on the top row, y titles on the left, one legend."""
    n_rows, n_cols = len(spec.rows), len(spec.headers)
    styles = line_styles(runs)
    stats = {metric: epoch_stats(runs, metric) for row in spec.rows for metric, _ in row.panels}
    plotted = set(pd.concat(stats.values())[ROW])
    entries = [r for r in styles if r in plotted]
    # Tall enough for the whole legend (title and margins included): a legend taller than the panels
    # was cut off at the figure's edge.
    height = max(PANEL_INCHES[1] * n_rows + 0.8, LEGEND_ENTRY_INCHES * (len(entries) + 2) + 0.4)
    fig = Figure(figsize=(PANEL_INCHES[0] * n_cols + 2.2, height), layout="constrained")
    FigureCanvasAgg(fig)  # Agg explicitly, with no pyplot: no display, no global figure registry to leak
    axes = fig.subplots(n_rows, n_cols, sharex=True, sharey="row", squeeze=False)
    for r, row in enumerate(spec.rows):
        for c, (metric, target) in enumerate(row.panels):
            draw_panel(axes[r][c], stats[metric], target, row.reference, styles)
        axes[r][0].set_ylabel(row.label)
    # Half an epoch either side: with one epoch Matplotlib's automatic limits (0.945 to 1.055) made
    # eleven fractional ticks that ran into each other.
    last = max((int(s.epoch.max()) for s in stats.values() if not s.empty), default=1)
    axes[0][0].set_xlim(0.5, last + 0.5)
    for c, header in enumerate(spec.headers):
        axes[0][c].set_title(header, fontsize="medium")
        axes[-1][c].set_xlabel("epoch")
    fig.legend(handles=legend_handles(runs, entries, styles),
               loc="outside right upper", title="strategy", fontsize="small")
    preset, dataset = runs.preset.iloc[0], runs.dataset.iloc[0]
    fig.suptitle(f"{spec.title}\npreset {preset} (dataset {dataset}); line: mean over seeds, "
                 f"band: ± 1 std (ddof=1)", fontsize="medium")
    return fig


def save(fig: Figure, stem: Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Each format written atomically: a reader never sees half a figure."""
    paths = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        extra = {"metadata": UNDATED} if fmt == "svg" else {}
        with matplotlib.rc_context(SVG_SETTINGS):
            write_atomically(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=150, **extra))
        paths.append(path)
    return paths


def file_stem(preset: str, kind: str) -> str:
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', preset)}_{kind}"


def plot_results(results_dir: Path, out: Path) -> tuple[list[Path], list[Damaged]]:
    """Every figure for the finished runs under `results_dir`, written into `out`; the written files,
    and the finished runs that could not be read (skipped)."""
    table, damaged = epoch_runs(results_dir)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for preset, runs in table.groupby("preset", sort=True):
        for spec in figure_specs(runs):
            written += save(draw(spec, runs), out / file_stem(preset, spec.kind))
    return written, damaged
