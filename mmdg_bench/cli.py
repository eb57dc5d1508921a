"""The `mmdg-bench` command line: thin, one function call per command, printed with Rich.

    mmdg-bench run --strategy baseline            # all leave-one-domain-out splits of synth
    mmdg-bench compare results/runs --format md
    mmdg-bench strategies | presets | presets show synth | data synth --out DIR
"""

import functools
import shlex
import sys
import warnings
from contextlib import contextmanager
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer._click import exceptions as click_errors  # typer 0.29 vendors click: its own exception classes
from typer.core import TyperGroup

from mmdg_bench.errors import UserError, UserNotice, path_error


def command_group(help: str, **settings) -> typer.Typer:
    """A Typer app with conventional, plain help (no type labels such as <bool> beside the flags)."""
    return typer.Typer(help=help, rich_markup_mode=None, add_completion=False, **settings)


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
            errors.print(f"[bold red]error:[/] {escape(err.format_message())}{hint}", highlight=False,
                         soft_wrap=True)
            sys.exit(err.exit_code)
        except click_errors.Abort:
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


app = command_group("Multimodal domain generalisation benchmark: train under gradient strategies, "
                    "compare on held-out domains.", invoke_without_command=True, pretty_exceptions_enable=False,
                    cls=OneLineUsageErrors)
presets_app = command_group("List the presets, show, copy or validate one.", invoke_without_command=True)
data_app = command_group("Datasets: generate, download, index and verify.", invoke_without_command=True)
app.add_typer(presets_app, name="presets")
sweep_app = command_group("Run a grid of strategies × held-out domains × seeds; `sweep status` shows progress.",
                          invoke_without_command=True)
app.add_typer(data_app, name="data")
app.add_typer(sweep_app, name="sweep")
console = Console(soft_wrap=True)
errors = Console(stderr=True)


def show_help_without_a_command(ctx: typer.Context):
    # A bare `mmdg-bench` (or `mmdg-bench data`) prints its help and exits 0, as `--help` does.
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


data_app.callback()(show_help_without_a_command)


def quoted(path) -> str:
    """A path as it can be pasted into a shell command."""
    return shlex.quote(str(path))


@contextmanager
def notices_as_lines():
    """UserNotice warnings print as one "warning:" line each, as they come (once per message); other
    warnings as Python prints them."""
    with warnings.catch_warnings():
        show_other = warnings.showwarning

        def show(message, category, *rest):
            if not issubclass(category, UserNotice):
                return show_other(message, category, *rest)
            errors.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False, soft_wrap=True)

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


PLUGINS: list[str] = []  # this invocation's --plugin modules (absolute paths), for the commands that load configs


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


def not_a_file(folder: Path, option: str) -> Path:
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{option} {folder} is a file, not a folder; choose a folder")
    return folder


@contextmanager
def counting_bar(description: str):
    """A transient progress bar; yields `report(done, total)` to move it."""
    from rich.progress import Progress

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


