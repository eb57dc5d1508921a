"""`sweep --vary KEY=V1,V2,...`: the grid times the cartesian product of the varied settings, each cell an
ordinary run folder with one more override per varied key, labelled by its values; every combination is
checked before anything trains, and the plan is saved and resumed like any sweep's. No training here."""

import pytest
from typer.testing import CliRunner

from mmdg_bench import api
from mmdg_bench.cli import app
from mmdg_bench.errors import UserError
from mmdg_bench.sweep.plan import parse_vary, plan_sweep, save_plan, saved_plans, split_values
from tests.conftest import TINY

GRID = ["strategy.gmp.alpha_k=0,1", "strategy.gmp.alpha_p=0,0.5,1"]


def test_vary_plans_every_combination_for_every_target_and_seed(tmp_path):
    plan = plan_sweep("synth", "gmp", "toon,day", "0-1", TINY, tmp_path, vary=GRID)
    assert len(plan) == 2 * 3 * 2 * 2  # alpha_k x alpha_p x targets x seeds
    assert len({spec.run_folder for spec in plan}) == len(plan)  # each cell its own run folder
    cells = {(spec.config().strategy.params["alpha_k"], spec.config().strategy.params["alpha_p"])
             for spec in plan}
    assert cells == {(k, p) for k in (0.0, 1.0) for p in (0.0, 0.5, 1.0)}
    first = plan[0]
    assert first.overrides == (*TINY, "strategy.gmp.alpha_k=0", "strategy.gmp.alpha_p=0")
    assert first.label == "gmp/toon/seed0 [alpha_k=0, alpha_p=0]"
    assert {spec.label for spec in plan if spec.target == "day" and spec.seed == 1} == {
        f"gmp/day/seed1 [alpha_k={k}, alpha_p={p}]" for k in ("0", "1") for p in ("0", "0.5", "1")}


def test_without_vary_the_plan_is_unchanged(tmp_path):
    plan = plan_sweep("synth", "gmp", "toon", "0", TINY, tmp_path)
    assert [(spec.overrides, spec.label) for spec in plan] == [(tuple(TINY), "gmp/toon/seed0")]


def test_values_parse_like_set_values_lists_included(tmp_path):
    assert split_values("0, 0.5,[video,audio],{a: 1, b: 2}") == ["0", "0.5", "[video,audio]", "{a: 1, b: 2}"]
    plan = plan_sweep("synth", "baseline", "toon", "0", TINY, tmp_path,
                      vary=["data.modalities=[video],[video,audio]", "optim.lr=3e-4"])
    assert [(s.config().data.modalities, s.config().optim.lr) for s in plan] == [(["video"], 3e-4),
                                                                                  (["video", "audio"], 3e-4)]


@pytest.mark.parametrize(("vary", "says"), [
    (["strategy.gmp.alpha_kk=0,1"], "unknown setting 'strategy.gmp.alpha_kk'"),
    (["optim.lr=0.1,-1"], "'optim.lr' must be a number > 0, got -1.0"),
    (["strategy.gmp.alpha_k=0,abc"], "'strategy.gmp.alpha_k' must be float, got 'abc'"),
    (["strategy.gmp.alpha_k="], "--vary strategy.gmp.alpha_k names no value"),
    (["strategy.gmp.alpha_k=0,,1"], "--vary strategy.gmp.alpha_k has an empty value"),
    (["strategy.gmp.alpha_k=0", "strategy.gmp.alpha_k=1"], "--vary strategy.gmp.alpha_k is given twice"),
    (["seed=1,2"], "--vary seed: the sweep varies it with --seeds"),
    (["optim.epochs=1,2"], "optim.epochs is both set (--set) and varied (--vary)"),
    (["alpha_k"], "--vary takes KEY=V1,V2,..."),
])
def test_a_bad_vary_is_one_sentence_naming_the_key_before_anything_trains(tmp_path, vary, says):
    with pytest.raises(UserError) as caught:
        plan_sweep("synth", "gmp", "toon", "0", TINY, tmp_path, vary=vary)
    assert says in str(caught.value)
    assert not any(tmp_path.iterdir())  # nothing planned, nothing written


