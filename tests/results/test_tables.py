"""Leaderboards on hand-computed inputs: cells, Δ and its mark, layouts, notes, formats."""

import json
import math

import pandas as pd
import pytest

from mmdg_bench.errors import UserError
from mmdg_bench.results.render import render_compare, to_latex, to_markdown
from mmdg_bench.results.cells import AVG, format_cell
from mmdg_bench.results.accuracy import accuracy_tables
from mmdg_bench.results.tables import compare_report
from mmdg_bench.results.notes import missing_notes
from mmdg_bench.results.modalities import modality_table


def runs():
    # baseline: seeds 0 and 1 on both targets; gmp: seed 1 lacks target "b".
    rows = [("baseline", "a", 0, 50.0, 40, 60, 90, 80), ("baseline", "b", 0, 70.0, 30, 80, 92, 84),
            ("baseline", "a", 1, 54.0, 44, 62, 94, 82), ("baseline", "b", 1, 74.0, 34, 82, 96, 86),
            ("gmp", "a", 0, 60.0, 50, 70, 91, 81), ("gmp", "b", 0, 80.0, 40, 90, 93, 85),
            ("gmp", "a", 1, 62.0, 52, 72, 95, 83)]
    frame = pd.DataFrame(rows, columns=["strategy", "target_domain", "seed", "target/fused", "target/video",
                                        "target/audio", "val/fused", "val/video"])
    return frame.assign(preset="p", dataset="d", selection="best-val", modalities="video,audio")


def grid(deltas: dict[str, list[float]], seeds=(0, 1)) -> pd.DataFrame:
    """baseline at 50 + target offset + seed on targets a, b, c; each other strategy adds its
    deltas, one per (target, seed) pair in that order (None: the run is missing)."""
    rows = []
    for strategy, shifts in {"baseline": [0.0] * 6, **deltas}.items():
        pairs = [(t, s) for t in "abc" for s in seeds]
        rows += [(strategy, t, s, 50 + 10 * "abc".index(t) + s + shift)
                 for (t, s), shift in zip(pairs, shifts) if shift is not None]
    frame = pd.DataFrame(rows, columns=["strategy", "target_domain", "seed", "target/fused"])
    return frame.assign(preset="p", dataset="d", selection="best-val", modalities="video,audio",
                        **{"val/fused": 70.0})


def cell(cells, strategy, column):
    row = cells[(cells.strategy == strategy) & (cells.column == column)].iloc[0]
    return row["mean"], row["std"], row["n"]


def table2(frame, against="baseline"):
    return accuracy_tables(frame, "T", against, {})


def test_per_target_mean_std_n():
    cells = table2(runs())[0].cells
    mean, std, n = cell(cells, "baseline", "a")
    assert (mean, n) == (52.0, 2) and std == pytest.approx(math.sqrt(8))  # (50, 54): var = 8, ddof=1
    mean, std, n = cell(cells, "gmp", "b")
    assert (mean, n) == (80.0, 1) and math.isnan(std)


def test_avg_averages_each_complete_seed_over_targets():
    cells = table2(runs())[0].cells
    mean, std, n = cell(cells, "baseline", AVG)  # seed 0: 60, seed 1: 64
    assert (mean, n) == (62.0, 2) and std == pytest.approx(math.sqrt(8))
    mean, _, n = cell(cells, "gmp", AVG)  # seed 1 misses target b: only seed 0 counts
    assert (mean, n) == (70.0, 1)


def test_delta_is_the_mean_paired_difference_over_shared_pairs():
    # gmp − baseline on the pairs both ran: a/0 10, b/0 10, a/1 8 -> mean 28/3.
    table, paired = table2(runs())
    mean, _, n = cell(table.cells, "gmp", "Δ vs baseline")
    assert mean == pytest.approx(28 / 3) and n == 3
    assert table.text.loc["gmp", "Δ vs baseline"] == "+9.33"  # 3 pairs: p = 2/8, no mark
    assert table.text.loc["baseline", "Δ vs baseline"] == "ref"
    assert paired.text.loc["gmp"].tolist() == ["3", "+9.33 ± 1.15", "[+8.00, +10.00]", "0.250"]


def test_mark_needs_p_below_alpha():
    table, paired = table2(grid({"gmp": [1, 2, 1, 2, 1, 2], "gmp-no-k": [1, 2, 1, 2, 1, None]}))
    assert table.text.loc["gmp", "Δ vs baseline"] == "+1.50*"  # 6 positive pairs: p = 2/64
    assert table.text.loc["gmp-no-k", "Δ vs baseline"] == "+1.40"  # 5 positive pairs: p = 2/32
    assert paired.text.loc["gmp", "p"] == "0.031*" and paired.text.loc["gmp-no-k", "p"] == "0.062"
    assert "p < 0.05" in table.caption