# Options shared by several commands.
PRESET = typer.Option("synth", metavar="NAME|PATH", help="Preset name (see `mmdg-bench presets`) or a YAML path.")
DATA_ROOT = typer.Option(None, metavar="PATH", help="Dataset folder; default: the preset's (synth: its cache).")
OVERRIDES = typer.Option(None, "--set", metavar="KEY=VALUE", help="Override a setting, e.g. optim.lr=3e-4 (repeatable).")
MODALITIES = "MODALITY"
LOGGER = typer.Option(None, "--logger", metavar="NAME",
                      help="Experiment tracker: csv, tensorboard, mlflow or wandb (repeatable).")


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
    strategy: str = typer.Option(None, metavar="NAME", help="Gradient strategy; default: the preset's."),
    method: str = typer.Option(None, metavar="NAME", help="MMDG method (erm, rna-net, simmmdg, ...); default: the "
                                                          "preset's (erm)."),
    target: list[str] = typer.Option(None, metavar="DOMAIN",
                                     help="Held-out domain; repeat for several; default: every domain."),
    seed: int = typer.Option(None, metavar="N", help="Seed; default: the preset's."),
    set_: list[str] = OVERRIDES,
    data_root: Path = DATA_ROOT,
    out: Path = typer.Option(Path("results/runs"), metavar="DIR", help="Where run folders are written."),
    force: bool = typer.Option(False, "--force", help="Retrain even when a finished run folder exists."),
    logger: list[str] = LOGGER,
):
    """Train leave-one-domain-out runs and print their accuracies."""
    from mmdg_bench.config import load_config
    from mmdg_bench.data import load_index
    from mmdg_bench.data.synthetic import MANIFEST, cached_root
    from mmdg_bench.engine import train_run
    from mmdg_bench.models.weights import check_weights_present
    from mmdg_bench.progress import RichProgress

    not_a_file(out, "--out")
    config = load_config(preset, set_ or [], plugins=PLUGINS, strategy__name=strategy, method__name=method, seed=seed,
                         data__root=str(data_root) if data_root else None, loggers=logger or None)
    check_weights_present(config.model, config.data.modalities)  # before the data index is read
    if config.data.dataset == "synth" and config.data.root is None \
            and not (cached_root(config.data.synth) / MANIFEST).is_file():
        with console.status(f"generating the synthetic dataset into {cached_root(config.data.synth)}"):
            index = load_index(config.data)
    else:
        index = load_index(config.data)
    targets = list(dict.fromkeys(index.check_domain(t) for t in target)) if target else index.domains
    results = []
    with RichProgress(console) as progress:
        for held_out in targets:
            results.append(train_run(config, held_out, out, progress=progress, force=force))
    console.print(runs_table(results))
    console.print(f"run folders are in {out}; compare them with `mmdg-bench compare {quoted(out)}`", highlight=False)
    for r in results:
        if r.summary["skipped_clips"]:
            console.print(f"[yellow]{r.summary['target_domain']}: skipped {len(r.summary['skipped_clips'])} "
                          f"unreadable clip(s)[/], e.g. {r.summary['skipped_clips'][0]}", highlight=False)
    reused = sum(r.reused for r in results)
    if reused:
        console.print(f"{reused} run(s) were already finished and were not retrained (use --force to redo).")


def runs_table(results) -> Table:
    """`run`'s closing table, one row per held-out domain. The strategy and seed, the same for every
    run of one `run`, go in the title, so the table fits an 80-column terminal."""
    from rich.text import Text

    first = results[0].summary
    modalities = first["modalities"]
    table = Table(title=Text(f"{first['strategy']}, seed {first['seed']}: accuracy (%) at the best "
                             f"source-validation epoch"))
    for column in ["target", "epoch", "val fused", "target fused", *[f"target {m}" for m in modalities], "wall s"]:
        table.add_column(column, justify="left" if column == "target" else "right", overflow="fold")
    for r in results:
        s = r.summary
        chosen = s["selection"]["best-val"]
        table.add_row(Text(s["target_domain"]), str(chosen["epoch"]),
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
    robustness: bool = typer.Option(False, "--robustness", help="Accuracy under the test-time conditions "
                                                              "`mmdg-bench evaluate` recorded, instead."),
):
    """Leaderboards from run folders: strategies × held-out domains, mean ± std over seeds, paired tests."""
    from mmdg_bench.results.collect import collect_runs, planned_runs
    from mmdg_bench.results.render import print_report, render_report, report_notes
    from mmdg_bench.results.tables import compare_report


    if robustness:
        from mmdg_bench.results.robustness import collect_robustness, robustness_report

        report = robustness_report(collect_robustness(results_dir), selection.value, against)
    else:
        runs, damaged = collect_runs(results_dir)
        for run in damaged:
            errors.print(f"[yellow]warning:[/] {escape(run.note)}", highlight=False, soft_wrap=True)
        report = compare_report(runs, selection.value, against, reference and reference.value, damaged,
                                planned_runs(results_dir))
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
        written, damaged = plot_results(results_dir, out)
    for message in [*(str(w.message) for w in caught), *(run.note for run in damaged)]:
        errors.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)
    for path in written:
        console.print(str(path), highlight=False)
    console.print(f"wrote {len(written) // 2} figures (PNG and PDF) to {out}", highlight=False)


def registry_table(registry, title: str) -> Table:
    """The entries of a registry in their display order: name, the paper's row (or extra), description."""
    table = Table(title=title)
    for column in ("name", "paper row", "what it does"):
        table.add_column(column, overflow="fold")
    names = sorted(registry.names(), key=lambda n: (registry.info(n).get("order", 1000), n))
    for name in names:
        info = registry.info(name)
        row = "extra, not in the paper" if info.get("block") == "extra" else info.get("paper_row") or "–"
        table.add_row(name, row, registry.get(name).description)
    return table


@app.command()
def strategies():
    """List the registered gradient strategies."""
    from mmdg_bench.strategies import STRATEGIES

    console.print(registry_table(STRATEGIES, "Strategies"))


