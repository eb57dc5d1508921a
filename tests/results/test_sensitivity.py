"""`plot --sensitivity`: accuracy against a setting a sweep varied (lines), or a heatmap over two, from
hand-written run folders (summary.json only: the figure reads the leaderboard's numbers). No training."""

import hashlib
import json
import math
import re

import pytest
from typer.testing import CliRunner

from mmdg_bench import api
from mmdg_bench.cli import app
from mmdg_bench.errors import UserError
from mmdg_bench.results.collect import collect
from mmdg_bench.results.epochs import ALL_TARGETS
from mmdg_bench.results.sensitivity import plot_sensitivity, sensitivity_stats, varied

K, P = "strategy.gmp.alpha_k", "strategy.gmp.alpha_p"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PDF_MAGIC = b"%PDF-"


def write_summary_run(root, strategy: str, target: str, seed: int, params: dict, fused: float, preset="toy"):
    """A finished run folder as `compare` reads it: `done` and a summary.json with its config and selection."""
    config_hash = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:10]
    name = f"{preset}__{strategy}__{target}__seed{seed}__{config_hash}"
    folder = root / name
    folder.mkdir(parents=True)
    chosen = {"epoch": 2, "val": {"fused": fused + 30, "loss": 1.0}, "target": {"fused": fused, "loss": 1.0}}
    summary = {"preset": preset, "dataset": "synth", "strategy": strategy, "target_domain": target, "seed": seed,
               "config_hash": config_hash, "modalities": ["video", "audio"],
               "selection": {"best-val": chosen, "last": {**chosen, "target": {"fused": 0.0}}},
               "config": {"preset": preset, "seed": seed, "optim": {"lr": 0.1},
                          "strategy": {"name": strategy, strategy: params}}}
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "done").write_text("")


def accuracy(k: float, p: float, target: str, seed: int) -> float:
    """A known surface: k adds 10 per unit, p 4, the night target 20 less, seed 1 two more than seed 0."""
    return 40 + 10 * k + 4 * p - (20 if target == "night" else 0) + 2 * seed


@pytest.fixture
def grid(tmp_path):
    root = tmp_path / "runs"
    for k in (0, 0.5, 1):
        for p in (0, 1):
            for target in ("day", "night"):
                for seed in (0, 1):
                    write_summary_run(root, "gmp", target, seed, {"alpha_k": k, "alpha_p": p},
                                      accuracy(k, p, target, seed))
    write_summary_run(root, "baseline", "day", 0, {}, 30.0)  # another strategy: no alpha_k, left out
    return root


def test_line_stats_are_the_mean_and_std_over_seeds_per_target_and_their_mean(grid):
    runs = varied(collect(grid).query("selection == 'best-val'"), [K])
    assert set(runs.line) == {"gmp [alpha_p=0]", "gmp [alpha_p=1]", "baseline"}
    stats = sensitivity_stats(runs[runs.strategy == "gmp"], [K], "target/fused").set_index(
        ["line", K, "target_domain"])
    night = stats.loc[("gmp [alpha_p=1]", "1", "night")]
    assert night["mean"] == pytest.approx(40 + 10 + 4 - 20 + 1) and night["n"] == 2
    assert night["std"] == pytest.approx(math.sqrt(2))  # seeds 0 and 1 differ by 2: ddof=1
    both = stats.loc[("gmp [alpha_p=0]", "0.5", ALL_TARGETS)]
    assert both["mean"] == pytest.approx(40 + 5 - 10 + 1)  # the mean of day and night, over seeds


def test_heatmap_stats_have_one_cell_per_pair_of_values(grid):
    runs = varied(collect(grid).query("selection == 'best-val'"), [K, P])
    stats = sensitivity_stats(runs[runs.strategy == "gmp"], [K, P], "target/fused")
    cells = stats[stats.target_domain == ALL_TARGETS].set_index([K, P])["mean"]
    assert set(stats.line) == {"gmp"} and len(cells) == 6
    assert cells[("1", "1")] - cells[("0", "0")] == pytest.approx(14)


@pytest.mark.parametrize("keys", [[K], [K, P]])
def test_the_figure_is_written_as_png_and_pdf(grid, tmp_path, keys):
    out = tmp_path / "figures"
    written, damaged = plot_sensitivity(grid, out, keys)
    stem = "toy_sensitivity_alpha_k" + ("_x_alpha_p" if len(keys) == 2 else "")
    assert damaged == [] and sorted(p.name for p in written) == [f"{stem}.pdf", f"{stem}.png"]
    for path in written:
        assert path.read_bytes().startswith(PNG_MAGIC if path.suffix == ".png" else PDF_MAGIC)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written)  # no temporary file left


def test_a_key_no_run_varies_is_one_sentence(grid, tmp_path):
    with pytest.raises(UserError, match=r"^no runs here vary optim.lr: make them with sweep --vary optim.lr="):
        plot_sensitivity(grid, tmp_path / "figures", [K, "optim.lr"])
    assert not (tmp_path / "figures").exists()  # nothing half-written
    with pytest.raises(UserError, match="takes one setting .lines. or two .a heatmap., got 3"):
        plot_sensitivity(grid, tmp_path / "figures", [K, P, "optim.lr"])


def test_the_cli_and_the_api_take_the_option(grid, tmp_path):
    assert [p.name for p in api.plot(grid, tmp_path / "api", sensitivity=[P])] == [
        "toy_sensitivity_alpha_p.png", "toy_sensitivity_alpha_p.pdf"]
    result = CliRunner().invoke(app, ["plot", str(grid), "--out", str(tmp_path / "cli"), "--sensitivity", K,
                                      "--sensitivity", P])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cli" / "toy_sensitivity_alpha_k_x_alpha_p.pdf").is_file()
    bad = CliRunner().invoke(app, ["plot", str(grid), "--out", str(tmp_path / "cli"), "--sensitivity", "nope.x"])
    assert bad.exit_code == 2
    assert bad.stderr.strip().splitlines() == ["error: no runs here vary nope.x: make them with sweep --vary "
                                               "nope.x=V1,V2,..."]


def save_vary_plan(root, varied: list[str]) -> None:
    """A saved sweep plan (<out>/sweeps/) whose one run a --vary grid made with `varied`."""
    (root / "sweeps").mkdir()
    (root / "sweeps" / "grid.json").write_text(json.dumps([
        {"preset": "toy", "strategy": "gmp", "target": "day", "seed": 0, "overrides": varied, "out": str(root),
         "varied": varied}]))


def test_the_report_draws_the_sensitivity_of_what_the_folders_grid_varied(grid, tmp_path):
    out = tmp_path / "report.html"
    api.report(grid, out=out)
    assert "Sensitivity" not in out.read_text()  # no --vary plan: no sensitivity section
    save_vary_plan(grid, [f"{K}=0", f"{P}=0"])
    api.report(grid, out=out)
    page = out.read_text()
    titles = ["Sensitivity: fused target accuracy over alpha_k × alpha_p", "Sensitivity to alpha_k",
              "Sensitivity to alpha_p"]
    assert [page.find(t) > 0 for t in titles] == [True] * 3
    assert page.find(titles[0]) < page.find(titles[1]) < page.find(titles[2])
    numbers = re.findall(r'<figure id="figure-(\d+)"', page)
    assert len(numbers) >= 3 and len(numbers) == len(set(numbers))  # every figure its own number
