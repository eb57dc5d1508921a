"""The Python API: the README's notebook example runs as written, and its tables are the ones
`compare` prints."""

import contextlib
import io

import pandas as pd
import pytest

from mmdg_bench import api
from mmdg_bench.results.collect import collect_runs
from mmdg_bench.results.render import render_report
from mmdg_bench.results.tables import compare_report
from tests.conftest import TINY
from tests.readme import python_block


@pytest.mark.e2e
def test_the_readme_notebook_example_runs_and_returns_compares_tables(tmp_path):
    scope = {"TINY": TINY, "OUT": str(tmp_path / "nb"), "__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(python_block("from mmdg_bench import api"), scope)
    runs, tables, shown = scope["runs"], scope["tables"], scope["shown"]
    assert list(runs.target_domain) == ["day"] and runs.folder[0].is_dir()
    # By default numbers a notebook can compute with (the text cells "6.25 (n=1)" were all it got).
    numbers = tables["Fused target accuracy (%) (Table 2 layout)"]
    assert list(numbers.columns) == ["strategy", "column", "mean", "std", "n", "ci_low", "ci_high", "p"]
    assert numbers["mean"].dtype == float and set(numbers.strategy) == {"baseline", "gmp"}
    table2 = shown["Fused target accuracy (%) (Table 2 layout)"]
    assert isinstance(table2, pd.DataFrame) and list(table2.index) == ["baseline", "gmp"]
    assert list(table2.columns) == ["day", "night", "Avg", "Δ vs baseline"]
    gmp_avg = numbers[(numbers.strategy == "gmp") & (numbers.column == "Avg")]["mean"].iloc[0]
    assert table2.loc["gmp", "Avg"].startswith(f"{gmp_avg:.2f}")
    printed_gmp = [line.split() for line in printed.getvalue().splitlines() if line.split()[1:2] == ["gmp"]]
    assert printed_gmp and float(printed_gmp[-1][2]) == pytest.approx(gmp_avg, abs=1e-4)
    # The same text `mmdg-bench compare --format md` prints, cell for cell.
    markdown = render_report(compare_report(collect_runs(tmp_path / "nb")[0], "best-val"), "md")
    for title, table in shown.items():
        assert f"### {title}" in markdown
        for row, cells in table.iterrows():
            assert f"| {row} | " + " | ".join(cells) + " |" in markdown


@pytest.mark.slow
def test_run_returns_one_row_per_held_out_domain_and_reuses_finished_runs(tmp_path):
    first = api.run(targets=["day", "toon"], overrides=TINY, out=tmp_path)
    again = api.run(targets=["day", "toon"], overrides=TINY, out=tmp_path)
    assert list(first.target_domain) == ["day", "toon"] and not first.reused.any() and again.reused.all()
    assert (first["target/fused"] == again["target/fused"]).all()


@pytest.mark.slow
def test_sweep_reports_each_runs_outcome_and_compare_gives_the_numbers(tmp_path):
    outcomes = api.sweep(strategies=["baseline", "pcgrad"], targets="day", seeds="0-1", overrides=TINY, out=tmp_path)
    assert sorted(outcomes.outcome) == ["done"] * 4 and all(outcomes.folder.map(lambda f: f.is_dir()))
    cells = api.compare(tmp_path)["Fused target accuracy (%) (Table 2 layout)"]
    day = cells[(cells.strategy == "pcgrad") & (cells.column == "day")].iloc[0]
    assert day.n == 2


# The CLI's parameter names that the API spells otherwise (a function takes several of a repeatable option).
RENAMED = {"set_": "overrides", "target": "targets", "logger": "loggers", "part": "parts"}
# Commands whose work does not depend on what plugins register: their functions take no `plugins`.
WITHOUT_PLUGINS = {"compare", "plot", "report", "sweep_status", "presets", "presets_show", "presets_copy",
                   "data_extract_audio", "data_download", "weights_list", "weights_download", "bench"}


HELP_ONLY = {("data",), ("weights",), ("features",)}  # groups that only print their help
# Options that only say how the CLI prints what the function returns (a DataFrame).
PRINTING_ONLY = {"weights_list": {"format"}}


def cli_commands() -> dict[str, object]:
    """Every CLI command that does work, by the API name it maps to ("data index" -> "data_index")."""
    from tests.doc.test_docs import commands

    return {"_".join(path).replace("-", "_"): command for path, command in commands().items() if path not in HELP_ONLY}


def test_the_api_reaches_every_command_with_every_option():
    import inspect

    commands = cli_commands()
    assert sorted(commands) == sorted(api.__all__), "a command without a function, or a function without a command"
    for name, command in commands.items():
        accepted = inspect.signature(getattr(api, name)).parameters
        missing = [param.name for param in command.params
                   if RENAMED.get(param.name, param.name) not in accepted and param.name != "ctx"
                   and param.name not in PRINTING_ONLY.get(name, ())]
        assert not missing, f"api.{name} lacks the options {missing} of its command"
        assert ("plugins" in accepted) == (name not in WITHOUT_PLUGINS), f"api.{name} and --plugin"
