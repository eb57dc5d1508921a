"""The `mmdg-bench` command line: this file builds the app and registers every command; each command
group is a module of its own (torchtune's `_cli/` habit) that parses, calls the function of the same
name in `mmdg_bench.api`, and prints with Rich. No command module imports this file.

    mmdg-bench run --strategy baseline            # all leave-one-domain-out splits of synth
    mmdg-bench compare results/runs --format md
    mmdg-bench strategies | presets | presets show synth | data synth --out DIR
"""

import re
import sys

import typer
from rich.markup import escape
from typer._click import exceptions as click_errors  # typer 0.29 vendors click: its own exception classes
from typer.core import TyperGroup
from typer.exceptions import Abort  # not in the vendored click

from mmdg_bench.cli import bench, catalogue, data, evaluate, features, report, results, runs, sweep, weights
from mmdg_bench.cli.common import PLUGINS, command_group, errors, report_bug, show_help_without_a_command, user_errors

NOT_ONE_OF = re.compile(r"Invalid value for '(?P<option>[^']+)': (?:Value error, )?'(?P<value>[^']*)' is not one "
                        r"of (?P<choices>.+?)\.?$")


def plain_words(message: str) -> str:
    """Click's and typer's wording in ours: "Invalid value for '--format': Value error, 'x' is not one of
    'a', 'b'." reads "--format must be one of a, b, got 'x'"."""
    match = NOT_ONE_OF.match(message)
    if match:
        choices = match["choices"].replace("'", "")
        return f"{match['option']} must be one of {choices}, got '{match['value']}'"
    return message.replace("Value error, ", "")


class OneLineUsageErrors(TyperGroup):
    """Click's own usage errors (an unknown option, a value outside its choices, a missing argument)
    end like ours: one "error:" line on stderr and exit code 2, not click's three-line usage block."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_errors.ClickException as err:
            hint = f" (see `{err.ctx.command_path} --help`)" if getattr(err, "ctx", None) is not None else ""
            errors.print(f"[bold red]error:[/] {escape(plain_words(err.format_message()))}{hint}", highlight=False,
                         soft_wrap=True)
            sys.exit(err.exit_code)
        except Abort:
            sys.exit(130)
        except Exception as err:  # outside every command's boundary (typer itself): still ours, still one line
            sys.exit(report_bug(err))
        sys.exit(code if isinstance(code, int) else 0)


app = command_group("Multimodal domain generalisation benchmark: train under gradient strategies, "
                    "compare on held-out domains.", invoke_without_command=True, pretty_exceptions_enable=False,
                    cls=OneLineUsageErrors)


@app.callback()
@user_errors
def main_options(
    ctx: typer.Context,
    plugin: list[str] = typer.Option(None, "--plugin", metavar="PATH_OR_MODULE",
                                     help="Import a module (a .py path or a module name) that registers strategies, "
                                          "methods, encoders, datasets or loggers; repeatable."),
):
    from mmdg_bench.plugins import load_plugins, resolve_plugin

    PLUGINS[:] = [resolve_plugin(p) for p in plugin or []]
    load_plugins(PLUGINS)
    show_help_without_a_command(ctx)


# In the order `mmdg-bench --help` lists them.
app.add_typer(catalogue.presets_app, name="presets")
app.add_typer(data.app, name="data")
app.add_typer(sweep.app, name="sweep")
app.command()(runs.run)
app.command()(results.compare)
app.command()(results.plot)
app.command()(report.report)
app.command()(catalogue.strategies)
app.command()(catalogue.methods)
app.command()(bench.bench)
app.command()(evaluate.evaluate)
app.add_typer(weights.app, name="weights")
app.add_typer(features.app, name="features")


def main():
    app()