def test_the_cli_refuses_a_bad_combination_with_exit_2_and_one_line(tmp_path):
    args = ["sweep", "--strategies", "gmp", "--targets", "toon", "--seeds", "0", "--out", str(tmp_path)]
    for item in TINY:
        args += ["--set", item]
    result = CliRunner().invoke(app, [*args, "--vary", "strategy.gmp.alpha_k=0,1", "--vary", "optim.lr=0.1,0"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == ["error: 'optim.lr' must be a number > 0, got 0.0"]
    assert not any(tmp_path.iterdir())


def test_dry_run_counts_the_cells_and_a_resumed_sweep_skips_finished_ones(tmp_path):
    args = dict(strategies="gmp", targets="toon", seeds="0-1", overrides=TINY, out=tmp_path, vary=GRID)
    plan = api.sweep(dry_run=True, **args)
    assert len(plan) == 12 and set(plan.state) == {"pending"}
    assert plan.label.iloc[-1] == "gmp/toon/seed1 [alpha_k=1, alpha_p=1]"
    (plan.folder.iloc[3]).mkdir(parents=True)
    (plan.folder.iloc[3] / "done").write_text("")  # as a sweep killed after this run leaves it
    again = api.sweep(dry_run=True, **args)
    assert list(again.state == "done") == [i == 3 for i in range(12)]
    assert list(again.folder) == list(plan.folder)  # re-planning finds the same folders


def test_a_saved_varied_plan_reads_back_with_its_labels(tmp_path):
    plan = plan_sweep("synth", "gmp", "toon", "0", TINY, tmp_path, vary=GRID)
    save_plan(plan, tmp_path)
    read = saved_plans(tmp_path)
    assert [(s.run_folder, s.label, s.overrides) for s in read] == [(s.run_folder, s.label, s.overrides) for s in plan]


def test_parse_vary_keeps_the_order_of_keys_and_values():
    assert parse_vary(["b.x=2,1,2", "a.y=z"]) == {"b.x": ["2", "1"], "a.y": ["z"]}


def test_a_label_names_a_setting_by_its_last_part_unless_two_share_it():
    from mmdg_bench.sweep.plan import RunSpec

    spec = RunSpec("synth", "gmp", "toon", 0, (), "out", varied=("strategy.gmp.alpha_k=0.5", "optim.lr=0.1"))
    assert spec.label == "gmp/toon/seed0 [alpha_k=0.5, lr=0.1]"
    spec = RunSpec("synth", "gmp", "toon", 0, (), "out", varied=("a.lr=1", "b.lr=2", "c.x=[video,audio]"))
    assert spec.label == "gmp/toon/seed0 [a.lr=1, b.lr=2, x=[video,audio]]"


def test_sweep_status_tells_the_cells_apart(tmp_path):
    save_plan(plan_sweep("synth", "gmp", "toon", "0", TINY, tmp_path, vary=GRID[:1]), tmp_path)
    status = api.sweep_status(tmp_path)
    assert list(status.varied) == ["alpha_k=0", "alpha_k=1"] and set(status.state) == {"pending"}
    plain = tmp_path / "plain"
    save_plan(plan_sweep("synth", "gmp", "toon", "0", TINY, plain), plain)
    assert "varied" not in api.sweep_status(plain).columns


@pytest.mark.slow
def test_a_varied_sweep_trains_each_cell_and_plots_its_sensitivity(tmp_path):
    out = tmp_path / "runs"
    frame = api.sweep(strategies="gmp", targets="toon", seeds="0", overrides=[*TINY, "keep_weights=false"],
                      out=out, vary=["strategy.gmp.alpha_k=0,1"])
    assert list(frame.outcome) == ["done", "done"]
    rows = api.compare(out)["Fused target accuracy (%) (Table 2 layout)"].strategy
    assert {"gmp [alpha_k=0.0]", "gmp [alpha_k=1.0]"} <= set(rows)  # the leaderboard tells the cells apart
    written = api.plot(out, tmp_path / "figures", sensitivity=["strategy.gmp.alpha_k"])
    assert sorted(p.name for p in written) == ["synth_sensitivity_alpha_k.pdf", "synth_sensitivity_alpha_k.png"]
    again = api.sweep(strategies="gmp", targets="toon", seeds="0", overrides=[*TINY, "keep_weights=false"],
                      out=out, vary=["strategy.gmp.alpha_k=0,1"])
    assert list(again.outcome) == ["skipped", "skipped"]  # finished cells are not trained again
