"""`compare` from summary.json files as the engine writes them: one row per strategy and
configuration, single-modality rows and the imbalance gap, GMP's Table 4 blocks, environment and
damaged-folder notes, and tables that fit an 80-column terminal."""

import json
from types import SimpleNamespace

import pytest
from rich.console import Console
from typer.testing import CliRunner

from mmdg_bench.cli import app
from mmdg_bench.cli.runs import runs_table
from mmdg_bench.errors import UserError
from mmdg_bench.results.collect import collect, collect_runs
from mmdg_bench.results.reference import TABLE4
from mmdg_bench.results.cells import AVG
from mmdg_bench.results.tables import compare_report

TARGETS = ("D1", "D2", "D3")


def write_summary(root, strategy: str, target: str, seed: int, fused: float, video: float = 40.0,
                  audio: float = 30.0, modalities=("video", "audio"), params=None, threads: int = 2,
                  environment=None, dataset: str = "epic_kitchens", info=None):
    """A finished run folder whose summary.json has the keys the engine writes (config included)."""
    config = {"preset": dataset, "seed": seed, "threads": threads, "device": "cpu",
              "data": {"dataset": dataset, "modalities": list(modalities), "num_workers": threads},
              "optim": {"lr": 1e-4}, "strategy": {"name": strategy, strategy: dict(params or {})}}
    heads = {"fused": fused, "loss": 1.0, **{m: {"video": video, "audio": audio}[m] for m in modalities}}
    summary = {"preset": dataset, "dataset": dataset, "strategy": strategy, "target_domain": target,
               "seed": seed, "config_hash": "h", "modalities": list(modalities), "config": config,
               "selection": {"best-val": {"epoch": 1, "val": heads, "target": heads}}, "diagnostics": {}}
    if environment:
        summary["environment"] = environment
    if info:
        summary["strategy_info"] = info
    tag = abs(hash(json.dumps([config, environment], sort_keys=True))) % 10**8
    folder = root / f"{dataset}__{strategy}__{target}__seed{seed}__{tag}"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "done").write_text("")
    return folder


def grid(root, strategy: str, offset: float, seeds=(0, 1), **kwargs):
    for seed in seeds:
        for i, target in enumerate(TARGETS):
            write_summary(root, strategy, target, seed, 50 + i + seed + offset, **kwargs)


def table(group, title: str):
    return next(t for t in group.tables if title in t.title)


def test_runs_of_different_configs_are_never_pooled(tmp_path):
    grid(tmp_path, "baseline", 0)
    grid(tmp_path, "gmp", 1, params={"alpha_k": 0.5})
    grid(tmp_path, "gmp", 3, params={"alpha_k": 0.3}, threads=1)  # threads only say how to run
    (group,) = compare_report(collect(tmp_path), "best-val")
    text = table(group, "Table 2").text
    assert text.index.tolist() == ["baseline", "gmp [alpha_k=0.3]", "gmp [alpha_k=0.5]"]
    assert text.loc["gmp [alpha_k=0.3]", AVG] == "54.50 ± 0.71 (n=2)"  # not pooled with alpha_k=0.5
    assert text.loc["gmp [alpha_k=0.5]", "Δ vs baseline"] == "+1.00*"


def test_execution_settings_alone_do_not_split_a_row(tmp_path):
    grid(tmp_path, "gmp", 0, seeds=(0,), threads=1)
    grid(tmp_path, "gmp", 0, seeds=(1,), threads=4)
    assert set(collect(tmp_path).row) == {"gmp"}


def test_settings_out_of_a_runs_identity_never_split_a_row(tmp_path):
    """What the config hash leaves out (EXECUTION_SETTINGS: kept weights, compile, channels-last, the
    weights folder, ...) cannot make two rows: the runs share their folders' names."""
    for seed, how in enumerate([{"keep_weights": True, "compile": False}, {"keep_weights": False, "compile": True}]):
        folder = write_summary(tmp_path, "gmp", "D1", seed, 50.0)
        summary = json.loads((folder / "summary.json").read_text())
        summary["config"].update(how, model={"weights_dir": f"/weights/{seed}"})
        (folder / "summary.json").write_text(json.dumps(summary))
    assert set(collect(tmp_path).row) == {"gmp"}


