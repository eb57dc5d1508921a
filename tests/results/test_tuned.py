"""`compare --tuned`: per row and held-out domain the draw with the best source-validation accuracy over
seeds, never a target metric; its target accuracy with Δ and the paired test against the tuned baseline,
beside the defaults-only table; `--selection oracle` chooses by target and says so. Hand-written run
folders and a saved tuning plan: no training."""

import hashlib
import json

import pytest
from typer.testing import CliRunner

from mmdg_bench import api
from mmdg_bench.cli import app
from mmdg_bench.errors import UserError
from mmdg_bench.results.collect import collect
from mmdg_bench.results.tuned import choose_draws, tuned_draws, tuned_runs
from mmdg_bench.sweep.plan import RunSpec, save_plan

TARGETS, SEEDS, DRAWS = ("day", "night"), (0, 1), (0, 1, 2)
# (strategy, target, draw) -> (source-validation, target) accuracy of seed 0; seed 1 adds 2 to both.
# gmp on day: draw 1 is the source-validation winner, draw 2 the target-only winner.
ACCURACY = {("gmp", "day", 0): (70, 40), ("gmp", "day", 1): (80, 45), ("gmp", "day", 2): (60, 90),
            ("gmp", "night", 0): (75, 30), ("gmp", "night", 1): (65, 60), ("gmp", "night", 2): (70, 35),
            ("baseline", "day", 0): (72, 41), ("baseline", "day", 1): (60, 70), ("baseline", "day", 2): (74, 38),
            ("baseline", "night", 0): (70, 33), ("baseline", "night", 1): (68, 31), ("baseline", "night", 2): (66, 50)}


def write_tuned_run(root, strategy: str, target: str, seed: int, draw: int, preset: str = "toy") -> str:
    """A finished run folder as `compare` reads it; its config holds its draw's (made-up) settings."""
    val, acc = (x + 2 * seed for x in ACCURACY[strategy, target, draw])
    params = {"alpha_k": draw / 10} if draw else {}
    config_hash = hashlib.sha256(json.dumps([strategy, draw]).encode()).hexdigest()[:10]
    name = f"{preset}__{strategy}__{target}__seed{seed}__{config_hash}"
    (root / name).mkdir(parents=True)
    chosen = {"epoch": 2, "val": {"fused": val, "loss": 1.0}, "target": {"fused": acc, "loss": 1.0}}
    oracle = {"epoch": 1, "val": {"fused": val - 1, "loss": 1.0}, "target": {"fused": acc + 1, "loss": 1.0}}
    summary = {"preset": preset, "dataset": "synth", "strategy": strategy, "target_domain": target, "seed": seed,
               "config_hash": config_hash, "modalities": ["video", "audio"],
               "selection": {"best-val": chosen, "oracle": oracle},
               "config": {"preset": preset, "seed": seed, "optim": {"lr": 0.001 * (1 + draw)},
                          "strategy": {"name": strategy, strategy: params}}}
    (root / name / "summary.json").write_text(json.dumps(summary))
    (root / name / "done").write_text("")
    return name


@pytest.fixture
def tuned(tmp_path):
    root = tmp_path / "runs"
    plan = []
    for strategy in ("baseline", "gmp"):
        for target in TARGETS:
            for draw in DRAWS:
                cell = (f"optim.lr={0.001 * (1 + draw)}",) if draw else ()
                for seed in SEEDS:
                    name = write_tuned_run(root, strategy, target, seed, draw)
                    plan.append(RunSpec("toy", strategy, target, seed, ("keep_weights=false", *cell), str(root),
                                        run_folder=name, varied=cell, draw=draw))
    save_plan(plan, root)
    return root


def test_the_draws_are_read_from_the_saved_plan(tuned):
    draws = tuned_draws(tuned)
    assert len(draws) == 2 * 2 * 3 * 2 and {d for d, _ in draws.values()} == set(DRAWS)
    assert {study for _, study in draws.values()} == {()}  # keep_weights says how, not what: no study


