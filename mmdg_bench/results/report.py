"""`compare`'s tables, `plot`'s figures and every run's provenance as ONE self-contained HTML file, for a
paper's supplementary material: inline CSS, an inline script that sorts a table by a clicked column, the
figures as inline SVG; nothing is fetched when it is opened.

    mmdg-bench report results/synth/runs --out results/synth/report.html

Everything here is a pure function returning a string, except `figure_svg`, which asks Matplotlib to
draw. The tables are the `Group`s of tables.compare_report, laid out with render.rows, so the report
says exactly what `compare --format md` says.
"""

import html
import io
import re
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

import mmdg_bench
from mmdg_bench.engine.run_folder import SUMMARY
from mmdg_bench.errors import UserError
from mmdg_bench.results.cells import SELECTION_LABELS, Group, Leaderboard
from mmdg_bench.results.collect import ROW, RUN_FOLDER, Damaged, read_summary
from mmdg_bench.results.feature_maps import FOLDS, feature_figure, read_features, runs_with_features
from mmdg_bench.results.plots import SVG_SETTINGS, UNDATED, draw, figure_specs
from mmdg_bench.results.render import rows
from mmdg_bench.results.sensitivity import sensitivity_figures

SVG_START = re.compile(r"<svg\b")
SVG_ID = re.compile(r' id="([^"]+)"')
SVG_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.S)
PATH_DATA = re.compile(r'(\sd=")([^"]*)"')
DECIMALS = re.compile(r"(\d+\.\d)\d+")
BETWEEN_TAGS = re.compile(r">\s+<")
SVG_REFERENCE = re.compile(r'(?:href="|url\()#([^")]+)')
SVG_REFERENCE_SITE = re.compile(r'(href="|url\()#([^")]+)')

# Provenance: what each run's summary says about how and where it ran.
PROVENANCE_COLUMNS = {ROW: "row", "target_domain": "target", "seed": "seed", "epoch": "selected epoch",
                      "target/fused": "target fused (%)", "wall_s": "wall time (s)", "env/torch": "torch",
                      "env/device": "device", "env/threads": "threads", "config_hash": "config hash",
                      "path": "run folder"}

STYLE = """
:root { --ink: #1d1d1f; --muted: #5f6368; --rule: #c9c9c9; --zebra: #f6f6f4; --accent: #1a4f8b; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1180px; padding: 2.5rem 1.5rem 4rem; color: var(--ink); background: #fff;
       font: 16px/1.55 "Charter", "Bitstream Charter", "Georgia", "Cambria", serif; }
h1, h2, h3, summary, caption, table, .meta, nav { font-family: "Helvetica Neue", "Arial", "Liberation Sans",
       sans-serif; }
h1 { font-size: 1.7rem; margin: 0 0 .3rem; font-weight: 600; }
h2 { font-size: 1.3rem; margin: 2.8rem 0 .6rem; padding-bottom: .25rem; border-bottom: 1px solid var(--rule); }
h3 { font-size: 1.05rem; margin: 2rem 0 .4rem; }
p, li { max-width: 52rem; }
.meta { color: var(--muted); font-size: .9rem; }
nav ol { columns: 2; font-size: .9rem; padding-left: 1.2rem; }
a { color: var(--accent); }
.notes { border-left: 3px solid #d9a400; background: #fffaf0; padding: .5rem 1rem; font-size: .92rem; }
.notes li { margin: .2rem 0; }
.scroll { overflow-x: auto; margin: .6rem 0 .3rem; }
table { border-collapse: collapse; font-size: .85rem; font-variant-numeric: tabular-nums;
        border-top: 2px solid var(--ink); border-bottom: 2px solid var(--ink); }
caption { caption-side: top; text-align: left; font-weight: 600; font-size: 1.05rem; padding: 1.4rem 0 .5rem; }
th, td { padding: .28rem .7rem; text-align: right; white-space: nowrap; vertical-align: top; }
th:first-child, td:first-child { text-align: left; white-space: normal; min-width: 11rem; }
thead th { border-bottom: 1px solid var(--ink); font-weight: 600; }
tbody tr:nth-child(even) { background: var(--zebra); }
tbody tr:hover { background: #eaf1fb; }
th button { all: unset; cursor: pointer; }
th button::after { content: " \\2195"; color: #aaa; font-size: .8em; }
th[aria-sort="ascending"] button::after { content: " \\25B2"; color: var(--ink); }
th[aria-sort="descending"] button::after { content: " \\25BC"; color: var(--ink); }
th button:focus-visible { outline: 2px solid var(--accent); }
.caption { color: var(--muted); font-size: .85rem; margin: .2rem 0 1.4rem; }
figure { margin: 1.5rem 0 2rem; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: .85rem; margin-top: .3rem; }
details { margin: 1rem 0; }
summary { cursor: pointer; font-weight: 600; }
code { font-size: .88em; }
@media print { details { display: block; } .scroll { overflow: visible; } }
"""