def test_single_modality_rows_and_the_imbalance_gap(tmp_path):
    grid(tmp_path, "baseline", 0, video=40.0)
    grid(tmp_path, "gmp", 1, video=45.0)
    grid(tmp_path, "baseline", 5, modalities=("video",))  # video trained alone: fused 56 on average
    (group,) = compare_report(collect(tmp_path), "best-val", reference="paper")
    text = table(group, "Table 1").text
    gap = "video gap (alone − joint)"
    assert text.loc["baseline", gap] == "16.50 ± 0.71 (n=2)"  # alone 56 and 57 (seeds 0, 1) − 40 joint
    assert text.loc["gmp", gap] == "11.50 ± 0.71 (n=2)"
    assert text.loc["baseline [modalities=video]", gap] == "–"
    assert text.loc["Base (paper)", gap] == "6.12" and text.loc["GMP (paper)", gap] == "2.65"
    assert text.loc["video alone (paper)", "fused (target)"] == "54.98"
    assert "baseline [modalities=video]" in table(group, "Table 2").text.index


def test_table4_compares_each_block_with_its_full_variant(tmp_path):
    grid(tmp_path, "gmp", 2)
    grid(tmp_path, "gmp-igdm-only", 1)
    grid(tmp_path, "gmp-no-k", 0)
    grid(tmp_path, "gmp-cagp-only", 1.5)
    grid(tmp_path, "pcgrad", 0.5)
    grid(tmp_path, "gmp-pcgrad", 1)
    (group,) = compare_report(collect(tmp_path), "best-val", reference="paper")
    text = table(group, "Table 4").text
    assert text.loc["gmp-no-k", "Δ vs full"] == "-1.00*"  # against gmp-igdm-only, not gmp
    assert text.loc["gmp-no-k", "Δ vs gmp"] == "-2.00*"
    assert text.loc["pcgrad", "Δ vs full"] == "-1.00*"  # the projection block: against gmp-cagp-only
    assert text.loc["gmp-igdm-only", "Δ vs full"] == "ref"
    assert text.loc["pcgrad", "paper Avg"] == f"{TABLE4['PCGrad'][0]:.2f}"
    assert text.loc["gmp-no-p (not run)", "paper Avg"] == "55.70"
    assert text.loc["gmp-pcgrad", "block"].startswith("extra")
    rows = text.index.tolist()
    assert rows.index("gmp-no-k") < rows.index("gmp-igdm-only") < rows.index("pcgrad") < rows.index("gmp")
    table2 = table(group, "Table 2")
    assert "gmp-pcgrad: an extra, not in the paper" in table2.caption


def test_table_2s_other_strategies_stand_beside_their_published_rows(tmp_path):
    # AGM, CGGM, DRB and BalGrad were published rows marked "not implemented here"; now our runs
    # sit beside them, and BalGrad's row says it follows the paper's text.
    for offset, strategy in enumerate(["baseline", "agm", "cggm", "drb", "balgrad", "gmp"]):
        grid(tmp_path, strategy, offset)
    (group,) = compare_report(collect(tmp_path), "best-val", reference="paper")
    table2 = table(group, "Table 2")
    rows = table2.text.index.tolist()
    for ours, paper, published in (("agm", "AGM (paper)", 55.39), ("cggm", "CGGM (paper)", 55.30),
                                   ("drb", "DRB (paper)", 54.88), ("balgrad", "BalGrad (paper)", 55.26)):
        assert ours in rows and table2.text.loc[paper, AVG] == f"{published:.2f}"
    assert not [row for row in rows if "not implemented" in row]
    published = [row for row in rows if row.endswith("(paper)") or "(paper," in row]
    assert published == ["Base (paper)", "OGM-GE (paper)", "Grad-Blending (paper)", "AGM (paper)", "CGGM (paper)",
                         "DRB (paper)", "BalGrad (paper)", "PCGrad (paper, Table 4)", "GMP (paper)"]
    assert "balgrad: implemented from the paper's text (no official code exists" in table2.caption


