"""`sweep --tune K`: K draws of settings per strategy × targets × seeds, each an ordinary run folder with
the drawn overrides, labelled by its draw; draw 0 is the default run itself; the shared settings are drawn
alike for every row; adding a strategy or a key never shifts another's draws; the plan is saved and
resumed like any sweep's. No training here."""

import dataclasses

import pytest
from typer.testing import CliRunner

from mmdg_bench import api
from mmdg_bench.cli import app
from mmdg_bench.errors import UserError, UserNotice
from mmdg_bench.search_space import MAX_DRAWS, Uniform
from mmdg_bench.strategies import STRATEGIES
from mmdg_bench.strategies.gmp import GMPCoreParams
from mmdg_bench.strategies.pcgrad import PCGrad
from mmdg_bench.sweep.plan import plan_sweep, save_plan, saved_plans
from tests.conftest import TINY


def drawn(spec) -> dict[str, str]:
    return dict(o.split("=", 1) for o in spec.varied)


def by_draw(plan, strategy: str) -> dict[int, dict[str, str]]:
    return {s.draw: drawn(s) for s in plan if s.strategy == strategy and s.target == "toon" and s.seed == 0}


def test_tune_plans_k_draws_per_strategy_target_and_seed_labelled_by_draw(tmp_path):
    plan = plan_sweep("synth", "baseline,gmp", "toon,day", "0-1", TINY, tmp_path, tune=3)
    assert len(plan) == 3 * 2 * 2 * 2  # draws x strategies x targets x seeds
    assert len({s.run_folder for s in plan}) == len(plan)
    assert {s.label for s in plan if s.strategy == "gmp" and s.target == "day" and s.seed == 1} == {
        f"gmp/day/seed1 [draw={d}]" for d in range(3)}
    gmp, baseline = by_draw(plan, "gmp"), by_draw(plan, "baseline")
    assert gmp[0] == baseline[0] == {}  # draw 0: the defaults, no override
    assert set(gmp[1]) == {"optim.lr", "loss.domain_weight", "strategy.gmp.alpha_k", "strategy.gmp.alpha_p"}
    for draw in (1, 2):  # the shared settings alike in every row, baseline included
        assert {k: v for k, v in gmp[draw].items() if not k.startswith("strategy.")} == baseline[draw]
    spec = next(s for s in plan if s.strategy == "gmp" and s.draw == 2)
    config = spec.config()
    assert 0 <= config.strategy.params["alpha_k"] <= 1
    assert config.optim.lr == pytest.approx(float(gmp[2]["optim.lr"]))
    assert 1e-3 / 10**0.5 <= config.optim.lr <= 1e-3 * 10**0.5  # around synth's own 1e-3


def test_draw_0_is_the_ordinary_default_run_folder(tmp_path):
    tuned = plan_sweep("synth", "baseline,gmp", "toon", "0", TINY, tmp_path, tune=2)
    default = plan_sweep("synth", "baseline,gmp", "toon", "0", TINY, tmp_path)
    assert [s.run_folder for s in tuned if s.draw == 0] == [s.run_folder for s in default]


def test_adding_a_strategy_or_a_key_never_shifts_the_other_draws(tmp_path, monkeypatch):
    before = plan_sweep("synth", "baseline,gmp", "toon", "0", TINY, tmp_path, tune=4)
    folders = {s.label: s.run_folder for s in before}
    with STRATEGIES.scoped():  # a plugin's strategy with ranges of its own, planned first

        @dataclasses.dataclass
        class MineParams:
            weight: float = 0.5
            SEARCH = {"weight": Uniform(0.0, 1.0)}

            def validate(self) -> None:
                pass

        STRATEGIES.register("aaa-mine")(type("Mine", (PCGrad,), {"Params": MineParams}))
        wider = plan_sweep("synth", "aaa-mine,baseline,gmp", "toon", "0", TINY, tmp_path, tune=4)
    assert {s.label: s.run_folder for s in wider if s.strategy != "aaa-mine"} == folders
    # GMP registers one more key: its other keys, and every other row, draw what they drew.
    monkeypatch.setattr(GMPCoreParams, "SEARCH", {"denominator": _choice(), **GMPCoreParams.SEARCH})
    more = plan_sweep("synth", "baseline,gmp", "toon", "0", TINY, tmp_path, tune=4)
    assert [s.run_folder for s in more if s.strategy == "baseline"] == \
        [s.run_folder for s in before if s.strategy == "baseline"]
    for old, new in zip(by_draw(before, "gmp").values(), by_draw(more, "gmp").values()):
        assert {k: v for k, v in new.items() if not k.endswith("denominator")} == old