@app.command()
def methods():
    """List the registered MMDG methods (combine one with any strategy: run --method NAME)."""
    from mmdg_bench.methods import METHODS

    console.print(registry_table(METHODS, "Methods"))


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
def presets_show(name: str = typer.Argument(..., metavar="NAME")):
    """Print one preset, with its comments."""
    from mmdg_bench.config import preset_path

    sys.stdout.write(preset_path(name).read_text())


@presets_app.command("copy")
@user_errors
def presets_copy(
    name: str = typer.Argument(..., metavar="NAME"),
    path: Path = typer.Argument(..., metavar="PATH", help="The new YAML file (or a folder to put NAME.yaml in)."),
    force: bool = typer.Option(False, "--force", help="Overwrite PATH if it exists."),
):
    """Write a preset, with its comments, as the starting point of your own."""
    from mmdg_bench.config import copy_preset

    written = copy_preset(name, path, overwrite=force)
    console.print(f"wrote {written}; check it with `mmdg-bench presets validate {quoted(written)}`, "
                  f"train with `mmdg-bench run --preset {quoted(written)}`", highlight=False)


@presets_app.command("validate")
@user_errors
def presets_validate(
    file: str = typer.Argument(..., metavar="FILE", help="A preset YAML file (or a shipped preset's name)."),
    set_: list[str] = OVERRIDES,
):
    """Load a preset (plus overrides) and check every setting, without training."""
    from mmdg_bench.config import load_config, preset_path

    config = load_config(file, set_ or [])
    console.print(f"OK: {preset_path(file)} is a valid preset ({config.data.dataset}, {config.strategy.name}, "
                  f"{config.optim.epochs} epochs)", highlight=False)


@data_app.command("synth")
@user_errors
def data_synth(
    out: Path = typer.Option(None, metavar="DIR", help="Target folder; default: the cache folder that runs use."),
    seed: int = typer.Option(None, metavar="N", help="Generation seed; default: the preset's."),
    preset: str = typer.Option("synth", metavar="NAME|PATH", help="Preset whose data.synth settings to use."),
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
    with counting_bar(f"generating the synthetic dataset into {out}") as report:
        generate(cfg, out, report)
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
    modalities: list[str] = typer.Option(None, metavar=MODALITIES,
                                         help="Modalities to check for missing files (repeatable); default: the preset's."),
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
    modalities: list[str] = typer.Option(None, metavar=MODALITIES, help="Modalities to decode (repeatable); "
                                                                        "default: the preset's."),
    sample: int = typer.Option(None, metavar="N", help="Check a random sample of N clips instead of all."),
    seed: int = typer.Option(0, metavar="N", help="Seed of the sample."),
    set_: list[str] = OVERRIDES,
):
    """Check that every referenced file exists and decodes; exit 1 when any is missing or corrupt."""
    from mmdg_bench.data import verify

    config = data_config_for(preset, data_root, modalities, set_)
    with counting_bar("decoding") as progress:
        report = verify(config, sample=sample, seed=seed, progress=progress)
    console.print(f"checked {report.clips} of {report.total} clips ({', '.join(report.modalities)}): "
                  f"{len(report.missing)} missing, {len(report.corrupt)} corrupt file(s)")
    for frame, what in ((report.missing, "missing"), (report.corrupt, "corrupt")):
        if not frame.empty:
            console.print(frame_table(frame, f"{what} (first 20)", limit=20))
    if not report.ok:
        raise typer.Exit(1)


@data_app.command("extract-audio")
@user_errors
def data_extract_audio(
    data_root: Path = typer.Option(..., help="EPIC-Kitchens root holding videos/{train,test}/D1/P08_01.MP4."),
):
    """Make EPIC-Kitchens' per-video 16 kHz mono wavs from the raw videos; a rerun skips the finished ones."""
    from rich.progress import Progress

    from mmdg_bench.data.extract_audio import extract_audio

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("extracting audio", total=None)
        report = extract_audio(data_root, progress=lambda done, total, video: bar.update(
            task, completed=done, total=total, description=f"extracting audio: {video.name}"))
    console.print(f"wrote {len(report.written)} wav file(s) under {data_root / 'rgb'}; "
                  f"{len(report.skipped)} were already there")


