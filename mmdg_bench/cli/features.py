"""`mmdg-bench features build|verify`: the feature cache of the `frozen` regime (mmdg_bench/api/features.py
does the work).

    mmdg-bench features build --preset hac_paper --data-root PATH --views 5 --set data.source=features \
        --set model.encoders.video.regime=frozen --set model.encoders.audio.regime=frozen
    mmdg-bench features verify --preset hac_paper --data-root PATH --views 5 --set ...   # the same settings
    mmdg-bench run --preset hac_paper --data-root PATH --set features.views=5 --set ...  # adapters and heads only
"""

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from mmdg_bench.cli.common import DATA_ROOT, OVERRIDES, PRESET, command_group, console, user_errors

app = command_group("The feature cache of the frozen regime: build it once, verify it, train from it "
                    "with data.source=features.", no_args_is_help=True)
VIEWS = typer.Option(None, "--views", metavar="K", help="Augmented views per training clip; default: the preset's "
                                                          "features.views.")


@app.command("build")
@user_errors
def features_build(preset: str = PRESET, data_root: Path = DATA_ROOT, views: int = VIEWS,
                   set_: list[str] = OVERRIDES):
    """Run the frozen backbones once over every clip and store the pooled features; a rerun resumes."""
    from mmdg_bench.api.features import features_build as build

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("views"),
               TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        tasks = {}

        def progress(modality: str, done: int, total: int) -> None:
            if modality not in tasks:
                tasks[modality] = bar.add_task(f"{modality} features", total=total)
            bar.update(tasks[modality], completed=done, total=total)

        report = build(preset, data_root, views, set_ or [], progress=progress)
    for modality, folder in report.folders.items():
        console.print(f"{modality}: {folder}", highlight=False)
    rate = f" at {report.clips_per_s:.2f} views/s" if report.views_computed else ""
    console.print(f"computed {report.views_computed} view(s){rate}, kept {report.views_kept} from an earlier build; "
                  f"train from them with --set data.source=features", highlight=False)


@app.command("verify")
@user_errors
def features_verify(preset: str = PRESET, data_root: Path = DATA_ROOT, views: int = VIEWS,
                    set_: list[str] = OVERRIDES):
    """Check each modality's cache: finished, every clip, shapes, finite, manifest = settings; exit 1 if not."""
    from mmdg_bench.api.features import features_verify as verify

    checks = verify(preset, data_root, views, set_ or [])
    for check in checks:
        verdict = "[green]ok[/]" if check.ok else f"[red]{len(check.problems)} problem(s)[/]"
        console.print(f"{check.modality}: {verdict} ({check.clips} clips) in {check.folder}", highlight=False)
        for problem in check.problems:
            console.print(f"  {problem}", highlight=False)
    if not all(check.ok for check in checks):
        raise typer.Exit(1)