def test_pairs_match_target_and_seed():
    # gmp ran seeds 1 and 2, baseline seeds 0 and 1: only seed 1 pairs up, +5 on each target.
    frame = pd.concat([grid({}, seeds=(0, 1)), grid({}, seeds=(1, 2)).query("strategy == 'baseline'")
                       .assign(strategy="gmp", **{"target/fused": lambda f: f["target/fused"] + 5})])
    mean, _, n = cell(table2(frame)[0].cells, "gmp", "Δ vs baseline")
    assert (mean, n) == (5.0, 3)


def test_against_names_the_reference_strategy():
    frame = grid({"gmp": [1] * 6, "gmp-no-k": [3] * 6})
    table, paired = table2(frame, against="gmp")
    assert table.text.loc["gmp-no-k", "Δ vs gmp"] == "+2.00*"
    assert table.text.loc["baseline", "Δ vs gmp"] == "-1.00*"
    with pytest.raises(UserError, match="no runs of strategy 'gmp-no-q'.*did you mean 'gmp-no-k'"):
        compare_report(frame, "best-val", against="gmp-no-q")


def test_without_baseline_runs_there_is_no_delta_but_a_note():
    (group,) = compare_report(grid({"gmp": [1] * 6, "pcgrad": [2] * 6}).query("strategy != 'baseline'"), "best-val")
    assert list(group.tables[0].text.columns) == ["a", "b", "c", AVG]
    assert any("no baseline runs here" in note for note in group.notes)


def test_modality_table_columns():
    table = modality_table(runs())
    assert list(table.text.columns) == ["video (target)", "audio (target)", "fused (target)",
                                        "video (val)", "fused (val)"]
    assert cell(table.cells, "baseline", "video (target)")[0] == pytest.approx(37.0)  # seeds: 35, 39
    assert cell(table.cells, "baseline", "video (val)")[0] == pytest.approx(83.0)  # seeds: 82, 84
    assert cell(table.cells, "baseline", "fused (val)")[0] == pytest.approx(93.0)  # seeds: 91, 95


def test_presets_are_never_averaged_together():
    mixed = pd.concat([runs(), runs().assign(preset="q", **{"target/fused": 0.0})])
    first, second = compare_report(mixed, "best-val")
    assert (first.preset, second.preset) == ("p", "q")
    assert cell(first.tables[0].cells, "baseline", "a")[0] == 52.0
    assert cell(second.tables[0].cells, "baseline", "a")[0] == 0.0


def test_ablation_table_only_when_gmp_variants_ran():
    titles = [t.title for t in compare_report(grid({"gmp": [1] * 6}), "best-val")[0].tables]
    assert not any("Table 4" in title for title in titles)
    tables = compare_report(grid({"gmp": [1] * 6, "gmp-no-p": [3] * 6}), "best-val")[0].tables
    ablation = next(t for t in tables if "Table 4" in t.title)
    assert ablation.text.index.tolist() == ["gmp-no-p", "gmp"]  # the paper's order: blocks, then gmp
    assert ablation.text.loc["gmp-no-p", "Δ vs gmp"] == "+2.00*"
    assert ablation.text.loc["gmp-no-p", "Δ vs full"] == "–"  # gmp-igdm-only did not run
    assert ablation.text.loc["gmp-no-p", "paper row"] == "w/o p"


def test_missing_runs_are_counted_and_listed():
    frame = grid({"gmp": [1, None, None, 1, 1, 1]}, seeds=(0, 1))
    assert missing_notes(frame) == ["2 run(s) missing: gmp/a/seed1, gmp/b/seed0"]
    many = grid({"gmp": [None] * 6})
    many = pd.concat([many, many.assign(strategy="pcgrad").head(1)])
    assert missing_notes(many) == ["5 run(s) missing: pcgrad/a/seed1, pcgrad/b/seed0, pcgrad/b/seed1, "
                                   "pcgrad/c/seed0, pcgrad/c/seed1"]
    many = pd.concat([many, many.assign(strategy="ogm-ge").head(1)])
    assert missing_notes(many)[0].startswith("10 run(s) missing:")
    assert missing_notes(many)[0].endswith(", … (5 more)")