def test_gmp_fast_is_a_main_strategy_not_an_ablation(tmp_path):
    grid(tmp_path, "gmp", 0)
    grid(tmp_path, "gmp-fast", 1)
    (group,) = compare_report(collect(tmp_path), "best-val")
    assert not any("Table 4" in t.title for t in group.tables)


def test_strategy_info_from_the_summary_wins(tmp_path):
    info = {"family": "new", "block": "modulation", "paper_row": None, "order": 12, "colour": "#123456"}
    grid(tmp_path, "gmp", 0)
    grid(tmp_path, "my-ablation", 1, info=info)
    (group,) = compare_report(collect(tmp_path), "best-val")
    assert table(group, "Table 4").text.loc["my-ablation", "block"].startswith("modulation")


def test_a_cell_mixing_environments_gets_one_note(tmp_path):
    grid(tmp_path, "baseline", 0, seeds=(0,), environment={"torch": "2.10.0", "device": "cpu", "threads": 2})
    grid(tmp_path, "baseline", 0, seeds=(1,), environment={"torch": "2.11.0", "device": "cpu", "threads": 2})
    (group,) = compare_report(collect(tmp_path), "best-val")
    (note,) = [n for n in group.notes if "environments" in n]
    assert note.startswith("runs in 3 cell(s) differ in torch version") and "torch 2.10.0, 2.11.0" in note


def test_against_a_strategy_with_several_configs_must_name_one(tmp_path):
    grid(tmp_path, "baseline", 0, params={"x": 1})
    grid(tmp_path, "baseline", 1, params={"x": 2})
    with pytest.raises(UserError, match="several configurations"):
        compare_report(collect(tmp_path), "best-val", against="baseline")
    (group,) = compare_report(collect(tmp_path), "best-val", against="baseline [x=1]")
    assert table(group, "Table 2").text.loc["baseline [x=2]", "Δ vs baseline [x=1]"] == "+1.00*"