@data_app.command("download")
@user_errors
def data_download(
    dataset: str = typer.Option(..., help="hac or epic_kitchens."),
    root: Path = typer.Option(..., metavar="PATH", help="Folder to fill with the dataset layout (created if missing)."),
    modalities: list[str] = typer.Option(None, metavar=MODALITIES, help="video, audio, flow (epic_kitchens also raw_video); repeat for "
                                                    "several; default: video audio."),
):
    """Download a real dataset, verify its md5s and arrange the layout the indexes read; a rerun resumes."""
    from mmdg_bench.data.download import download

    download(dataset, root, modalities or None, console=console)
    console.print(f"{dataset} is in {root}; the archives kept in {root / '.downloads'} may be deleted")


class Launcher(str, Enum):
    local = "local"
    submitit = "submitit"


class Cluster(str, Enum):
    slurm = "slurm"
    local = "local"
    debug = "debug"


SWEEP_REPORT = {  # outcome of a run -> (colour, what the line says)
    "done": ("green", "done"),
    "failed": ("red", "failed"),
    "busy": ("yellow", "running elsewhere: another process trains it; the sweep comes back to it at the end"),
    "skipped": ("green", "finished by another process"),
}


def report_run(spec, outcome: str) -> None:
    """One line per run a sweep finishes; a failure with its reason and the file that has the rest."""
    from mmdg_bench.sweep.execute import error_file

    colour, what = SWEEP_REPORT[outcome]
    line = f"[{colour}]{what}[/] {escape(spec.label)}"
    if outcome == "failed":
        error = error_file(spec)
        reason = error.read_text().splitlines()[0] if error.is_file() else "unknown reason"
        line += f": {escape(reason)} (details in {escape(quoted(error))})"
    console.print(line, highlight=False)


@sweep_app.callback()
@user_errors
def sweep(
    ctx: typer.Context,
    preset: str = PRESET,
    strategies: str = typer.Option("baseline,ogm-ge,grad-blending,pcgrad,gmp", metavar="A,B,...|all",
                                   help="Comma-separated, or all."),
    methods: str = typer.Option("erm", metavar="A,B,...|all", help="MMDG methods, comma-separated, or all."),
    targets: str = typer.Option("all", metavar="A,B,...|all", help="Comma-separated held-out domains, or all."),
    seeds: str = typer.Option("0-2", metavar="SEEDS", help="Trial seeds: 0-4, or 0,2,5."),
    set_: list[str] = OVERRIDES,
    out: Path = typer.Option(Path("results/runs"), metavar="DIR", help="Where run folders are written."),
    launcher: Launcher = typer.Option(Launcher.local, help="local (this machine) or submitit (Slurm job arrays)."),
    jobs: int = typer.Option(1, metavar="N", help="local: runs in parallel (the cores are split between them)."),
    cluster: Cluster = typer.Option(None, help="submitit: slurm (default: auto-detect), local or debug."),
    slurm: list[str] = typer.Option(None, metavar="KEY=VALUE",
                                    help="submitit: executor parameter, e.g. slurm_partition=gpu (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and what is already done; train nothing."),
    logger: list[str] = LOGGER,
):
    """Run every (strategy, target, seed) of the grid that is not done yet; interrupted runs resume."""
    if ctx.invoked_subcommand is not None:
        return
    from mmdg_bench.sweep.launchers import launch_local, launch_submitit
    from mmdg_bench.sweep.plan import plan_sweep, save_plan
    from mmdg_bench.sweep.status import run_state

    if jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {jobs}")
    bad = next((item for item in slurm or [] if "=" not in item), None)
    if bad is not None:
        raise UserError(f"--slurm takes KEY=VALUE, e.g. slurm_partition=gpu, got '{bad}'")
    not_a_file(out, "--out")
    trackers = [f"loggers=[{','.join(logger)}]"] if logger else []
    plan = plan_sweep(preset, strategies, targets, seeds, [*(set_ or []), *trackers], out, plugins=PLUGINS,
                      methods=methods)
    states = [run_state(spec)[0] for spec in plan]
    todo = [spec for spec, state in zip(plan, states) if state != "done"]
    console.print(f"sweep of {len(plan)} runs into {out}: {len(plan) - len(todo)} done, {len(todo)} to run")
    if dry_run:
        for spec, state in zip(plan, states):
            console.print(f"  {state:<11} {spec.label}  {spec.folder().name}", highlight=False)
        return
    save_plan(plan, out)

    if launcher is Launcher.submitit:
        params = dict(item.split("=", 1) for item in slurm or [])
        outcomes = launch_submitit(todo, cluster and cluster.value, params, report_run) if todo else {}
    else:
        outcomes = launch_local(todo, jobs, report_run)
    failed = outcomes.get("failed", 0)
    elsewhere = f", {outcomes['skipped']} finished by another process" if outcomes.get("skipped") else ""
    console.print(f"finished: {outcomes.get('done', 0)} trained, {failed} failed{elsewhere}; "
                  f"`mmdg-bench sweep status --out {quoted(out)}` lists them, "
                  f"`mmdg-bench compare {quoted(out)}` compares them", highlight=False)
    if failed:
        raise typer.Exit(1)


