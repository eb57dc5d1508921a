"""The `mmdg-bench` command line: thin, one function call per command, printed with Rich.

    mmdg-bench run --strategy baseline            # all leave-one-domain-out splits of synth
    mmdg-bench compare results/runs --format md
    mmdg-bench strategies | presets | presets show synth | data synth --out DIR
"""

import functools
import sys
import warnings
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
data_app = typer.Typer(help="Datasets: generate, download, index and verify.", no_args_is_help=True)
app.add_typer(presets_app, name="presets")
sweep_app = typer.Typer(help="Run a grid of strategies × held-out domains × seeds; `sweep status` shows progress.",
                        invoke_without_command=True)
app.add_typer(data_app, name="data")
app.add_typer(sweep_app, name="sweep")
console = Console(soft_wrap=True)
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
            errors.print("[yellow]interrupted:[/] nothing unfinished was marked done; the same command "
                         "resumes where it stopped", highlight=False)
            raise typer.Exit(130) from None

    return wrapper


# Options shared by several commands.
PRESET = typer.Option("synth", help="Preset name (see `mmdg-bench presets`) or a YAML path.")
DATA_ROOT = typer.Option(None, help="Dataset folder; default: the preset's (synth: its cache).")
OVERRIDES = typer.Option(None, "--set", help="Override a setting: key.path=value (repeatable).")


class Format(str, Enum):
    table = "table"
    md = "md"
    latex = "latex"
    csv = "csv"
    json = "json"


class Reference(str, Enum):
    paper = "paper"


class Selection(str, Enum):
    best_val = "best-val"
    last = "last"
    oracle = "oracle"


@app.command()
@user_errors
def run(
    preset: str = PRESET,
    strategy: str = typer.Option(None, help="Gradient strategy; default: the preset's."),
    target: list[str] = typer.Option(None, help="Held-out domain; repeat for several; default: every domain."),
    seed: int = typer.Option(None, help="Seed; default: the preset's."),
    set_: list[str] = OVERRIDES,
    data_root: Path = DATA_ROOT,
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
    against: str = typer.Option(None, help="Strategy the Δ column and paired tests compare against [default: baseline]."),
    reference: Reference = typer.Option(None, help="Add published rows: paper = GMP's EPIC-Kitchens/HAC averages."),
):
    """Leaderboards from run folders: strategies × held-out domains, mean ± std over seeds, paired tests."""
    from mmdg_bench.results.collect import collect
    from mmdg_bench.results.render import print_report, render_report, report_notes
    from mmdg_bench.results.tables import compare_report

    report = compare_report(collect(results_dir), selection.value, against, reference and reference.value)
    if format is Format.table:
        print_report(report, console)
        return
    sys.stdout.write(render_report(report, format.value))
    if format is Format.csv:  # a CSV file holds data only: its notes go to stderr
        for note in report_notes(report):
            errors.print(note, highlight=False, soft_wrap=True)


@app.command()
@user_errors
def plot(
    results_dir: Path = typer.Argument(Path("results/runs"), help="Folder of run folders."),
    out: Path = typer.Option(Path("results/figures"), help="Where the figures are written (PNG and PDF)."),
):
    """Figures over training per preset: accuracy, per-modality accuracy, cos(g_c, g_d), GMP's rho, sigma, k, p."""
    from mmdg_bench.results.plots import plot_results

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = plot_results(results_dir, out)
    for warning in caught:
        errors.print(f"[yellow]warning:[/] {warning.message}", highlight=False, soft_wrap=True)
    for path in written:
        console.print(str(path), highlight=False)
    console.print(f"wrote {len(written) // 2} figures (PNG and PDF) to {out}", highlight=False)


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


def frame_table(frame, title: str, limit: int | None = None) -> Table:
    """A pandas table as a Rich table (the first `limit` rows)."""
    table = Table(title=title)
    shown = frame.reset_index() if any(frame.index.names) else frame  # a plain RangeIndex is not data
    for column in shown.columns:
        table.add_column(str(column), justify="right" if shown[column].dtype.kind in "iuf" else "left")
    for row in shown.head(limit).itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    return table


def data_config_for(preset: str, data_root: Path | None, modalities: list[str] | None, overrides: list[str] | None):
    from mmdg_bench.config import load_config

    return load_config(preset, overrides or [], data__root=str(data_root) if data_root else None,
                       data__modalities=modalities or None).data


@data_app.command("index")
@user_errors
def data_index(
    preset: str = PRESET,
    data_root: Path = DATA_ROOT,
    modalities: list[str] = typer.Option(None, help="Modalities to check for missing files; default: the preset's."),
    set_: list[str] = OVERRIDES,
):
    """Clips per domain × split × class, and which referenced files are missing."""
    from mmdg_bench.data import index_report

    counts, missing = index_report(data_config_for(preset, data_root, modalities, set_))
    console.print(frame_table(counts, "Clips per domain × split × class"))
    if missing.empty:
        console.print("no referenced file is missing")
    else:
        console.print(frame_table(missing, f"{len(missing)} missing file(s) (first 20)", limit=20))