def _choice():
    from mmdg_bench.search_space import Choice

    return Choice(("clamp", "author"))


def test_a_key_the_sweep_sets_is_held_fixed_not_drawn(tmp_path):
    plan = plan_sweep("synth", "gmp", "toon", "0", [*TINY, "optim.lr=0.01"], tmp_path, tune=3)
    assert all("optim.lr" not in drawn(s) for s in plan)
    assert {s.config().optim.lr for s in plan} == {0.01}


def test_a_strategy_without_ranges_is_told_and_draws_the_shared_keys_alone(tmp_path):
    with STRATEGIES.scoped():  # a plugin's strategy with a setting but no SEARCH

        @dataclasses.dataclass
        class BareParams:
            weight: float = 0.5

            def validate(self) -> None:
                pass

        STRATEGIES.register("bare")(type("Bare", (PCGrad,), {"Params": BareParams}))
        with pytest.warns(UserNotice, match="bare registers no search ranges"):
            plan = plan_sweep("synth", "bare", "toon", "0", TINY, tmp_path, tune=2)
    assert set(by_draw(plan, "bare")[1]) == {"optim.lr", "loss.domain_weight"}


def test_every_built_in_strategy_and_method_with_settings_registers_ranges():
    from mmdg_bench.methods import METHODS
    from mmdg_bench.search_space import tunes_nothing

    untuned = [n for n in STRATEGIES.names() if tunes_nothing(STRATEGIES.get(n).Params)]
    untuned += [n for n in METHODS.names() if tunes_nothing(METHODS.get(n).Params)]
    assert untuned == []


@pytest.mark.parametrize(("tune", "vary", "says"), [
    (0, [], "--tune must be from 1 (the defaults alone) to 1000 draws per row, got 0"),
    (-3, [], "got -3"),
    (MAX_DRAWS + 1, [], f"to {MAX_DRAWS} draws per row, got {MAX_DRAWS + 1}"),
    (2, ["strategy.gmp.alpha_k=0,1"], "--tune and --vary do not combine"),
])
def test_a_bad_tune_is_one_sentence_before_anything_is_planned(tmp_path, tune, vary, says):
    with pytest.raises(UserError) as caught:
        plan_sweep("synth", "gmp", "toon", "0", TINY, tmp_path, vary=vary, tune=tune)
    assert says in str(caught.value)
    assert not any(tmp_path.iterdir())


def test_the_cli_refuses_a_bad_k_with_exit_2_and_one_line(tmp_path):
    args = ["sweep", "--strategies", "gmp", "--targets", "toon", "--seeds", "0", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, [*args, "--tune", "0"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: --tune must be from 1 (the defaults alone) to 1000 draws per row, got 0"]
    assert not any(tmp_path.iterdir())


def test_the_plan_keeps_its_draws_and_a_resumed_tune_skips_finished_runs(tmp_path):
    args = dict(strategies="baseline,gmp", targets="toon", seeds="0-1", overrides=TINY, out=tmp_path, tune=3)
    plan = api.sweep(dry_run=True, **args)
    assert len(plan) == 12 and set(plan.state) == {"pending"}
    assert plan.label.iloc[-1] == "gmp/toon/seed1 [draw=2]"
    save_plan(plan_sweep("synth", "baseline,gmp", "toon", "0-1", TINY, tmp_path, tune=3), tmp_path)
    assert sorted((s.strategy, s.draw) for s in saved_plans(tmp_path)) == sorted(
        (s, d) for s in ("baseline", "gmp") for d in range(3) for _ in range(2))
    (plan.folder.iloc[5]).mkdir(parents=True)
    (plan.folder.iloc[5] / "done").write_text("")  # as a sweep killed after this run leaves it
    again = api.sweep(dry_run=True, **args)
    assert list(again.state == "done") == [i == 5 for i in range(12)]


@pytest.mark.slow
def test_a_tiny_tuning_sweep_trains_and_compares(tmp_path):
    result = api.sweep(strategies="baseline", targets="toon", seeds="0", overrides=[*TINY, "keep_weights=false"],
                       out=tmp_path, tune=2)
    assert list(result.outcome) == ["done", "done"]
    tables = api.compare(tmp_path, tuned=True, numbers=False)
    tuned = tables["Tuned (K = 2, chosen by source validation): fused target accuracy (%)"]
    assert tuned.loc["baseline", "draws"] in ("toon 0", "toon 1") and tuned.loc["baseline", "cost ×"] == "1.00×"