@sweep_app.command("status")
@user_errors
def sweep_status_command(
    out: Path = typer.Option(Path("results/runs"), metavar="DIR", help="The sweep's folder (its --out)."),
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
    backbones = "backbones"  # minutes on a CPU: only when asked for
    step = "step"  # a paper preset's training step per strategy (--preset, --batch): only when asked for
    grid = "grid"  # the paper grid's wall time from measured rates: only when asked for
    cached_sweep = "cached-sweep"  # a paper-sized sweep from a feature cache, timed: only when asked for


@app.command()
@user_errors
def bench(
    part: list[BenchPart] = typer.Option(None, "--part", metavar="pipeline|strategies|data|compare|backbones|step|grid|cached-sweep",
                                         help="What to time (repeatable); default: all but backbones, step, grid, "
                                              "cached-sweep."),
    repeats: int = typer.Option(3, help="Repetitions of each pipeline timing (and of step/grid's steps); the median is reported."),
    step_repeats: int = typer.Option(20, help="Training steps timed per strategy; the median is reported."),
    preset: str = typer.Option("hac_paper", metavar="NAME|PATH",
                               help="step: the preset whose input size is timed; cached-sweep: the preset swept."),
    batch: int = typer.Option(1, metavar="N", help="step, grid: clips per timed step (CPU: 1-2)."),
    seeds: str = typer.Option("0-2", help="cached-sweep: the sweep's seeds (the goal: 0-2)."),
    jobs: int = typer.Option(0, metavar="N", help="cached-sweep: runs in parallel; 0: one per CPU."),
    set_: list[str] = typer.Option(None, "--set", metavar="KEY=VALUE",
                                   help="step, grid, cached-sweep: a setting of the timed runs, e.g. "
                                        "precision=bf16 or optim.epochs=2 (repeatable)."),
):
    """Speed figures: the pipeline on synth, and each strategy's training step against baseline."""
    parts = set(part or set(BenchPart) - {BenchPart.backbones, BenchPart.step, BenchPart.grid, BenchPart.cached_sweep})
    if BenchPart.pipeline in parts:
        from mmdg_bench.bench import bench_pipeline

        bench_pipeline(console, repeats)
    if BenchPart.strategies in parts:
        from mmdg_bench.strategy_bench import bench_strategies

        bench_strategies(console, step_repeats)
    if BenchPart.data in parts:
        from mmdg_bench.data_bench import bench_data, bench_paper_layouts

        for workers in (0, 2):
            bench_data(console, workers=workers, repeats=repeats)
        bench_paper_layouts(console, repeats=repeats)
    if BenchPart.compare in parts:
        from mmdg_bench.results.bench_compare import bench_compare

        for what, seconds in bench_compare(1000, repeats).items():
            console.print(f"compare over 1,000 run folders ({what}, median of {repeats}): {seconds:.2f} s (goal <= 5)")
    if BenchPart.backbones in parts:
        from mmdg_bench.backbone_bench import bench_backbones

        bench_backbones(console, repeats)
    if BenchPart.step in parts:
        from mmdg_bench.step_bench import bench_step

        bench_step(console, preset, batch, repeats, overrides=set_ or [])
    if BenchPart.grid in parts:
        from mmdg_bench.step_bench import bench_grid

        bench_grid(console, batch, repeats, overrides=set_ or [])
    if BenchPart.cached_sweep in parts:
        from mmdg_bench.cached_sweep_bench import bench_cached_sweep

        if jobs < 0:
            raise UserError(f"--jobs must be 0 (one per CPU) or more, got {jobs}")
        bench_cached_sweep(console, preset, seeds, jobs, overrides=set_ or [])


from mmdg_bench.weights_cli import weights_app  # noqa: E402  (it uses user_errors and the consoles above)
from mmdg_bench.evaluate_cli import evaluate  # noqa: E402, F401  (registers `mmdg-bench evaluate`)
from mmdg_bench.features_cli import features_app  # noqa: E402

app.add_typer(weights_app, name="weights")
app.add_typer(features_app, name="features")


def main():
    app()
