"""What every command module shares: the consoles, the error boundary (a user's mistake is one
sentence and exit code 2; anything unexpected is one sentence calling it a bug, a crash report and
exit code 70), the options several commands take, and small printing helpers. The command modules
import this; nothing here imports them."""

import functools
import os
import shlex
import sys
import time
import traceback
import warnings
from contextlib import contextmanager
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer._click.exceptions import ClickException
from typer.exceptions import Abort, Exit

import mmdg_bench
from mmdg_bench.errors import UserError, UserNotice, path_error
from mmdg_bench.files import cache_dir, write_text_atomically
from mmdg_bench.plugins import plugin_files


class PipedConsole(Console):
    """A Rich console whose reader may leave (`mmdg-bench compare | head`): then the command's error
    boundary ends it quietly and successfully (Rich's own answer is exit code 1)."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


console = PipedConsole(soft_wrap=True)
errors = PipedConsole(stderr=True)
PLUGINS: list[str] = []  # this invocation's --plugin modules (absolute paths), for the commands that load configs
BUG = 70  # EX_SOFTWARE (sysexits.h): an internal error, not the user's


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
    """Every warning prints as one "warning:" line, as it comes (once per message and place): ours as
    they are, a library's with its category (Python's own form adds a file, a line and source code
    that a user cannot act on)."""
    with warnings.catch_warnings():
        def show(message, category, *rest):
            warning(str(message) if issubclass(category, UserNotice) else f"{category.__name__}: {message}")

        warnings.showwarning = show
        warnings.simplefilter("default", UserNotice)
        yield


def crash_report(err: BaseException) -> Path:
    """The traceback, the command line and the versions, written where the user will look: into the
    run folder the error came from (the engine names it, `run_folder`), else under the cache folder."""
    folder = Path(getattr(err, "run_folder", "") or cache_dir() / "crashes")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"crash-{stamp}-{os.getpid()}.txt"
    text = (f"command: {' '.join(map(shlex.quote, sys.argv))}\nmmdg-bench {mmdg_bench.__version__}, "
            f"Python {sys.version.split()[0]}\n\n" + "".join(traceback.format_exception(err)))
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, text)
    return path


def plugin_frame(err: BaseException) -> traceback.FrameSummary | None:
    """The innermost frame of the traceback that stands in a plugin's code, if any."""
    files = plugin_files()
    return next((f for f in reversed(traceback.extract_tb(err.__traceback__)) if f.filename in files), None)


def report_bug(err: BaseException) -> int:
    """One sentence for an unexpected error, naming its crash report: a plugin's (raised in its code: the
    user's mistake, exit 2), else ours (a bug, exit 70). Returns the exit code."""
    reason = str(err).splitlines()[0] if str(err) else ""
    what = f"{type(err).__name__}: {reason}" if reason else type(err).__name__
    try:
        where = f"the traceback is in {crash_report(err)}"
    except OSError as unwritable:  # no crash report on a full or read-only disk: the traceback then
        traceback.print_exception(err)
        where = f"the traceback is above (no crash report could be written: {unwritable.strerror})"
    frame = plugin_frame(err)
    if frame is not None:
        sentence = (f"the plugin {frame.filename} raised {what} (in {frame.name}, line {frame.lineno}); "
                    f"{where}; fix the plugin or leave it out")
        errors.print(f"[bold red]error:[/] {escape(sentence)}", highlight=False, soft_wrap=True)
        return 2
    errors.print(f"[bold red]error:[/] {escape(what)} - an unexpected error, a bug in mmdg-bench, not a mistake of "
                 f"yours; {escape(where)}; please report it with the command", highlight=False, soft_wrap=True)
    return BUG


def silence_stdout() -> None:
    """The reader of our output has gone (`| head`): further writes, at exit included, go nowhere."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def user_errors(command):
    """The error boundary of a command: a user's mistake ends in one sentence and exit code 2 (an
    OSError on a path the user gave included); anything unexpected in one sentence saying it is a
    bug, a crash report and exit code 70; a closed pipe quietly; Ctrl-C in a short note and 130.
    Notices print as lines (`notices_as_lines`)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            with notices_as_lines():
                return command(*args, **kwargs)
        except (Exit, Abort, ClickException):
            raise
        except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
            silence_stdout()
            raise typer.Exit(0) from None
        except (UserError, OSError) as err:
            sentence = str(err if isinstance(err, UserError) else path_error(err))
            errors.print(f"[bold red]error:[/] {escape(sentence)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            errors.print("[yellow]interrupted:[/] nothing unfinished was marked done; the same command "
                         "resumes where it stopped", highlight=False)
            raise typer.Exit(130) from None
        except SystemExit as err:  # sys.exit in a plugin's code is the plugin's error; ours pass through
            if plugin_frame(err) is None:
                raise
            raise typer.Exit(report_bug(err)) from None
        except Exception as err:
            raise typer.Exit(report_bug(err)) from None

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
RESULTS_DIR = typer.Argument(Path("results/runs"), help="Folder of run folders.")


class Selection(str, Enum):
    best_val = "best-val"
    last = "last"
    oracle = "oracle"


SELECTION = typer.Option(Selection.best_val, help="Model selection rule (oracle peeks at target labels).")
AGAINST = typer.Option(None, help="Strategy the Δ column and paired tests compare against [default: baseline].")
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
