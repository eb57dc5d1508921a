"""`mmdg-bench strategies`, `methods` and `presets` (list, show, copy, validate): what is registered and
shipped (mmdg_bench/api/catalogue.py lists it).

    mmdg-bench strategies
    mmdg-bench presets show hac
    mmdg-bench presets copy hac my_hac.yaml && mmdg-bench presets validate my_hac.yaml
"""

import sys
from pathlib import Path

import typer

from mmdg_bench.cli.common import OVERRIDES, PLUGINS, command_group, console, frame_table, quoted, user_errors

presets_app = command_group("List the presets, show, copy or validate one.", invoke_without_command=True)


WIDE = 160  # columns the strategies table needs before its descriptions fold into many short lines


@user_errors
def strategies():
    """List the registered gradient strategies: paper row, family, paper, step cost, what it does."""
    from mmdg_bench.api.catalogue import strategies as listing

    frame = listing()
    if console.width >= WIDE:
        console.print(frame_table(frame, "Strategies", overflow="fold"))
        return
    # Narrower (or a pipe): one block per strategy, its description whole on its own line.
    print("Strategies (cost: a training step's budget, x baseline's)")
    for row in frame.itertuples(index=False):
        print(f"\n{row.name}  ({row[1]}; family {row.family}; {row.paper}; cost {row.cost})\n  {row[-1]}")


@user_errors
def methods():
    """List the registered MMDG methods (combine one with any strategy: run --method NAME)."""
    from mmdg_bench.api.catalogue import methods as listing

    console.print(frame_table(listing(), "Methods", overflow="fold"))


@presets_app.callback()
@user_errors
def presets(ctx: typer.Context):
    """List the presets (`presets show NAME` prints one)."""
    from mmdg_bench.api.catalogue import presets as listing

    if ctx.invoked_subcommand is None:
        console.print(frame_table(listing(), "Presets"))


@presets_app.command("show")
@user_errors
def presets_show(name: str = typer.Argument(..., metavar="NAME")):
    """Print one preset, with its comments."""
    from mmdg_bench.api.catalogue import presets_show as preset_text

    sys.stdout.write(preset_text(name))


@presets_app.command("copy")
@user_errors
def presets_copy(
    name: str = typer.Argument(..., metavar="NAME"),
    path: Path = typer.Argument(..., metavar="PATH", help="The new YAML file (or a folder to put NAME.yaml in)."),
    force: bool = typer.Option(False, "--force", help="Overwrite PATH if it exists."),
):
    """Write a preset, with its comments, as the starting point of your own."""
    from mmdg_bench.api.catalogue import presets_copy as copy

    written = copy(name, path, force)
    console.print(f"wrote {written}; check it with `mmdg-bench presets validate {quoted(written)}`, "
                  f"train with `mmdg-bench run --preset {quoted(written)}`", highlight=False)


@presets_app.command("validate")
@user_errors
def presets_validate(
    file: str = typer.Argument(..., metavar="FILE", help="A preset YAML file (or a shipped preset's name)."),
    set_: list[str] = OVERRIDES,
):
    """Load a preset (plus overrides) and check every setting, without training."""
    from mmdg_bench.api.catalogue import presets_validate as validate
    from mmdg_bench.settings import preset_path

    config = validate(file, set_ or [], PLUGINS)
    console.print(f"OK: {preset_path(file)} is a valid preset ({config.data.dataset}, {config.strategy.name}, "
                  f"{config.optim.epochs} epochs)", highlight=False)
