"""What every command module shares: the consoles, the error handler that turns a user's mistake into
one sentence and exit code 2, the options several commands take, and small printing helpers. The
command modules import this; nothing here imports them."""

import functools
import shlex
import warnings
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mmdg_bench.errors import UserError, UserNotice, path_error

console = Console(soft_wrap=True)
errors = Console(stderr=True)
PLUGINS: list[str] = []  # this invocation's --plugin modules (absolute paths), for the commands that load configs


def command_group(help: str, **settings) -> typer.Typer:
    """A Typer app with conventional, plain help (no type labels such as <bool> beside the flags)."""
    return typer.Typer(help=help, rich_markup_mode=None, add_completion=False, **settings)


def show_help_without_a_command(ctx: typer.Context):
    # A bare `mmdg-bench` (or `mmdg-bench data`) prints its help and exits 0, as `--help` does.
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


def quoted(path) -> str:
    """A path as it can be pasted into a shell command."""
    return shlex.quote(str(path))


def warning(message: str) -> None:
    """One "warning:" line on stderr."""
    errors.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


@contextmanager
def notices_as_lines():
    """UserNotice warnings print as one "warning:" line each, as they come (once per message); other
    warnings as Python prints them."""
    with warnings.catch_warnings():
        show_other = warnings.showwarning

        def show(message, category, *rest):
            if not issubclass(category, UserNotice):
                return show_other(message, category, *rest)
            warning(str(message))

        warnings.showwarning = show
        warnings.simplefilter("default", UserNotice)
        yield


def user_errors(command):
    """A user's mistake ends in one sentence and exit code 2 (an OSError on a path the user gave
    included); notices print as lines (`notices_as_lines`); Ctrl-C ends in a short note and 130."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            with notices_as_lines():
                return command(*args, **kwargs)
        except (UserError, OSError) as err:
            if isinstance(err, BrokenPipeError):  # output piped into e.g. `head`, which stopped reading
                raise typer.Exit(0) from None
            sentence = str(err if isinstance(err, UserError) else path_error(err))
            errors.print(f"[bold red]error:[/] {escape(sentence)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            errors.print("[yellow]interrupted:[/] nothing unfinished was marked done; the same command "
                         "resumes where it stopped", highlight=False)
            raise typer.Exit(130) from None

    return wrapper


@contextmanager
def counting_bar(description: str):
    """A transient progress bar; yields `report(done, total)` to move it."""
    from rich.progress import Progress

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def frame_table(frame, title: str, limit: int | None = None, overflow: str = "ellipsis") -> Table:
    """A pandas table as a Rich table (the first `limit` rows)."""
    table = Table(title=title)
    shown = frame.reset_index() if any(frame.index.names) else frame  # a plain RangeIndex is not data
    for column in shown.columns:
        table.add_column(str(column), justify="right" if shown[column].dtype.kind in "iuf" else "left",
                         overflow=overflow)
    for row in shown.head(limit).itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    return table


# Options shared by several commands.
PRESET = typer.Option("synth", metavar="NAME|PATH", help="Preset name (see `mmdg-bench presets`) or a YAML path.")
DATA_ROOT = typer.Option(None, metavar="PATH", help="Dataset folder; default: the preset's (synth: its cache).")
OVERRIDES = typer.Option(None, "--set", metavar="KEY=VALUE",
                         help="Override a setting, e.g. optim.lr=3e-4 (repeatable).")
MODALITIES = "MODALITY"


def modalities_option(what: str):
    """`--modalities`, repeatable, defaulting to the preset's: `what` says what is done with them."""
    return typer.Option(None, metavar=MODALITIES, help=f"Modalities {what} (repeatable); default: the preset's.")


LOGGER = typer.Option(None, "--logger", metavar="NAME",
                      help="Experiment tracker: csv, tensorboard, mlflow or wandb (repeatable).")
OUT = typer.Option(Path("results/runs"), metavar="DIR", help="Where run folders are written.")
