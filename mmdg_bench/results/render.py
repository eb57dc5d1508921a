"""Lay out `compare`'s groups of leaderboards: Markdown, LaTeX (booktabs), CSV, JSON, or Rich
tables on a console. Numbers are formatted once, in tables.py; this file only arranges them.

    mmdg-bench compare results/runs --format latex > table2.tex
"""

import json
import re
import textwrap

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mmdg_bench.results.cells import Group, Leaderboard
from mmdg_bench.results.tables import compare_report

CSV_COLUMNS = ["preset", "dataset", "selection", "table", "strategy", "column", "mean", "std", "n",
               "ci_low", "ci_high", "p"]
# One pass over the text, so a replacement is never escaped again; Unicode that pdflatex's
# default input encoding rejects becomes its LaTeX spelling.
LATEX_SPELLING = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "<": r"$<$", ">": r"$>$", "±": r"$\pm$", "–": "--", "—": "---", "Δ": r"$\Delta$",
                  "×": r"$\times$", "…": r"\ldots{}", "−": "$-$"}
UNLIMITED = 100_000
LABEL_WIDTH = 24  # a longer row label wraps at its spaces in a terminal table, leaving room for numbers
LATEX_SPECIAL = re.compile("|".join(map(re.escape, LATEX_SPELLING)))


def rows(table: Leaderboard) -> list[list[str]]:
    """Header, then one row per strategy: the label and its cells."""
    text = table.text
    return [[text.index.name or "strategy", *text.columns],
            *([label, *cells] for label, cells in zip(text.index, text.values))]


def markdown_table(table: Leaderboard) -> str:
    header, *body = rows(table)
    lines = [f"### {table.title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    if table.caption:
        lines += ["", table.caption]
    return "\n".join(lines) + "\n"


def to_markdown(groups: list[Group]) -> str:
    parts = []
    for group in groups:
        parts += [f"## {group.label}\n", *(f"{note}\n" for note in group.notes)]
        parts += [markdown_table(table) for table in group.tables]
    return "\n".join(parts)


def latex_escape(text: str) -> str:
    return LATEX_SPECIAL.sub(lambda match: LATEX_SPELLING[match.group()], text)


def latex_table(table: Leaderboard, group: Group) -> str:
    header, *body = rows(table)
    caption = f"{table.title} --- {group.label}. {table.caption}".strip()
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(caption)}}}",
             rf"\begin{{tabular}}{{l{'r' * (len(header) - 1)}}}", r"\toprule",
             " & ".join(map(latex_escape, header)) + r" \\", r"\midrule",
             *(" & ".join(map(latex_escape, row)) + r" \\" for row in body),
             r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_latex(groups: list[Group]) -> str:
    """Tables for a paper (needs \\usepackage{booktabs}); notes become LaTeX comments."""
    parts = []
    for group in groups:
        parts += [f"% {latex_escape(note)}\n" for note in group.notes]
        parts += [latex_table(table, group) for table in group.tables]
    return "\n".join(parts)


def to_csv(groups: list[Group]) -> str:
    """One tidy row per number; notes are not data, the CLI prints them on stderr."""
    frames = [table.cells.assign(preset=group.preset, dataset=group.dataset, selection=group.selection,
                                 table=table.title) for group in groups for table in group.tables]
    return pd.concat(frames)[CSV_COLUMNS].to_csv(index=False, float_format="%.4f")


def to_json(groups: list[Group]) -> str:
    payload = [{"preset": group.preset, "dataset": group.dataset, "selection": group.selection,
                "table": table.title, "caption": table.caption, "notes": group.notes,
                "cells": json.loads(table.cells.to_json(orient="records"))}
               for group in groups for table in group.tables]
    return json.dumps(payload, indent=2) + "\n"


RENDERERS = {"md": to_markdown, "latex": to_latex, "csv": to_csv, "json": to_json}


def render_report(groups: list[Group], fmt: str) -> str:
    return RENDERERS[fmt](groups)


