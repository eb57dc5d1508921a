"""A sweep's saved plan names each run's folder and label, so `compare` and `sweep status` read what
was planned without resolving a preset again; plans saved before that still read (the committed
leaderboard's among them), and a run they plan whose preset no longer loads is named as missing."""

import json
from dataclasses import asdict, replace
from pathlib import Path

from mmdg_bench.results.collect import UNRESOLVED, planned_runs
from mmdg_bench.sweep.plan import plan_sweep, save_plan, saved_plans
from tests.conftest import TINY

COMMITTED = Path(__file__).resolve().parents[2] / "results" / "synth" / "runs"


def test_a_saved_plan_names_each_runs_folder_and_label(tmp_path):
    plan = plan_sweep("synth", "baseline,gmp", "toon", "0-1", TINY, tmp_path)
    saved = json.loads(save_plan(plan, tmp_path).read_text())
    assert [(entry["run_folder"], entry["label"]) for entry in saved] == [(s.folder().name, s.label) for s in plan]
    assert all(entry["run_folder"].startswith("synth__") for entry in saved)
    assert [s.run_folder for s in saved_plans(tmp_path)] == [entry["run_folder"] for entry in saved]
    assert planned_runs(tmp_path) == {"synth": {entry["run_folder"]: entry["label"] for entry in saved}}


def older_plan(out: Path, plan) -> None:
    """The plan as sweeps saved it before plans named folders: no run_folder, no label."""
    (out / "sweeps").mkdir(parents=True, exist_ok=True)
    entries = [{k: v for k, v in asdict(spec).items() if k != "run_folder"} for spec in plan]
    (out / "sweeps" / "0ld0ld0ld0.json").write_text(json.dumps(entries))


def test_an_older_plan_reads_its_folders_from_its_preset(tmp_path):
    plan = plan_sweep("synth", "pcgrad", "day", "0", TINY, tmp_path)
    older_plan(tmp_path, plan)
    assert saved_plans(tmp_path)[0].run_folder == ""
    assert planned_runs(tmp_path) == {"synth": {plan[0].run_folder: "pcgrad/day/seed0"}}


def test_an_older_plan_whose_preset_is_gone_names_its_runs_as_missing(tmp_path):
    plan = plan_sweep("synth", "pcgrad", "day", "0", TINY, tmp_path)
    older_plan(tmp_path, [replace(spec, preset=str(tmp_path / "deleted.yaml")) for spec in plan])
    assert planned_runs(tmp_path) == {"deleted": {"?pcgrad/day/seed0": f"pcgrad/day/seed0{UNRESOLVED}"}}


def test_the_committed_leaderboard_plans_still_name_every_committed_run():
    planned = planned_runs(COMMITTED)["synth"]
    committed = {p.parent.name for p in COMMITTED.glob("*/done")}
    assert committed == set(planned) and len(committed) == 285


def test_a_damaged_plan_is_named_with_its_repair(tmp_path):
    from typer.testing import CliRunner

    from mmdg_bench.cli import app

    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "0000000000.json").write_text("")  # what a full disk used to leave
    result = CliRunner().invoke(app, ["sweep", "status", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "the sweep plan" in result.stderr and "is damaged (it is empty): delete it" in result.stderr


def test_a_metrics_line_cut_short_ends_what_was_recorded(tmp_path):
    from mmdg_bench.engine.run_folder import RunFolder

    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\n{"epoch": 2}\n{"epo')  # a full disk mid-append
    assert RunFolder(tmp_path).metrics() == [{"epoch": 1}, {"epoch": 2}]
    assert RunFolder(tmp_path).keep_metrics(1) == [{"epoch": 1}]
