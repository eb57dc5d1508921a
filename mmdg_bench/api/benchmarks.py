"""The speed benchmarks as a function: `mmdg-bench bench` (mmdg_bench/cli/bench.py) calls it; each part
prints its table on `console` (mmdg_bench/bench/ times them).

    from rich.console import Console
    from mmdg_bench import api
    api.bench(["strategies"], step_repeats=20, console=Console())
"""

from rich.console import Console

from mmdg_bench.errors import UserError

PARTS = ("pipeline", "strategies", "data", "compare", "backbones", "step", "grid", "cached-sweep")
DEFAULT_PARTS = ("pipeline", "strategies", "data", "compare")  # the others take minutes: only when asked for


def bench(parts: list[str] | None = None, repeats: int = 3, step_repeats: int = 20, preset: str = "hac_paper",
          batch: int = 1, seeds: str = "0-2", jobs: int = 0, overrides: list[str] = (),
          console: Console | None = None) -> None:
    """Time `parts` (default: DEFAULT_PARTS) and print each one's table on `console`."""
    console = console or Console()
    chosen = set(parts or DEFAULT_PARTS)
    unknown = sorted(chosen - set(PARTS))
    if unknown:
        raise UserError(f"unknown bench part '{unknown[0]}' (choose from: {', '.join(PARTS)})")
    overrides = list(overrides)
    if "pipeline" in chosen:
        from mmdg_bench.bench.pipeline import bench_pipeline

        bench_pipeline(console, repeats)
    if "strategies" in chosen:
        from mmdg_bench.bench.strategies import bench_strategies

        bench_strategies(console, step_repeats)
    if "data" in chosen:
        from mmdg_bench.bench.data import bench_data, bench_paper_layouts

        for workers in (0, 2):
            bench_data(console, workers=workers, repeats=repeats)
        bench_paper_layouts(console, repeats=repeats)
    if "compare" in chosen:
        from mmdg_bench.bench.compare import bench_compare

        for what, seconds in bench_compare(1000, repeats).items():
            console.print(f"compare over 1,000 run folders ({what}, median of {repeats}): {seconds:.2f} s (goal <= 5)")
    if "backbones" in chosen:
        from mmdg_bench.bench.backbones import bench_backbones

        bench_backbones(console, repeats)
    if "step" in chosen:
        from mmdg_bench.bench.step import bench_step

        bench_step(console, preset, batch, repeats, overrides=overrides)
    if "grid" in chosen:
        from mmdg_bench.bench.step import bench_grid

        bench_grid(console, batch, repeats, overrides=overrides)
    if "cached-sweep" in chosen:
        from mmdg_bench.bench.cached_sweep import bench_cached_sweep

        if jobs < 0:
            raise UserError(f"--jobs must be 0 (one per CPU) or more, got {jobs}")
        bench_cached_sweep(console, preset, seeds, jobs, overrides=overrides)