# Sorting: a click on a header sorts its table's body by that column, ascending then descending. A cell
# sorts by its leading number ("45.89 ± 3.51 (n=3)" by 45.89, "+3.94*" by 3.94, "<0.001" just below
# 0.001), else by its text; empty cells ("–") stay last either way; ties keep their order.
SCRIPT = """
(function () {
  "use strict";
  var NUMBER = /^([<>]?)\\s*([+\\-\\u2212]?\\d+(?:\\.\\d+)?(?:e[+\\-]?\\d+)?)/i;
  function key(text) {
    var t = text.trim(), m = t.match(NUMBER);
    if (!m) { return {blank: t === "" || t === "\\u2013", num: null, text: t}; }
    var v = parseFloat(m[2].replace("\\u2212", "-"));
    return {blank: false, num: m[1] === "<" ? v - 1e-12 : m[1] === ">" ? v + 1e-12 : v, text: t};
  }
  function compare(a, b) {
    if (a.num !== null && b.num !== null) { return a.num - b.num; }
    if (a.num !== null) { return -1; }
    if (b.num !== null) { return 1; }
    return a.text.localeCompare(b.text, undefined, {numeric: true});
  }
  function sort(table, column, header) {
    var body = table.tBodies[0], descending = header.getAttribute("aria-sort") === "ascending";
    var rows = Array.prototype.map.call(body.rows, function (row, i) {
      return {row: row, i: i, key: key(row.cells[column] ? row.cells[column].textContent : "")};
    });
    rows.sort(function (a, b) {
      if (a.key.blank !== b.key.blank) { return a.key.blank ? 1 : -1; }
      var order = compare(a.key, b.key);
      return (descending ? -order : order) || a.i - b.i;
    });
    rows.forEach(function (r) { body.appendChild(r.row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) { th.setAttribute("aria-sort", "none"); });
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      var button = th.querySelector("button");
      if (button) { button.addEventListener("click", function () { sort(table, column, th); }); }
    });
  });
})();
"""


@dataclass(frozen=True)
class InlineFigure:
    preset: str
    title: str
    svg: str


def text(value) -> str:
    """A value as escaped HTML text; a missing number is blank."""
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else html.escape(str(value))


def anchor(*parts) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", "-".join(map(str, parts))).strip("-").lower()


