"""`compare` with MMDG methods and fusion variants, from summary.json files as the engine writes
them: rows "method + strategy", GMP's Table 3 layout (each method alone and with each strategy,
Δ and paired test against the method alone, published rows beside) and Table 5 layout (fusions
without and with GMP), each only when it applies; and no torch import."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from mmdg_bench.results.collect import collect
from mmdg_bench.results.reference import TABLE3, TABLE5
from mmdg_bench.results.cells import AVG
from mmdg_bench.results.tables import compare_report

TARGETS = ("D1", "D2", "D3")
METHOD_INFO = {"rna-net": {"paper_row": "RNA-Net", "order": 1}, "simmmdg": {"paper_row": "SimMMDG", "order": 2},
               "erm": {"paper_row": None, "order": 0}}


def write_summary(root, method: str, strategy: str, target: str, seed: int, fused: float, fusion: str = "concat",
                  dataset: str = "epic_kitchens", method_params=None):
    config = {"preset": dataset, "seed": seed, "data": {"dataset": dataset, "modalities": ["video", "audio"]},
              "model": {"fusion": fusion}, "strategy": {"name": strategy, strategy: {}},
              "method": {"name": method, method: dict(method_params or {})}}
    heads = {"fused": fused, "video": 40.0, "audio": 30.0, "loss": 1.0}
    summary = {"preset": dataset, "dataset": dataset, "strategy": strategy, "method": method,
               "method_info": METHOD_INFO[method], "target_domain": target, "seed": seed, "config_hash": "h",
               "modalities": ["video", "audio"], "config": config,
               "selection": {"best-val": {"epoch": 1, "val": heads, "target": heads}}, "diagnostics": {}}
    label = strategy if method == "erm" else f"{method}+{strategy}"
    tag = abs(hash(json.dumps(config, sort_keys=True))) % 10**8
    folder = root / f"{dataset}__{label}__{target}__seed{seed}__{tag}"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "done").write_text("")
    return folder


def grid(root, method: str, strategy: str, offset: float, seeds=(0, 1, 2, 3), **kwargs):
    """fused = 50 + target index + seed + offset: against another grid the paired gap is exactly
    the offset difference on every (target, seed) pair."""
    for seed in seeds:
        for i, target in enumerate(TARGETS):
            write_summary(root, method, strategy, target, seed, 50 + i + seed + offset, **kwargs)


def table(group, title: str):
    found = [t for t in group.tables if title in t.title]
    return found[0] if found else None


def number(leaderboard, row: str, column: str) -> float:
    cells = leaderboard.cells
    return float(cells[(cells.strategy == row) & (cells.column == column)]["mean"].iloc[0])


def test_method_rows_are_labelled_method_plus_strategy(tmp_path):
    grid(tmp_path, "erm", "baseline", 0)
    grid(tmp_path, "simmmdg", "gmp", 3)
    grid(tmp_path, "simmmdg", "baseline", 2)
    grid(tmp_path, "rna-net", "baseline", 1)
    (group,) = compare_report(collect(tmp_path), "best-val")
    rows = table(group, "Table 2").text.index.tolist()
    assert rows == ["baseline", "rna-net + baseline", "simmmdg + baseline", "simmmdg + gmp"]


def test_a_methods_own_settings_split_its_rows(tmp_path):
    grid(tmp_path, "simmmdg", "baseline", 0, method_params={"alpha_contrast": 3.0})
    grid(tmp_path, "simmmdg", "baseline", 1, method_params={"alpha_contrast": 1.0})
    (group,) = compare_report(collect(tmp_path), "best-val")
    assert table(group, "Table 2").text.index.tolist() == ["simmmdg + baseline [alpha_contrast=1.0]",
                                                           "simmmdg + baseline [alpha_contrast=3.0]"]


def test_table3_compares_each_method_with_itself_alone(tmp_path):
    grid(tmp_path, "erm", "baseline", 0)
    grid(tmp_path, "rna-net", "baseline", 10)
    grid(tmp_path, "rna-net", "gmp", 10.5)
    grid(tmp_path, "simmmdg", "baseline", 12)
    grid(tmp_path, "simmmdg", "gmp", 15)
    (group,) = compare_report(collect(tmp_path), "best-val", reference="paper")
    t3 = table(group, "Table 3")
    assert t3.text.index.tolist() == ["rna-net + baseline", "rna-net + gmp", "simmmdg + baseline", "simmmdg + gmp"]
    assert t3.text.loc["rna-net + baseline", "Δ vs baseline"] == "ref"
    assert number(t3, "rna-net + gmp", "Δ vs baseline") == pytest.approx(0.5)
    assert number(t3, "simmmdg + gmp", "Δ vs baseline") == pytest.approx(3.0)
    # 12 pairs all +3: the exact sign-flip test gives p = 2 / 2^12, marked.
    assert t3.text.loc["simmmdg + gmp", "Δ vs baseline"] == "+3.00*"
    assert t3.text.loc["simmmdg + gmp", "p"] == "<0.001*"
    assert t3.text.loc["simmmdg + gmp", "method"] == "SimMMDG"
    assert number(t3, "simmmdg + baseline", AVG) == pytest.approx(50 + 1 + 1.5 + 12)
    # The published rows beside ours: EPIC's column, alone on baseline, + GMP on gmp.
    assert number(t3, "simmmdg + baseline", "paper Avg") == TABLE3["SimMMDG"][0][0] == 60.81
    assert number(t3, "simmmdg + gmp", "paper Avg") == TABLE3["SimMMDG"][1][0] == 62.03
    assert number(t3, "rna-net + gmp", "paper Avg") == 60.92
    assert "baseline" not in t3.text.index  # ERM's rows are Table 2's


def test_table3_uses_the_hac_column_and_only_with_reference_paper(tmp_path):
    grid(tmp_path, "simmmdg", "baseline", 0, dataset="hac")
    grid(tmp_path, "simmmdg", "gmp", 1, dataset="hac")
    (group,) = compare_report(collect(tmp_path), "best-val", reference="paper")
    t3 = table(group, "Table 3")
    assert number(t3, "simmmdg + baseline", "paper Avg") == 67.82
    assert number(t3, "simmmdg + gmp", "paper Avg") == 69.11
    (plain,) = compare_report(collect(tmp_path), "best-val")
    assert "paper Avg" not in table(plain, "Table 3").text.columns


def test_no_table3_or_table5_for_erm_under_concat(tmp_path):
    grid(tmp_path, "erm", "baseline", 0)
    grid(tmp_path, "erm", "gmp", 1)
    (group,) = compare_report(collect(tmp_path), "best-val", reference="paper")
    assert table(group, "Table 3") is None and table(group, "Table 5") is None


def test_table5_pairs_each_fusion_with_itself_without_a_strategy(tmp_path):
    for fusion, offset in (("concat", 0), ("film", -2), ("gated", -3), ("late", -4)):
        grid(tmp_path, "erm", "baseline", offset, fusion=fusion)
        grid(tmp_path, "erm", "gmp", offset + 2, fusion=fusion)
    grid(tmp_path, "simmmdg", "baseline", 8, fusion="film")  # a method's fusion rows are Table 3's
    (group,) = compare_report(collect(tmp_path), "best-val", reference="paper")
    t2 = table(group, "Table 2").text.index.tolist()
    assert "gmp [fusion=film]" in t2 and "baseline [fusion=concat]" in t2
    t5 = table(group, "Table 5")
    assert t5.text.index.tolist() == ["baseline [fusion=concat]", "gmp [fusion=concat]", "baseline [fusion=film]",
                                      "gmp [fusion=film]", "baseline [fusion=gated]", "gmp [fusion=gated]",
                                      "baseline [fusion=late]", "gmp [fusion=late]"]
    for fusion in ("concat", "film", "gated", "late"):
        assert number(t5, f"gmp [fusion={fusion}]", "Δ vs baseline") == pytest.approx(2.0)
    assert number(t5, "baseline [fusion=gated]", "paper Avg") == TABLE5["Activation"][0][0] == 52.23
    assert number(t5, "gmp [fusion=film]", "paper Avg") == TABLE5["FiLM"][1][0] == 56.19
    assert t5.text.loc["gmp [fusion=late]", "paper Avg"] == "–"
    assert t5.text.loc["gmp [fusion=gated]", "fusion"] == "gated (paper: Activation, assumed)"
    assert "Assumption: gated stands for the paper's Activation" in t5.caption


def test_an_unusual_fusion_always_shows_in_the_label(tmp_path):
    grid(tmp_path, "erm", "baseline", 0)
    grid(tmp_path, "erm", "gmp", 1)
    grid(tmp_path, "erm", "pcgrad", 1, fusion="sum")  # its only configuration, but not the usual fusion
    (group,) = compare_report(collect(tmp_path), "best-val", reference="paper")
    assert table(group, "Table 2").text.index.tolist()[:3] == ["baseline", "pcgrad [fusion=sum]", "gmp"]
    t5 = table(group, "Table 5")
    assert t5.text.index.tolist() == ["pcgrad [fusion=sum]"]  # baseline and gmp never ran under another fusion
    assert t5.text.loc["pcgrad [fusion=sum]", "Δ vs baseline"] == "–"  # no sum row under baseline ran
    # Table 5 has baseline and GMP only: no published number for this row
    assert t5.text.get("paper Avg", pd.Series("–", index=t5.text.index)).tolist() == ["–"]


def test_table_5_lists_only_the_rows_run_like_the_fusion_variants(tmp_path):
    for offset, strategy in enumerate(("baseline", "gmp", "pcgrad")):
        grid(tmp_path, "erm", strategy, offset)
    for offset, strategy in enumerate(("baseline", "gmp")):
        grid(tmp_path, "erm", strategy, offset, fusion="sum")
    (group,) = compare_report(collect(tmp_path), "best-val", reference="paper")
    t5 = table(group, "Table 5")
    assert t5.text.index.tolist() == ["baseline [fusion=concat]", "gmp [fusion=concat]", "baseline [fusion=sum]",
                                      "gmp [fusion=sum]"]  # pcgrad ran under concat only
    assert "pcgrad" in table(group, "Table 2").text.index


def test_a_damaged_method_run_is_counted_under_its_row(tmp_path):
    grid(tmp_path, "simmmdg", "baseline", 0, seeds=(0,))
    grid(tmp_path, "simmmdg", "gmp", 1, seeds=(0,))
    folder = next(tmp_path.glob("*simmmdg+gmp__D1__*"))
    (folder / "summary.json").write_text("{truncated")
    from mmdg_bench.results.collect import collect_runs

    runs, damaged = collect_runs(tmp_path)
    (group,) = compare_report(runs, "best-val", damaged=damaged)
    assert any("simmmdg + gmp/D1/seed0" in note for note in group.notes)


@pytest.mark.e2e
def test_compare_does_not_import_torch(tmp_path):
    grid(tmp_path, "simmmdg", "gmp", 0, seeds=(0,))
    code = (f"import sys; from mmdg_bench.results.collect import collect; "
            f"from mmdg_bench.results.render import render_compare; "
            f"print(render_compare(collect({str(tmp_path)!r}), 'best-val', 'md', reference='paper')); "
            f"assert 'torch' not in sys.modules, 'compare imported torch'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Table 3 layout" in result.stdout


def test_table4_lists_only_rows_run_like_its_ablations(tmp_path):
    """gmp under another method or fusion is not a row of GMP's ablation table."""
    grid(tmp_path, "erm", "gmp", 1)
    grid(tmp_path, "erm", "gmp-igdm-only", 0)
    grid(tmp_path, "simmmdg", "gmp", 2)
    grid(tmp_path, "erm", "gmp", 3, fusion="sum")
    (group,) = compare_report(collect(tmp_path), "best-val")
    rows = table(group, "Table 4").text.index.tolist()
    assert "gmp-igdm-only" in rows and any(row.startswith("gmp") and "+" not in row and "sum" not in row
                                          for row in rows if row != "gmp-igdm-only")
    assert not [row for row in rows if "simmmdg" in row or "sum" in row]
