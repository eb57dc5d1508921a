"""`mmdg-bench bench`: speed figures (mmdg_bench/bench/ times them; docs/speed.md records them).

    mmdg-bench bench --part strategies --step-repeats 20
    mmdg-bench bench --part step --preset hac_paper --batch 1
"""

from enum import Enum

import typer

from mmdg_bench.cli.common import console, user_errors


class BenchPart(str, Enum):
    pipeline = "pipeline"
    strategies = "strategies"
    data = "data"
    compare = "compare"
    backbones = "backbones"  # minutes on a CPU: only when asked for
    step = "step"  # a paper preset's training step per strategy (--preset, --batch): only when asked for
    grid = "grid"  # the paper grid's wall time from measured rates: only when asked for
    cached_sweep = "cached-sweep"  # a paper-sized sweep from a feature cache, timed: only when asked for


@user_errors
def bench(
    part: list[BenchPart] = typer.Option(None, "--part", metavar="|".join(p.value for p in BenchPart),
                                         help="What to time (repeatable); default: all but backbones, step, grid, "
                                              "cached-sweep."),
    repeats: int = typer.Option(3, help="Repetitions of each pipeline timing (and of step/grid's steps); the median "
                                        "is reported."),
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
    from mmdg_bench.api.benchmarks import bench as run_bench

    run_bench([p.value for p in part] if part else None, repeats, step_repeats, preset, batch, seeds, jobs,
              set_ or [], console)
