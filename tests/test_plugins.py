"""Plugins from outside the package: the README cookbook's strategy through `run`, `sweep --jobs 2`,
`compare` and `plot` (the real command line, in a temporary folder), preset and entry-point plugins,
plugins that fail, and registrations that do not leak out of a scope."""

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from mmdg_bench.cli import app
from mmdg_bench.config import load_config
from mmdg_bench.errors import UserError
from mmdg_bench.results.epochs import epoch_runs
from mmdg_bench.results.plots import line_styles
from mmdg_bench.settings import PRESET_DIR
from mmdg_bench.strategies import STRATEGIES
from tests.conftest import TINY
from tests.readme import python_block, registered_name

COOKBOOK = python_block("my_strategy.py")
NAME = registered_name(COOKBOOK)
SET = [arg for override in TINY for arg in ("--set", override)]


def cli(*args: str, cwd, env=None) -> subprocess.CompletedProcess:
    """`mmdg-bench ARGS` in a fresh process, as a user types it."""
    return subprocess.run([sys.executable, "-m", "mmdg_bench", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.mark.e2e
def test_the_cookbook_strategy_runs_sweeps_and_compares_from_a_folder_outside_the_package(tmp_path):
    (tmp_path / "my_strategy.py").write_text(COOKBOOK)
    run = cli("--plugin", "my_strategy.py", "run", "--strategy", NAME, "--target", "day", *SET, "--out", "runs",
              cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    sweep = cli("--plugin", "my_strategy.py", "sweep", "--strategies", f"baseline,{NAME}", "--targets", "day",
                "--seeds", "0-1", "--jobs", "2", *SET, "--out", "runs", "--logger", "csv", cwd=tmp_path)
    assert sweep.returncode == 0, sweep.stdout + sweep.stderr
    assert "finished: 3 trained, 0 failed" in sweep.stdout  # the `run` above already made scaled-domain/day/seed0
    (worker_run,) = (tmp_path / "runs").glob(f"synth__{NAME}__day__seed1__*")
    assert (worker_run / "logs" / "metrics.csv").is_file()  # --logger reached the worker too

    compare = cli("compare", "runs", "--format", "json", cwd=tmp_path)  # no --plugin: the runs carry the facts
    assert compare.returncode == 0, compare.stderr
    (table2,) = [t for t in json.loads(compare.stdout) if t["table"].startswith("Fused target accuracy")]
    rows = list(dict.fromkeys(cell["strategy"] for cell in table2["cells"]))
    assert rows == ["baseline", NAME]  # ordered by the registered `order`
    assert any(c["strategy"] == NAME and c["column"] == "Δ vs baseline" and c["n"] == 2 for c in table2["cells"])

    plot = cli("plot", "runs", "--out", "figures", cwd=tmp_path)
    assert plot.returncode == 0, plot.stderr
    assert (tmp_path / "figures" / "synth_accuracy.png").is_file()
    styles = line_styles(epoch_runs(tmp_path / "runs")[0])
    assert styles[NAME].colour == "#008080" and list(styles) == ["baseline", NAME]


def test_a_preset_names_its_plugins_relative_to_its_folder(tmp_path):
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "mine.py").write_text(COOKBOOK)
    preset = tmp_path / "mine.yaml"
    preset.write_text((PRESET_DIR / "synth.yaml").read_text() + "plugins: [strategies/mine.py]\n")
    with STRATEGIES.scoped():
        config = load_config(str(preset), [f"strategy.{NAME}.beta=0.2"], strategy__name=NAME)
        assert config.strategy.params == {"beta": 0.2}
        assert config.plugins == [str(tmp_path / "strategies" / "mine.py")]
    assert NAME not in STRATEGIES


@pytest.mark.parametrize("plugin, says", [
    ("broken.py", r"plugin '\S*/broken.py' could not be imported \(ZeroDivisionError: division by zero\)"),
    ("absent.py", r"plugin file .*absent.py does not exist"),
    ("no_such_plugin_module", r"plugin module 'no_such_plugin_module' is not installed"),
])
def test_a_plugin_that_fails_is_one_sentence_naming_it(tmp_path, monkeypatch, plugin, says):
    (tmp_path / "broken.py").write_text("1 / 0\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["--plugin", plugin, "strategies"])
    assert result.exit_code == 2
    error = " ".join(result.output.split())
    assert error.startswith("error: plugin") and "Traceback" not in error
    assert re.search(says, error), error


@pytest.mark.e2e
def test_installed_entry_points_are_loaded(tmp_path):
    """A package installed with an entry point in the group `mmdg_bench.plugins` (here: its
    dist-info on the Python path) is imported by every command."""
    (tmp_path / "my_plugin_pkg.py").write_text(COOKBOOK)
    info = tmp_path / "my_plugin_pkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin-pkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mmdg_bench.plugins]\nscaled = my_plugin_pkg\n")

    listing = cli("strategies", cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert listing.returncode == 0, listing.stderr
    assert NAME in listing.stdout


def test_scoped_registrations_vanish_and_leave_earlier_entries(tmp_path):
    before = STRATEGIES.names()
    with STRATEGIES.scoped():
        STRATEGIES.register("test-only", order=1)(type("TestOnly", (), {}))
        assert "test-only" in STRATEGIES and STRATEGIES.info("test-only") == {"order": 1}
    assert STRATEGIES.names() == before
    with pytest.raises(UserError, match="unknown strategy 'test-only'"):
        STRATEGIES.get("test-only")


def test_plugins_are_execution_settings_not_part_of_the_run_identity(tmp_path):
    (tmp_path / "mine.py").write_text(textwrap.dedent("""\
        from mmdg_bench.strategies import STRATEGIES
        """))
    assert load_config("synth", plugins=[str(tmp_path / "mine.py")]).hash("day") == load_config("synth").hash("day")


@pytest.mark.e2e
def test_plugins_reach_submitit_jobs(tmp_path):
    """A submitit job (its `local` cluster: separate processes, as on Slurm) imports the plugin the
    sweep was planned with before it resolves the run's config."""
    pytest.importorskip("submitit")
    from mmdg_bench.sweep.launchers import launch_submitit
    from mmdg_bench.sweep.plan import plan_sweep

    (tmp_path / "my_strategy.py").write_text(COOKBOOK)
    with STRATEGIES.scoped():  # a plugin module is imported once per process: keep the scope while it is used
        plan = plan_sweep("synth", NAME, "day", "0", [*TINY, "optim.epochs=1"], tmp_path / "runs",
                          plugins=[str(tmp_path / "my_strategy.py")])
        outcomes = launch_submitit(plan, "local", {"timeout_min": 10}, lambda spec, outcome: None)
        assert outcomes == {"done": 1}
        assert (plan[0].folder() / "done").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("block, registry, overrides", [
    ("my_encoder.py", "ENCODERS", ["model.encoders.audio={name: pooled-mlp, hidden: 64}"]),
    ("my_dataset.py", "DATASETS", ["data.dataset=synth-day-night"]),
])
def test_the_cookbook_encoder_and_dataset_train(tmp_path, tiny_config, block, registry, overrides):
    from mmdg_bench.data import DATASETS
    from mmdg_bench.engine import train_run
    from mmdg_bench.models import ENCODERS

    registries = {"ENCODERS": ENCODERS, "DATASETS": DATASETS}
    code = python_block(block)
    (tmp_path / block).write_text(code)
    with registries[registry].scoped():
        result = train_run(tiny_config("optim.epochs=1", *overrides, plugins=[str(tmp_path / block)]), "day", tmp_path)
    assert registered_name(code, registry) not in registries[registry]
    assert result.summary["config"]["plugins"] == [str(tmp_path / block)]
    if registry == "DATASETS":
        assert result.summary["source_domains"] == ["night"]


@pytest.mark.parametrize("code, says", [
    ("import sys\nsys.exit(3)\n", r"plugin '.*exits\.py' could not be imported \(SystemExit: 3\)"),
    ("from mmdg_bench.strategies import STRATEGIES\nSTRATEGIES.register('x', order='first')(object)\n",
     r"TypeError: the fact 'order' must be int, got 'first'"),
    ("from mmdg_bench.strategies import STRATEGIES\nSTRATEGIES.register('gmp')(object)\n",
     r"ValueError: strategy 'gmp' is already registered; register yours under another name, or with replace=True"),
    ("from mmdg_bench.strategies import STRATEGIES\nSTRATEGIES.register('mine/v2')(object)\n",
     r"strategy name 'mine/v2' must be letters, digits"),
])
def test_a_plugins_mistake_at_import_is_one_sentence(tmp_path, monkeypatch, code, says):
    plugin = tmp_path / "exits.py"
    plugin.write_text(code)
    with STRATEGIES.scoped():
        result = CliRunner().invoke(app, ["--plugin", str(plugin), "strategies"])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert re.search(says, " ".join(result.stderr.split())), result.stderr


@pytest.mark.slow
def test_an_error_raised_in_a_plugins_strategy_is_the_plugins(tmp_path):
    """Not "a bug in mmdg-bench": the sentence names the plugin's file, function and line; exit 2."""
    plugin = tmp_path / "faulty.py"
    plugin.write_text(textwrap.dedent("""\
        from mmdg_bench.strategies import STRATEGIES, Strategy


        @STRATEGIES.register("faulty")
        class Faulty(Strategy):
            description = "raises in its first step"

            def backward(self, step):
                raise KeyError("the plugin's own mistake")
        """))
    with STRATEGIES.scoped():
        result = CliRunner().invoke(app, ["--plugin", str(plugin), "run", "--strategy", "faulty", "--target", "day",
                                          "--out", str(tmp_path / "runs"), *SET])
    message = " ".join(result.stderr.split())
    assert result.exit_code == 2, result.output
    assert f"the plugin {plugin} raised KeyError" in message and "(in backward, line 9)" in message
    assert "bug in mmdg-bench" not in message and list((tmp_path / "runs").glob("*/crash-*.txt"))