def test_selection_labels_say_what_oracle_does():
    frame = pd.concat([grid({}), grid({}).assign(selection="oracle")])
    (group,) = compare_report(frame, "oracle")
    assert group.label.endswith("selection oracle (peeks at target labels)")
    with pytest.raises(UserError, match="no run records a 'last' model selection"):
        compare_report(grid({}), "last")


def test_reference_paper_rows_only_where_published():
    hac = grid({"gmp": [1] * 6}).assign(dataset="hac")
    (group,) = compare_report(hac, "best-val", reference="paper")
    text = group.tables[0].text
    assert text.loc["GMP (paper)", AVG] == "64.91" and text.loc["Base (paper)", "a"] == "–"
    assert text.index.tolist()[:2] == ["baseline", "gmp"]  # ours first, then the paper's
    assert text.loc["GMP (paper)", "Δ vs baseline"] == "–"
    epic = compare_report(hac.assign(dataset="epic_kitchens"), "best-val", reference="paper")[0]
    assert epic.tables[0].text.loc["GMP (paper)", AVG] == "57.36"
    (synth,) = compare_report(grid({}).assign(dataset="synth"), "best-val", reference="paper")
    assert not any("(paper)" in label for label in synth.tables[0].text.index)
    assert synth.notes == ["--reference paper: no published numbers apply to dataset synth "
                           "(the paper reports EPIC-Kitchens and HAC only)."]
    (flow,) = compare_report(hac.assign(modalities="video,audio,flow"), "best-val", reference="paper")
    assert "use video,audio; some runs here use video,audio,flow" in flow.notes[0]


def test_cell_format_and_markdown():
    assert format_cell(52.0, math.sqrt(8), 2) == "52.00 ± 2.83 (n=2)"
    assert format_cell(80.0, float("nan"), 1) == "80.00 (n=1)"
    assert format_cell(float("nan"), float("nan"), 0) == "–"
    text = to_markdown(compare_report(runs(), "best-val"))
    assert "| strategy | a | b | Avg | Δ vs baseline |" in text
    assert "| gmp | 61.00 ± 1.41 (n=2) | 80.00 (n=1) | 70.00 (n=1) | +9.33 |" in text
    assert "1 run(s) missing: gmp/b/seed1" in text


def test_diagnostics_table_only_for_strategies_that_log_them():
    assert not any("diagnostics" in t.title for t in compare_report(runs(), "best-val")[0].tables)
    frame = runs().assign(**{"diag/video/rho": [None] * 4 + [1.5, 2.5, 2.0]})
    table = compare_report(frame, "best-val")[0].tables[-1]
    assert table.title.startswith("Strategy diagnostics")
    assert cell(table.cells, "gmp", "video/rho") == (2.0, 0.5, 3)
    assert cell(table.cells, "baseline", "video/rho")[2] == 0
    assert table.text.loc["video/rho", "baseline"] == "–"  # shown transposed: one row per diagnostic
    assert table.text.index.name == "diagnostic"


def test_latex_uses_booktabs_and_escapes():
    latex = to_latex(compare_report(runs().assign(preset="my_preset"), "best-val"))
    assert latex.count(r"\toprule") == latex.count(r"\bottomrule") == latex.count(r"\begin{tabular}") == 3
    assert r"accuracy (\%)" in latex and r"my\_preset" in latex
    assert r"gmp & 61.00 $\pm$ 1.41 (n=2) & 80.00 (n=1) & 70.00 (n=1) & +9.33 \\" in latex
    assert r"$\Delta$ vs baseline" in latex and "% 1 run(s) missing" in latex
    assert "±" not in latex and "_preset" not in latex.replace(r"\_preset", "")


def test_csv_and_json_carry_the_numbers():
    frame = grid({"gmp": [1, 2, 1, 2, 1, 2]})
    rows = render_compare(frame, "best-val", "csv").splitlines()
    assert rows[0] == "preset,dataset,selection,table,strategy,column,mean,std,n,ci_low,ci_high,p"
    paired = next(r for r in rows if ",paired Δ vs baseline," in r)
    assert paired.endswith(",gmp,paired Δ vs baseline,1.5000,0.5477,6,1.1667,1.8333,0.0312")
    tables = json.loads(render_compare(frame, "best-val", "json"))
    assert tables[0]["cells"][0] == {"strategy": "baseline", "column": "a", "mean": 50.5, "n": 2,
                                     "std": pytest.approx(math.sqrt(0.5)), "ci_low": None, "ci_high": None, "p": None}
    assert tables[0]["selection"] == "best-val" and tables[0]["notes"] == []