def sortable_table(header: list[str], body: list[list[str]], caption: str = "", where: str = "") -> str:
    """A table whose columns sort on a click of their header (SCRIPT); `where`: its anchor."""
    head = "".join(f'<th scope="col" aria-sort="none"><button type="button">{text(h)}</button></th>' for h in header)
    lines = ["<tr>" + "".join(f"<td>{text(c)}</td>" for c in row) + "</tr>" for row in body]
    titled = f"<caption>{text(caption)}</caption>" if caption else ""
    named = f' id="{where}"' if where else ""
    return (f'<div class="scroll"{named}><table class="sortable">{titled}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(lines)}</tbody></table></div>")


def leaderboard_html(table: Leaderboard, where: str) -> str:
    header, *body = rows(table)
    caption = f'<p class="caption">{text(table.caption)}</p>' if table.caption else ""
    return sortable_table(header, body, table.title, where) + caption


def notes_html(notes: list[str], title: str = "Notes") -> str:
    if not notes:
        return ""
    return f'<div class="notes"><strong>{text(title)}</strong><ul>' + "".join(f"<li>{text(n)}</li>" for n in notes) \
        + "</ul></div>"


def figure_svg(fig: Figure, prefix: str) -> str:
    """A Matplotlib figure as a compact inline <svg> element (compact_svg)."""
    buffer = io.StringIO()
    with matplotlib.rc_context(SVG_SETTINGS):
        fig.savefig(buffer, format="svg", metadata=UNDATED)
    return compact_svg(buffer.getvalue(), prefix)


def compact_svg(svg: str, prefix: str) -> str:
    """Matplotlib's SVG made fit for inlining: without its XML prolog and DOCTYPE (not allowed inside
    HTML), metadata and indentation; path coordinates to 0.1 pt (an eighth of a pixel: a millionth of
    a point was a third of the file); only the ids something refers to kept, each prefixed by `prefix`,
    so that several figures in one page never share one (their markers and clip paths would cross)."""
    svg = BETWEEN_TAGS.sub("><", SVG_METADATA.sub("", svg[SVG_START.search(svg).start():]))
    svg = PATH_DATA.sub(lambda m: m.group(1) + DECIMALS.sub(r"\1", m.group(2).replace(" \n", " ")) + '"', svg)
    referenced = set(SVG_REFERENCE.findall(svg))
    svg = SVG_ID.sub(lambda m: f' id="{prefix}{m.group(1)}"' if m.group(1) in referenced else "", svg)
    return SVG_REFERENCE_SITE.sub(lambda m: f"{m.group(1)}#{prefix}{m.group(2)}", svg)


def draw_figures(epochs: pd.DataFrame) -> list[InlineFigure]:
    """`plot`'s figures (mmdg_bench/results/plots.py), per preset, as inline SVG."""
    figures = []
    for preset, runs in epochs.groupby("preset", sort=True):
        for spec in figure_specs(runs):
            svg = figure_svg(draw(spec, runs), f"fig{len(figures) + 1}-")
            figures.append(InlineFigure(preset, spec.title, svg))
    return figures


def figure_element(svg: str, number: int, caption: str) -> str:
    """An inline figure under its number; `caption` is HTML (its text already escaped)."""
    return f'<figure id="figure-{number}">{svg}<figcaption>Figure {number}. {caption}</figcaption></figure>'


def figure_html(figure: InlineFigure, number: int) -> str:
    return figure_element(figure.svg, number, f"{text(figure.title)} (preset {text(figure.preset)}): line: mean "
                          f"over seeds; band: ± 1 std (ddof=1); columns: each held-out target domain and their mean.")


@dataclass(frozen=True)
class FeatureMapFigure:
    run: str
    svg: str
    scores: pd.DataFrame  # feature_maps.separability_scores


def draw_feature_maps(results_dir: Path) -> tuple[list[FeatureMapFigure], list[str]]:
    """`plot --features`'s figure (inline SVG) and scores of each run under `results_dir` whose features
    `evaluate --features` saved; and a note for each features file that could not be read (left out)."""
    maps, notes = [], []
    for folder in runs_with_features(results_dir):
        try:
            fig, scores = feature_figure(read_features(folder))
        except UserError as err:
            notes.append(f"{err} (left out of the feature maps)")
            continue
        maps.append(FeatureMapFigure(folder.name, figure_svg(fig, f"features{len(maps) + 1}-"), scores))
    return maps, notes


def feature_maps_html(maps: list[FeatureMapFigure], first_figure: int) -> str:
    """The feature maps' section: every run's scores in one sortable table, then each run's figure."""
    if not maps:
        return ""
    header = ["run", "features", "clips", "domain probe (%)", "domain chance (%)", "class kNN (%)", "class chance (%)"]
    body = [[m.run, r.view, str(r.clips), *("–" if v != v else f"{v:.1f}" for v in (
        r.domain_probe, r.domain_chance, r.class_knn, r.class_chance))]
            for m in maps for r in m.scores.itertuples(index=False)]
    parts = ['<h2 id="feature-maps">Feature maps and separability</h2>',
             "<p>The pooled features of each run's source-validation and held-out clips at its selected epoch "
             "(<code>mmdg-bench evaluate RUN --features</code>), per modality and fused (what the fused classifier "
             f"reads). Domain probe: a logistic regression's stratified {FOLDS}-fold accuracy at telling the clips' "
             "domains apart, on standardised features; lower is more domain-invariant, chance is the largest "
             f"domain's share. Class kNN: a k-nearest-neighbour classifier's {FOLDS}-fold class accuracy. The maps "
             "are t-SNE pictures of the same features; the scores, not the pictures, are what to compare.</p>",
             sortable_table(header, body, "Feature separability", "feature-scores")]
    parts += [figure_element(m.svg, first_figure + i, f"Feature maps of {text(m.run)}: t-SNE of each modality's "
                             f"and the fused features, coloured by domain (top) and by class (bottom); circles: "
                             f"source validation, triangles: held-out target.") for i, m in enumerate(maps)]
    return "\n".join(parts)


def draw_sensitivity(results_dir: Path) -> list[InlineFigure]:
    """`plot --sensitivity`'s figures (mmdg_bench/results/sensitivity.py) of the settings the folder's
    `sweep --vary` grids varied, as inline SVG."""
    return [InlineFigure(preset, title, figure_svg(fig, f"sensitivity{i}-"))
            for i, (preset, title, fig) in enumerate(sensitivity_figures(results_dir), start=1)]


def sensitivity_html(figures: list[InlineFigure], first_figure: int) -> str:
    """The sensitivity section: each figure with its caption."""
    if not figures:
        return ""
    parts = ['<h2 id="sensitivity">Sensitivity to the varied settings</h2>',
             "<p>Runs of a <code>sweep --vary</code> grid (<code>mmdg-bench plot --sensitivity KEY</code>), at the "
             "best source-validation epoch: lines show fused target and source-validation accuracy against one "
             "setting, mean over seeds with ± 1 std (ddof=1) bars, per held-out domain and their mean; a heatmap "
             "shows the mean ± std fused target accuracy over two.</p>"]
    parts += [figure_element(f.svg, first_figure + i, f"{text(f.title)} (preset {text(f.preset)}).")
              for i, f in enumerate(figures)]
    return "\n".join(parts)


def provenance_rows(folder: Path, root: Path) -> list[dict]:
    """What provenance a run's summary gives beyond what `collect` keeps: its path under `root` and
    its wall time."""
    summary = read_summary(folder)
    return [{RUN_FOLDER: folder.name, "path": str(folder.relative_to(root)), "wall_s": summary.get("wall_s"),
             "version": summary.get("version")}]


def provenance_html(runs: pd.DataFrame, provenance: pd.DataFrame) -> str:
    """One group's runs, one line each (a <details>: one click away): what the leaderboard cells are
    made of and where each came from."""
    merged = runs.merge(provenance, on=RUN_FOLDER, how="left") if not provenance.empty else runs
    merged = merged.sort_values([ROW, "target_domain", "seed"], kind="stable")
    columns = [c for c in PROVENANCE_COLUMNS if c in merged.columns]
    body = [[format_value(row[c]) for c in columns] for _, row in merged.iterrows()]
    total = merged["wall_s"].sum() if "wall_s" in merged.columns else float("nan")
    spent = f", {total / 60:.1f} min of training in all" if total == total and total > 0 else ""
    return (f"<details><summary>Runs of this group ({len(merged)}{spent}): run folder, config hash, "
            f"environment, wall time</summary>"
            + sortable_table([PROVENANCE_COLUMNS[c] for c in columns], body,
                             f"Provenance: one line per finished run, read from its {SUMMARY}") + "</details>")


def format_value(value) -> str:
    if isinstance(value, float) and not pd.isna(value):
        return f"{value:.2f}" if not value.is_integer() else f"{int(value)}"
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def group_html(group: Group, number: int, runs: pd.DataFrame, provenance: pd.DataFrame,
               figures: list[InlineFigure], first_figure: int) -> str:
    parts = [f'<h2 id="{anchor("group", number)}">{number}. {text(group.label)}</h2>',
             notes_html(group.notes, "Notes on this group (missing runs, mixed environments, published rows)")]
    for table in group.tables:
        parts.append(leaderboard_html(table, anchor("group", number, table.title)))
    if figures:
        parts.append(f'<h3 id="{anchor("group", number, "figures")}">Figures over training</h3>')
        parts += [figure_html(f, first_figure + i) for i, f in enumerate(figures)]
    parts.append(provenance_html(runs, provenance))
    return "\n".join(p for p in parts if p)


def protocol_html(selection: str, against: str, runs: pd.DataFrame) -> str:
    rule = SELECTION_LABELS.get(selection, selection)
    seeds = ", ".join(map(str, sorted(runs.seed.unique())))
    return (
        '<h2 id="protocol">Protocol</h2>'
        "<p>Each run trains on every domain of its dataset but one and is tested on the held-out (target) "
        f"domain. Model selection: <strong>{text(rule)}</strong>; the numbers are the selected epoch's "
        "accuracies on the held-out domain, never a choice made by looking at it (unless the rule is oracle). "
        f"Seeds here: {text(seeds)}. A cell is mean ± std (ddof=1) over seeds with its n; Avg averages each seed "
        "over the held-out domains first, leaving out seeds that miss one.</p>"
        f"<p>Δ vs {text(against)}: the mean paired difference against that row over the (target, seed) pairs "
        "both ran; p: the exact two-sided paired sign-flip test over those pairs; * marks p &lt; 0.05, a gap "
        "larger than seed noise. Several rows tested against one reference are not corrected for multiplicity. "
        "Each table's caption says what its cells are. Click a column header to sort a table by it.</p>")


def contents_html(groups: list[Group]) -> str:
    items = []
    for number, group in enumerate(groups, start=1):
        items.append(f'<li><a href="#{anchor("group", number)}">{text(group.label)}</a><ol>'
                     + "".join(f'<li><a href="#{anchor("group", number, t.title)}">{text(t.title)}</a></li>'
                               for t in group.tables) + "</ol></li>")
    return ('<nav><h2 id="contents">Contents</h2><ol><li><a href="#protocol">Protocol</a></li>'
            f'{"".join(items)}</ol></nav>')


def report_html(groups: list[Group], runs: pd.DataFrame, provenance: pd.DataFrame, figures: list[InlineFigure],
                damaged: list[Damaged], source: str, against: str, figure_notes: list[str] = (),
                feature_maps: list[FeatureMapFigure] = (), sensitivity: list[InlineFigure] = ()) -> str:
    """The whole page. `runs`: collect_runs's frame (one row per run and selection rule); `provenance`:
    provenance_rows of every finished run; `figures`: draw_figures; `damaged`: runs that could not be
    read; `figure_notes`: why runs (or all figures) are missing from the figures; `feature_maps`:
    draw_feature_maps, and `sensitivity`: draw_sensitivity, after the groups."""
    selection = groups[0].selection
    chosen = runs[runs.selection == selection]
    sections, number = [], 1
    shown_presets = set()
    for i, group in enumerate(groups, start=1):
        mine = chosen[(chosen.preset == group.preset) & (chosen.dataset == group.dataset)]
        figs = [f for f in figures if f.preset == group.preset] if group.preset not in shown_presets else []
        shown_presets.add(group.preset)
        sections.append(group_html(group, i, mine, provenance, figs, number))
        number += len(figs)
    unreadable = (notes_html([d.note for d in damaged], "Finished runs that could not be read (left out)")
                  + notes_html(list(figure_notes), "Left out of the figures"))
    count = chosen[RUN_FOLDER].nunique() if RUN_FOLDER in chosen.columns else len(chosen)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>mmdg-bench report: {text(source)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>Multimodal domain generalisation: results</h1>"
        f'<p class="meta">{count} finished runs under <code>{text(source)}</code>, {len(groups)} group(s) of '
        f"(preset, dataset); mmdg-bench {text(mmdg_bench.__version__)}. Self-contained: tables, figures and "
        f"provenance are all in this file.</p></header>"
        + contents_html(groups) + protocol_html(selection, against, chosen) + unreadable + "\n".join(sections)
        + sensitivity_html(list(sensitivity), number) + feature_maps_html(list(feature_maps), number + len(sensitivity))
        + f"<script>{SCRIPT}</script></body></html>\n")