@pytest.mark.parametrize("damage", ["truncated", "missing", "not an object"])
def test_a_damaged_summary_is_skipped_with_one_line_and_counted(tmp_path, damage):
    grid(tmp_path, "baseline", 0)
    grid(tmp_path, "gmp", 1)
    (summary,) = tmp_path.glob("*__gmp__D1__seed0__*/summary.json")
    {"truncated": lambda: summary.write_text(summary.read_text()[:40]), "missing": summary.unlink,
     "not an object": lambda: summary.write_text("[1, 2]")}[damage]()
    runs, damaged = collect_runs(tmp_path)
    assert [d.file for d in damaged] == [summary]
    result = CliRunner().invoke(app, ["compare", str(tmp_path), "--format", "md"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "summary.json" in line]
    assert len(warnings) == 1 and str(summary) in result.stderr.replace("\n", "")
    assert "Traceback" not in result.output and "Warning:" not in result.output
    assert "1 run(s) missing (1 of them finished but unreadable): gmp/D1/seed0" in result.stdout


def test_a_results_path_that_is_a_file_is_not_a_folder(tmp_path):
    path = tmp_path / "runs.txt"
    path.write_text("")
    for command in (["compare", str(path)], ["plot", str(path), "--out", str(tmp_path / "f")]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2 and "is a file, not a folder" in result.stderr
        assert "does not exist" not in result.stderr


def many_rows(root):
    for offset, strategy in enumerate(["baseline", "gmp-fixed-proj-dom", "gmp-reverse-cagp", "gmp-cagp-only"]):
        grid(root, strategy, offset)
    grid(root, "baseline", 5, modalities=("video",))


def test_compare_table_fits_80_columns_without_cutting_cells(tmp_path):
    many_rows(tmp_path)
    result = CliRunner().invoke(app, ["compare", str(tmp_path), "--reference", "paper"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    table_lines = [line for line in result.stdout.splitlines() if line[:1] in "┏┃┡│└"]
    assert table_lines and max(map(len, table_lines)) <= 80
    assert "…" not in result.stdout
    for cell in ["gmp-fixed-proj-dom", "gmp-reverse-cagp", "51.50 ± 0.71", "BalGrad (paper)",
                 "(columns 1 of"]:
        assert cell in result.stdout
    wide = CliRunner().invoke(app, ["compare", str(tmp_path)], env={"COLUMNS": "250"})
    assert "(columns" not in wide.stdout
    (line,) = [line for line in wide.stdout.splitlines() if line.startswith("│ gmp-fixed-proj-dom")][:1]
    # A row of one seed count says it once, in the n column, not in every cell.
    assert "51.50 ± 0.71" in line and "52.50 ± 0.71" in line and "+1.00*" in line and "(n=2)" not in line
    assert line.startswith("│ gmp-fixed-proj-dom       │ 2 │")


def test_table_1_is_whole_on_a_wide_terminal(tmp_path):
    # Its long titles ("audio gap (alone − joint)") and "(n=…)" in every cell split it in two even at
    # 200 columns; titles now wrap to their numbers' width.
    many_rows(tmp_path)
    result = CliRunner().invoke(app, ["compare", str(tmp_path)], env={"COLUMNS": "150"})
    assert "Table 1 layout)" in result.stdout and "Table 1 layout) (columns" not in result.stdout
    assert "video gap" in result.stdout and "(alone −" in result.stdout


def test_run_table_fits_80_columns():
    summaries = [{"strategy": "gmp-fixed-proj-dom", "seed": 0, "target_domain": target, "wall_s": 123.4,
                  "modalities": ["video", "audio", "flow"],
                  "selection": {"best-val": {"epoch": 12, "val": {"fused": 99.99},
                                             "target": {"fused": 55.55, "video": 44.44, "audio": 33.33,
                                                        "flow": 22.22}}}}
                 for target in ("cartoon", "human")]
    console = Console(width=80, record=True)
    console.print(runs_table([SimpleNamespace(summary=s) for s in summaries]))
    text = console.export_text()
    assert max(map(len, text.splitlines())) <= 80 and "…" not in text
    assert "gmp-fixed-proj-dom, seed 0" in text and "cartoon" in text and "22.22" in text


def test_runs_from_before_a_setting_existed_share_the_row_of_runs_at_its_default(tmp_path):
    # A run recorded before theta, denominator, past_end, decode and the feature cache existed, and one
    # with all of them at their defaults, have one config hash: they were two rows ("gmp [past_end=loop,
    # denominator=clamp, theta=auto]" and "gmp [past_end=–, ...]"), each reported as missing the other's runs.
    old = write_summary(tmp_path, "gmp", "D1", 0, 50.0, params={"alpha_k": 0.5})
    new = write_summary(tmp_path, "gmp", "D1", 1, 52.0, params={"alpha_k": 0.5, "theta": "auto",
                                                                "denominator": "clamp"})
    author = write_summary(tmp_path, "gmp", "D1", 2, 54.0, params={"alpha_k": 0.5, "denominator": "author"})
    for folder, later in ((old, {}), (new, {"past_end": "loop", "decode": "cpu"}), (author, {})):
        summary = json.loads((folder / "summary.json").read_text())
        summary["config"]["data"]["video"] = {"num_frames": 8, **later}
        if folder != old:
            summary["config"]["data"]["source"] = "clips"
            summary["config"]["features"] = {"views": 1, "seed": 0, "batch_size": 8}
        (folder / "summary.json").write_text(json.dumps(summary))
    runs, _ = collect_runs(tmp_path)
    rows = runs.drop_duplicates("run_folder").set_index("seed")["row"]
    assert rows[0] == rows[1] != rows[2] == "gmp [denominator=author]"
