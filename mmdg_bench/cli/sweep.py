"""`mmdg-bench sweep` and `sweep status`: a grid of runs, a line per finished run or epoch
(mmdg_bench/api/sweep.py does the work).

    mmdg-bench sweep --strategies baseline,gmp --targets all --seeds 0-2 --jobs 2
    mmdg-bench sweep status --out results/runs
"""

from collections import Counter
from enum import Enum
from pathlib import Path

import typer
from rich.markup import escape

from mmdg_bench.cli.common import (
    LOGGER,
    OUT,
    OVERRIDES,
    PLUGINS,
    PRESET,
    command_group,
    console,
    frame_table,
    quoted,
    user_errors,
)
from mmdg_bench.facts import PAPER_STRATEGIES

app = command_group("Run a grid of strategies × held-out domains × seeds; `sweep status` shows progress.",
                    invoke_without_command=True)


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


@app.callback()
@user_errors
def sweep(
    ctx: typer.Context,
    preset: str = PRESET,
    strategies: str = typer.Option(",".join(PAPER_STRATEGIES), metavar="A,B,...|all", help="Comma-separated, or all."),
    methods: str = typer.Option("erm", metavar="A,B,...|all", help="MMDG methods, comma-separated, or all."),
    targets: str = typer.Option("all", metavar="A,B,...|all", help="Comma-separated held-out domains, or all."),
    seeds: str = typer.Option("0-2", metavar="SEEDS", help="Trial seeds: 0-4, or 0,2,5."),
    set_: list[str] = OVERRIDES,
    out: Path = OUT,
    launcher: Launcher = typer.Option(Launcher.local, help="local (this machine) or submitit (Slurm job arrays)."),
    jobs: int = typer.Option(1, metavar="N", help="local: runs in parallel (the cores are split between them)."),
    cluster: Cluster = typer.Option(None, help="submitit: slurm (default: auto-detect), local or debug."),
    slurm: list[str] = typer.Option(None, metavar="KEY=VALUE",
                                    help="submitit: executor parameter, e.g. slurm_partition=gpu (repeatable)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and what is already done; train nothing."),
    logger: list[str] = LOGGER,
    vary: list[str] = typer.Option(None, metavar="KEY=V1,V2,...",
                                   help="Run every value of a setting, e.g. strategy.gmp.alpha_k=0,0.5,1; repeatable: "
                                        "the grid takes every combination."),
    tune: int = typer.Option(None, metavar="K", help="Equal-budget tuning: K draws of settings per strategy and "
                                                     "method (draw 0 = the defaults), for compare --tuned."),
):
    """Run every (strategy, target, seed) of the grid that is not done yet; interrupted runs resume."""
    if ctx.invoked_subcommand is not None:
        return
    from mmdg_bench.api.sweeps import sweep as run_sweep

    def announce(plan, states) -> None:
        done = sum(state == "done" for state in states)
        console.print(f"sweep of {len(plan)} runs into {out}: {done} done, {len(plan) - done} to run")
        if dry_run:
            for spec, state in zip(plan, states):
                console.print(f"  {state:<11} {escape(spec.label)}  {spec.folder().name}", highlight=False)

    outcomes = Counter()

    def report(spec, outcome: str) -> None:
        report_run(spec, outcome)
        if outcome != "busy":  # a run busy elsewhere is tried again once the rest is done
            outcomes[outcome] += 1

    run_sweep(preset, strategies, methods, targets, seeds, set_ or [], out, launcher.value, jobs,
              cluster and cluster.value, slurm or [], dry_run, logger or [], PLUGINS, vary or [], tune, report,
              announce)
    if dry_run:
        return
    failed = outcomes.get("failed", 0)
    elsewhere = f", {outcomes['skipped']} finished by another process" if outcomes.get("skipped") else ""
    console.print(f"finished: {outcomes.get('done', 0)} trained, {failed} failed{elsewhere}; "
                  f"`mmdg-bench sweep status --out {quoted(out)}` lists them, "
                  f"`mmdg-bench compare {quoted(out)}` compares them", highlight=False)
    if failed:
        raise typer.Exit(1)


@app.command("status")
@user_errors
def sweep_status(
    out: Path = typer.Option(Path("results/runs"), metavar="DIR", help="The sweep's folder (its --out)."),
):
    """done / running / failed / interrupted / pending for every run planned under the folder."""
    from mmdg_bench.api.sweeps import sweep_status as status_table
    from mmdg_bench.sweep.status import STATES

    table = status_table(out)
    counts = table.state.value_counts()
    console.print(", ".join(f"{counts.get(state, 0)} {state}" for state in STATES))
    unfinished = table[table.state != "done"]
    if not unfinished.empty:
        console.print(frame_table(unfinished.set_index(["strategy", "target", "seed"]), "Unfinished runs", limit=50))