@data_app.command("verify")
@user_errors
def data_verify(
    preset: str = PRESET,
    data_root: Path = DATA_ROOT,
    modalities: list[str] = typer.Option(None, help="Modalities to decode; default: the preset's."),
    sample: int = typer.Option(None, help="Check a random sample of N clips instead of all."),
    seed: int = typer.Option(0, help="Seed of the sample."),
    set_: list[str] = OVERRIDES,
):
    """Check that every referenced file exists and decodes; exit 1 when any is missing or corrupt."""
    from rich.progress import Progress

    from mmdg_bench.data import verify

    config = data_config_for(preset, data_root, modalities, set_)
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("decoding", total=None)
        report = verify(config, sample=sample, seed=seed,
                        progress=lambda done, total: bar.update(task, completed=done, total=total))
    console.print(f"checked {report.clips} of {report.total} clips ({', '.join(report.modalities)}): "
                  f"{len(report.missing)} missing, {len(report.corrupt)} corrupt file(s)")
    for frame, what in ((report.missing, "missing"), (report.corrupt, "corrupt")):
        if not frame.empty:
            console.print(frame_table(frame, f"{what} (first 20)", limit=20))
    if not report.ok:
        raise typer.Exit(1)


@data_app.command("download")
@user_errors
def data_download(
    dataset: str = typer.Option(..., help="hac or epic_kitchens."),
    root: Path = typer.Option(..., help="Folder to fill with the dataset layout (created if missing)."),
    modalities: list[str] = typer.Option(None, help="video, audio, flow (epic_kitchens also raw_video); repeat for "
                                                    "several; default: video audio."),
):
    """Download a real dataset, verify its md5s and arrange the layout the indexes read; a rerun resumes."""
    from mmdg_bench.data.download import download

    download(dataset, root, modalities or None, console=console)
    console.print(f"{dataset} is in {root}; the archives kept in {root / '.downloads'} may be deleted")


class Launcher(str, Enum):
    local = "local"
    submitit = "submitit"


@sweep_app.callback()
@user_errors
def sweep(
    ctx: typer.Context,
    preset: str = PRESET,
    strategies: str = typer.Option("baseline,ogm-ge,grad-blending,pcgrad,gmp", help="Comma-separated, or all."),
    targets: str = typer.Option("all", help="Comma-separated held-out domains, or all."),
    seeds: str = typer.Option("0-2", help="Trial seeds: 0-4, or 0,2,5."),
    set_: list[str] = OVERRIDES,
    out: Path = typer.Option(Path("results/runs"), help="Where run folders are written."),
    launcher: Launcher = typer.Option(Launcher.local, help="local (this machine) or submitit (Slurm job arrays)."),
    jobs: int = typer.Option(1, help="local: runs in parallel (the cores are split between them)."),
    cluster: str = typer.Option(None, help="submitit: slurm (default: auto-detect), local or debug."),
    slurm: list[str] = typer.Option(None, help="submitit: executor parameter KEY=VALUE, e.g. slurm_partition=gpu."),
    dry_run: bool = typer.Option(False, help="Print the plan and what is already done; train nothing."),
):
    """Run every (strategy, target, seed) of the grid that is not done yet; interrupted runs resume."""
    if ctx.invoked_subcommand is not None:
        return
    from mmdg_bench.sweep.launchers import launch_local, launch_submitit
    from mmdg_bench.sweep.plan import plan_sweep, save_plan
    from mmdg_bench.sweep.status import run_state

    plan = plan_sweep(preset, strategies, targets, seeds, set_ or [], out)
    states = [run_state(spec)[0] for spec in plan]
    todo = [spec for spec, state in zip(plan, states) if state != "done"]
    console.print(f"sweep of {len(plan)} runs into {out}: {len(plan) - len(todo)} done, {len(todo)} to run")
    if dry_run:
        for spec, state in zip(plan, states):
            console.print(f"  {state:<11} {spec.label}  {spec.folder().name}", highlight=False)
        return
    save_plan(plan, out)

    def report(spec, outcome):
        colour = {"failed": "red", "done": "green"}.get(outcome, "white")
        console.print(f"[{colour}]{outcome:<7}[/] {spec.label}", highlight=False)

    if launcher is Launcher.submitit:
        params = dict(item.split("=", 1) for item in slurm or [])
        outcomes = launch_submitit(todo, cluster, params, report) if todo else {}
    else:
        outcomes = launch_local(todo, jobs, report)
    failed = outcomes.get("failed", 0)
    console.print(f"finished: {outcomes.get('done', 0)} trained, {failed} failed; "
                  f"`mmdg-bench sweep status --out {out}` lists them, `mmdg-bench compare {out}` compares them")
    if failed:
        raise typer.Exit(1)


@sweep_app.command("status")
@user_errors
def sweep_status_command(
    out: Path = typer.Option(Path("results/runs"), help="The sweep's folder (its --out)."),
):
    """done / running / failed / interrupted / pending for every run planned under the folder."""
    from mmdg_bench.sweep.status import STATES, sweep_status

    table = sweep_status(out)
    counts = table.state.value_counts()
    console.print(", ".join(f"{counts.get(state, 0)} {state}" for state in STATES))
    unfinished = table[table.state != "done"]
    if not unfinished.empty:
        console.print(frame_table(unfinished.set_index(["strategy", "target", "seed"]), "Unfinished runs", limit=50))


class BenchPart(str, Enum):
    pipeline = "pipeline"
    strategies = "strategies"
    compare = "compare"
    data = "data"


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
    if BenchPart.data in parts:
        from mmdg_bench.data_bench import bench_data

        for workers in (0, 2):
            bench_data(console, workers=workers, repeats=repeats)
    if BenchPart.compare in parts:
        from mmdg_bench.results.bench_compare import bench_compare

        for what, seconds in bench_compare(1000, repeats).items():
            console.print(f"compare over 1,000 run folders ({what}, median of {repeats}): {seconds:.2f} s (goal <= 5)")


def main():
    app()
