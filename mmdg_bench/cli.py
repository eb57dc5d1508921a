"""The `mmdg-bench` command line: thin, one function call per command, printed with Rich.

    mmdg-bench run --strategy baseline            # all leave-one-domain-out splits of synth
    mmdg-bench compare results/runs --format md
    mmdg-bench strategies | presets | presets show synth | data synth --out DIR
"""

import functools
import sys
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from mmdg_bench.errors import UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Multimodal domain generalisation benchmark: train under gradient strategies, "
                       "compare on held-out domains.")
presets_app = typer.Typer(help="List the presets, or show one.", invoke_without_command=True)
data_app = typer.Typer(help="Datasets: generate the synthetic set.", no_args_is_help=True)
app.add_typer(presets_app, name="presets")
app.add_typer(data_app, name="data")
console = Console()
errors = Console(stderr=True)


def user_errors(command):
    """A user's mistake ends in one sentence and exit code 2; Ctrl-C in a short note and 130."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except UserError as err:
            errors.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            errors.print("[yellow]interrupted:[/] the current run folder has no 'done' marker and "
                         "will be redone next time", highlight=False)
            raise typer.Exit(130) from None

    return wrapper


class Format(str, Enum):
    table = "table"
    md = "md"
    csv = "csv"
    json = "json"


class Selection(str, Enum):
    best_val = "best-val"
    last = "last"
    oracle = "oracle"


@app.command()
@user_errors
def run(
    preset: str = typer.Option("synth", help="Preset name (see `mmdg-bench presets`) or a YAML path."),
    strategy: str = typer.Option(None, help="Gradient strategy; default: the preset's."),
    target: list[str] = typer.Option(None, help="Held-out domain; repeat for several; default: every domain."),
    seed: int = typer.Option(None, help="Seed; default: the preset's."),
    set_: list[str] = typer.Option(None, "--set", help="Override a setting: key.path=value (repeatable)."),
    data_root: Path = typer.Option(None, help="Dataset folder; default: the preset's (synth: its cache)."),
    out: Path = typer.Option(Path("results/runs"), help="Where run folders are written."),
    force: bool = typer.Option(False, help="Retrain even when a finished run folder exists."),
):
    """Train leave-one-domain-out runs and print their accuracies."""
    from mmdg_bench.config import load_config
    from mmdg_bench.data import load_index
    from mmdg_bench.data.synthetic import MANIFEST, cached_root
    from mmdg_bench.engine import train_run
    from mmdg_bench.progress import RichProgress

    config = load_config(preset, set_ or [], strategy__name=strategy, seed=seed,
                         data__root=str(data_root) if data_root else None)
    if config.data.dataset == "synth" and config.data.root is None \
            and not (cached_root(config.data.synth) / MANIFEST).is_file():
        with console.status(f"generating the synthetic dataset into {cached_root(config.data.synth)}"):
            index = load_index(config.data)
    else:
        index = load_index(config.data)
    targets = [index.check_domain(t) for t in target] if target else index.domains
    results = []
    with RichProgress(console) as progress:
        for held_out in targets:
            results.append(train_run(config, held_out, out, progress=progress, force=force))
    console.print(runs_table(results))
    console.print(f"run folders are in {out}; compare them with `mmdg-bench compare {out}`")
    for r in results:
        if r.summary["skipped_clips"]:
            console.print(f"[yellow]{r.summary['target_domain']}: skipped {len(r.summary['skipped_clips'])} "
                          f"unreadable clip(s)[/], e.g. {r.summary['skipped_clips'][0]}", highlight=False)
    reused = sum(r.reused for r in results)
    if reused:
        console.print(f"{reused} run(s) were already finished and were not retrained (use --force to redo).")


def runs_table(results) -> Table:
    modalities = results[0].summary["modalities"]
    table = Table(title="Accuracy (%) at the best source-validation epoch")
    for column in ["strategy", "target", "seed", "epoch", "fused (val)", "fused (target)",
                   *[f"{m} (target)" for m in modalities], "wall s"]:
        table.add_column(column, justify="left" if column in ("strategy", "target") else "right")
    for r in results:
        s = r.summary
        chosen = s["selection"]["best-val"]
        table.add_row(s["strategy"], s["target_domain"], str(s["seed"]), str(chosen["epoch"]),
                      f"{chosen['val']['fused']:.2f}", f"{chosen['target']['fused']:.2f}",
                      *[f"{chosen['target'][m]:.2f}" for m in modalities],
                      f"{s['wall_s']:.1f}")
    return table


@app.command()
@user_errors
def compare(
    results_dir: Path = typer.Argument(Path("results/runs"), help="Folder of run folders."),
    format: Format = typer.Option(Format.table, "--format", help="Output format."),
    selection: Selection = typer.Option(Selection.best_val, help="Model selection rule (oracle peeks at target labels)."),
):
    """Leaderboards from run folders: strategies × held-out domains, mean ± std over seeds."""
    from mmdg_bench.results.collect import collect
    from mmdg_bench.results.tables import leaderboards, to_csv, to_json, to_markdown, wide

    tables = leaderboards(collect(results_dir), selection.value)
    if format is Format.csv:
        sys.stdout.write(to_csv(tables))
    elif format is Format.json:
        sys.stdout.write(to_json(tables) + "\n")
    elif format is Format.md:
        sys.stdout.write("\n".join(to_markdown(title, cells) for title, cells in tables))
    else:
        for title, cells in tables:
            table = wide(cells)
            rich_table = Table(title=title)
            rich_table.add_column("strategy")
            for column in table.columns:
                rich_table.add_column(column, justify="right")
            for strategy, row in zip(table.index, table.values):
                rich_table.add_row(strategy, *row)
            console.print(rich_table)
        console.print("cells: mean ± std (ddof=1) over seeds, n = seeds; Avg averages each seed over "
                      "the held-out domains first.")


@app.command()
def strategies():
    """List the registered gradient strategies."""
    from mmdg_bench.strategies import STRATEGIES

    table = Table(title="Strategies")
    table.add_column("name")
    table.add_column("what it does")
    for name in STRATEGIES.names():
        table.add_row(name, STRATEGIES.get(name).description)
    console.print(table)


@presets_app.callback()
def presets(ctx: typer.Context):
    """List the presets (`presets show NAME` prints one)."""
    from mmdg_bench.config import list_presets, preset_path

    if ctx.invoked_subcommand is None:
        table = Table(title="Presets")
        table.add_column("name")
        table.add_column("what it is")
        for name in list_presets():
            first = preset_path(name).read_text().splitlines()[0].lstrip("# ")
            table.add_row(name, first)
        console.print(table)


@presets_app.command("show")
@user_errors
def presets_show(name: str):
    """Print one preset, with its comments."""
    from mmdg_bench.config import preset_path

    sys.stdout.write(preset_path(name).read_text())


@data_app.command("synth")
@user_errors
def data_synth(
    out: Path = typer.Option(None, help="Target folder; default: the cache folder that runs use."),
    seed: int = typer.Option(None, help="Generation seed; default: the preset's."),
    preset: str = typer.Option("synth", help="Preset whose data.synth settings to use."),
):
    """Generate the synthetic dataset (mp4 + wav files in the HAC layout)."""
    from mmdg_bench.config import load_config
    from mmdg_bench.data.synthetic import MANIFEST, cached_root, generate

    cfg = load_config(preset, data__synth__seed=seed).data.synth
    out = out or cached_root(cfg)
    if (out / MANIFEST).is_file():
        console.print(f"the synthetic dataset is already in {out}")
        return
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} exists and is not empty; choose an empty or new folder")
    if out.exists():
        out.rmdir()
    out.parent.mkdir(parents=True, exist_ok=True)
    with console.status(f"generating the synthetic dataset into {out}"):
        generate(cfg, out)
    console.print(f"wrote the synthetic dataset ({len(cfg.domains)} domains, {cfg.classes} classes) to {out}")


class BenchPart(str, Enum):
    pipeline = "pipeline"
    strategies = "strategies"


@app.command()
@user_errors
def bench(
    part: list[BenchPart] = typer.Option(None, "--part", help="What to time (repeatable); default: everything."),
    repeats: int = typer.Option(3, help="Repetitions of each pipeline timing; the median is reported."),
    step_repeats: int = typer.Option(20, help="Training steps timed per strategy; the median is reported."),
):
    """Speed figures: the pipeline on synth, and each strategy's training step against baseline."""
    parts = set(part or BenchPart)
    if BenchPart.pipeline in parts:
        from mmdg_bench.bench import bench_pipeline

        bench_pipeline(console, repeats)
    if BenchPart.strategies in parts:
        from mmdg_bench.strategy_bench import bench_strategies

        bench_strategies(console, step_repeats)


def main():
    app()