def test_the_tuned_cell_is_the_source_validation_winners_target_accuracy(tuned):
    tables = api.compare(tuned, tuned=True, numbers=True)
    title = next(t for t in tables if t.startswith("Tuned (K = 3, chosen by source validation)"))
    cells = tables[title].set_index(["strategy", "column"])["mean"]
    assert cells["gmp", "day"] == pytest.approx(46)  # draw 1 (45, 47), not the target-only winner draw 2 (91)
    assert cells["gmp", "night"] == pytest.approx(31)  # draw 0
    assert cells["baseline", "day"] == pytest.approx(39)  # draw 2
    assert cells["baseline", "night"] == pytest.approx(34)  # draw 0
    assert cells["gmp", "Δ vs baseline"] == pytest.approx((46 - 39 + 31 - 34) / 2)
    assert cells["gmp", "cost ×"] == pytest.approx(1.7)
    text = api.compare(tuned, tuned=True, numbers=False)[title]
    assert text.loc["gmp", "draws"] == "day 1, night 0" and text.loc["baseline", "draws"] == "day 2, night 0"
    defaults = tables["Defaults only (draw 0): fused target accuracy (%)"].set_index(["strategy", "column"])["mean"]
    assert defaults["gmp", "day"] == pytest.approx(41) and defaults["baseline", "night"] == pytest.approx(34)


def test_no_target_metric_chooses_a_draw(tuned):
    runs = tuned_runs(collect(tuned).query("selection == 'best-val'"), tuned_draws(tuned))
    chosen = choose_draws(runs, "val/fused")
    scrambled = runs.assign(**{c: -runs[c] for c in runs.columns if c.startswith("target/")})
    assert sorted(map(tuple, choose_draws(scrambled, "val/fused")[["row", "target_domain", "draw", "seed"]].values)) \
        == sorted(map(tuple, chosen[["row", "target_domain", "draw", "seed"]].values))


def test_the_oracle_chooses_by_target_and_says_it_peeks(tuned):
    tables = api.compare(tuned, tuned=True, selection="oracle")
    title = next(t for t in tables if t.startswith("Tuned"))
    assert "ORACLE" in title and "peeks at target labels" in title
    cells = tables[title].set_index(["strategy", "column"])["mean"]
    assert cells["gmp", "day"] == pytest.approx(92)  # draw 2, the target winner (oracle epoch: +1)


def test_markdown_and_csv_hold_both_tables(tuned):
    md = api.compare(tuned, tuned=True, format="md")
    assert "### Defaults only (draw 0)" in md and "### Tuned (K = 3, chosen by source validation)" in md
    assert "no target metric is read to choose" in md
    csv = api.compare(tuned, tuned=True, format="csv")
    assert "Tuned (K = 3" in csv and ",gmp,cost ×,1.7" in csv


def test_a_folder_without_tuned_runs_is_one_sentence_and_exit_2(tmp_path):
    root = tmp_path / "runs"
    write_tuned_run(root, "gmp", "day", 0, 0)  # a finished run, but no --tune plan
    with pytest.raises(UserError, match="no runs of a `sweep --tune` under"):
        api.compare(root, tuned=True)
    result = CliRunner().invoke(app, ["compare", str(root), "--tuned"])
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: no runs of a `sweep --tune`")


def test_the_cli_prints_the_tuned_tables(tuned):
    result = CliRunner().invoke(app, ["compare", str(tuned), "--tuned", "--format", "md"])
    assert result.exit_code == 0, result.output
    assert "Tuned (K = 3" in result.stdout and "Defaults only" in result.stdout
    refused = CliRunner().invoke(app, ["compare", str(tuned), "--tuned", "--robustness"])
    assert refused.exit_code == 2 and "--tuned shows the tuning tables alone" in refused.stderr


def test_the_report_holds_the_tuned_tables_with_their_rule(tuned, tmp_path):
    page = api.report(tuned, tmp_path / "report.html").read_text()
    assert "Tuned (K = 3, chosen by source validation)" in page and "Defaults only (draw 0)" in page
    assert "no target metric is read to choose" in page


def test_the_report_of_a_folder_without_tuned_runs_has_no_tuned_table(tmp_path):
    root = tmp_path / "runs"
    write_tuned_run(root, "gmp", "day", 0, 0)
    assert "Tuned (K" not in api.report(root, tmp_path / "report.html").read_text()


def test_every_table_has_a_title_of_its_own(tuned):
    titles = list(api.compare(tuned, tuned=True))  # keyed by title: a repeated title would hide a table
    assert len(titles) == 4  # defaults, its paired tests, tuned, its paired tests