def render_compare(runs: pd.DataFrame, selection: str, fmt: str, against: str | None = None,
                   reference: str | None = None, damaged=()) -> str:
    """The whole `compare` output as text, for every format except the Rich `table`."""
    return render_report(compare_report(runs, selection, against, reference, damaged), fmt)


N_SUFFIX = re.compile(r" \(n=(\d+)\)$")
MIN_HEADER_WIDTH = 6


def seeds_column(body: list[list[str]]) -> tuple[list[list[str]], list[str]] | None:
    """On a terminal, a row whose cells all say the same "(n=k)" says it once, in an n column: six
    characters less per cell. A row whose cells differ in n keeps them (its n is blank). None when
    no row has one n."""
    compact, counts = [], []
    for label, *cells in body:
        found = {match.group(1) for cell in cells if (match := N_SUFFIX.search(cell))}
        if len(found) == 1:
            compact.append([label, *(N_SUFFIX.sub("", cell) for cell in cells)])
            counts.append(found.pop())
        else:
            compact.append([label, *cells])
            counts.append("")
    return (compact, counts) if any(counts) else None


def wrapped_header(name: str, cells: list[str]) -> str:
    """A column title broken at its spaces to about its widest cell, so a long title ("audio gap
    (alone − joint)") does not make a column of short numbers three times their width."""
    width = max(MIN_HEADER_WIDTH, *(len(cell) for cell in cells))
    return "\n".join(textwrap.wrap(name, width, break_long_words=False, break_on_hyphens=False)) or name


def rich_table(table: Leaderboard, columns: list[str] | None = None, part: str = "", caption: bool = True) -> Table:
    """`table` (or its label column and `columns`) as a Rich table; cells fold rather than being cut."""
    header, *body = rows(table)
    keep = [0] + [i for i, name in enumerate(header) if i and (columns is None or name in columns)]
    compact = seeds_column(body)
    if compact:
        body, counts = compact
    # Text, not str: a label like "gmp [alpha_k=0.3]" is not Rich markup.
    shown = Table(title=Text(table.title + part), caption=Text(table.caption) if caption and table.caption else None)
    labels = [header[0], *(row[0] for row in body)]
    label_width = max(LABEL_WIDTH, *(len(word) for label in labels for word in label.split()))
    shown.add_column(Text(header[0]), justify="left", overflow="fold", max_width=label_width)
    if compact:
        shown.add_column(Text("n"), justify="right")
    for i in keep[1:]:
        shown.add_column(Text(wrapped_header(header[i], [row[i] for row in body])), justify="right", overflow="fold")
    for r, row in enumerate(body):
        shown.add_row(*(Text(row[i]) for i in keep[:1]), *([Text(counts[r])] if compact else []),
                      *(Text(row[i]) for i in keep[1:]))
    return shown


def fitted_tables(table: Leaderboard, console: Console) -> list[Table]:
    """`table` as one Rich table when it fits the console, else stacked: its columns split into
    parts that fit, each beside the label column, so no cell is cut or squeezed; the caption once,
    under the last part."""
    columns = list(table.text.columns)
    parts, current = [], []
    for column in columns:
        wide = console.options.update_width(UNLIMITED)  # measured unsqueezed: Rich caps at the width given
        if current and console.measure(rich_table(table, [*current, column]), options=wide).maximum > console.width:
            parts.append(current)
            current = []
        current.append(column)
    parts.append(current)
    if len(parts) == 1:
        return [rich_table(table)]
    return [rich_table(table, part, f" (columns {i + 1} of {len(parts)})", caption=i == len(parts) - 1)
            for i, part in enumerate(parts)]


def print_report(groups: list[Group], console: Console) -> None:
    for group in groups:
        console.print(Text(group.label, style="bold"), soft_wrap=True)
        for note in group.notes:
            console.print(Text(note, style="yellow"), soft_wrap=True)
        for table in group.tables:
            for part in fitted_tables(table, console):
                console.print(part)


def report_notes(groups: list[Group]) -> list[str]:
    """Every note, prefixed by its group, for outputs that cannot carry them (CSV)."""
    return [f"{group.label}: {note}" for group in groups for note in group.notes]
