"""`mmdg-bench run`: train leave-one-domain-out runs and print their accuracies (mmdg_bench/api/runs.py
does the work).

    mmdg-bench run --strategy gmp --target toon --set optim.epochs=4
"""

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from mmdg_bench.cli.common import DATA_ROOT, LOGGER, OUT, OVERRIDES, PLUGINS, PRESET, console, quoted, user_errors


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
    out: Path = OUT,
    force: bool = typer.Option(False, "--force", help="Retrain even when a finished run folder exists."),
    logger: list[str] = LOGGER,
):
    """Train leave-one-domain-out runs and print their accuracies."""
    from mmdg_bench.api.runs import not_a_file, resolve_runs, train_runs
    from mmdg_bench.progress import run_progress

    not_a_file(out, "--out")
    config, targets = resolve_runs(preset, strategy, method, target or None, seed, set_ or [], data_root,
                                   logger or [], PLUGINS, status=console.status)
    with run_progress(console) as progress:
        results = train_runs(config, targets, out, force, progress)
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
