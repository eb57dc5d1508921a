"""Step-time benchmark of the gradient strategies against `baseline`.

One training step (forward + `strategy.backward` + `optimizer.step`) of every registered strategy,
on the same model architecture and the same batch (the synth preset's first training batch), in
one process. The strategies take turns within each repeat (round-robin) so that machine noise
hits all of them alike; the figure is the median. Work a strategy does once per epoch (its
`start_epoch`: Gradient-Blending's held-out evaluation every super-epoch) is timed over the
preset's epochs and amortised over their steps, so the ratio is the cost of a whole run per step.

    python -c "from rich.console import Console; from mmdg_bench.bench.strategies import bench_strategies; \
bench_strategies(Console(), repeats=20)"
"""

import math
import os
import statistics
import time
from dataclasses import dataclass, field

import torch
from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader

from mmdg_bench.config import load_config
from mmdg_bench.data import ClipDataset, load_index
from mmdg_bench.device import autocast, to_device
from mmdg_bench.engine.acceleration import prepare_encoders
from mmdg_bench.engine.train import make_optimizer, run_model, run_strategy, seed_everything, step_losses
from mmdg_bench.settings import Config
from mmdg_bench.strategies import STRATEGIES, Strategy

WARMUP_STEPS = 3
# Step time over baseline's that each strategy should stay under (amortised, per-epoch work included).
def target_ratio(name: str) -> float | None:
    """The step-time budget over baseline's that the strategy registered with (`cost`), if any."""
    return STRATEGIES.info(name).get("cost")


@dataclass
class StrategyBench:
    """One strategy's own model (same initialisation for all), optimizer and timings."""

    name: str
    model: torch.nn.Module
    strategy: Strategy
    optimizer: torch.optim.Optimizer
    steps_per_epoch: int
    step_s: list[float] = field(default_factory=list)
    epochs_s: list[float] = field(default_factory=list)  # all start_epoch calls of one run


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def first_batch(config: Config, clips, sources: list[str]) -> dict:
    """The engine's first training batch: same dataset, batch size and shuffle seed."""
    dataset = ClipDataset(clips, config.data.modalities, config.data, sources)
    loader = DataLoader(dataset, batch_size=config.optim.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(config.seed))
    return to_device(next(iter(loader)), config.device, config.channels_last)  # the run's memory order too


def build_bench(name: str, overrides: list[str], index, parts: dict, sources: list[str]) -> StrategyBench:
    config = load_config("synth", overrides, strategy__name=name)  # that strategy's params, overrides included
    seed_everything(config.seed)
    model = run_model(config, len(index.classes), len(sources), config.device)  # as the engine builds it
    prepare_encoders(model, config.device, config.channels_last, config.compile)  # and prepares it
    strategy = run_strategy(config, model)
    strategy.use_stand_ins()  # no results folder here: untrained stand-ins for the runs it reads (UMT's)
    train, extra = strategy.holdout_split(parts["train"])
    loaders = {key: DataLoader(ClipDataset(clips, config.data.modalities, config.data, sources, cache=True),
                               batch_size=config.optim.batch_size)
               for key, clips in {"train": train, **extra}.items()}
    strategy.attach(loaders)
    optimizer = make_optimizer(model.parameters(), config.optim)
    return StrategyBench(name, model, strategy, optimizer, math.ceil(len(train) / config.optim.batch_size))


def time_step(bench: StrategyBench, batch: dict, config: Config) -> float:
    bench.model.train()
    start = time.perf_counter()
    with autocast(config.device, config.precision):  # the run's forward pass (the strategies run outside it)
        step = step_losses(bench.model, batch, config)
    bench.optimizer.zero_grad(set_to_none=True)
    bench.strategy.backward(step)
    bench.optimizer.step()
    _synchronize(config.device)
    return time.perf_counter() - start


def time_epochs(bench: StrategyBench, config: Config) -> float:
    """All `start_epoch` calls of one run; the engine calls it in train mode."""
    bench.model.train()
    start = time.perf_counter()
    for epoch in range(1, config.optim.epochs + 1):
        bench.strategy.start_epoch(epoch)
    _synchronize(config.device)
    return time.perf_counter() - start


def _row(bench: StrategyBench, config: Config) -> dict:
    step_ms = 1000 * statistics.median(bench.step_s)
    epoch_ms = 1000 * statistics.median(bench.epochs_s) / (config.optim.epochs * bench.steps_per_epoch)
    return {"strategy": bench.name, "step_ms": step_ms, "epoch_work_ms": epoch_ms, "ms": step_ms + epoch_ms,
            "target": target_ratio(bench.name), "error": None}


def _with_ratios(rows: list[dict]) -> list[dict]:
    base = next((r["ms"] for r in rows if r["strategy"] == "baseline" and r["error"] is None), None)
    for row in rows:
        ratio = row["ms"] / base if base and row["error"] is None else None
        row["ratio"] = ratio
        row["meets_target"] = None if ratio is None or row["target"] is None else ratio <= row["target"]
    return rows


def run_benches(config: Config, overrides: list[str], repeats: int) -> list[dict]:
    index = load_index(config.data)
    target = index.domains[0]
    parts, sources = index.protocol(target), index.sources(target)
    batch = first_batch(config, parts["train"], sources)
    names = ["baseline", *(n for n in STRATEGIES.names() if n != "baseline")]
    benches, rows = [], []
    for name in names:
        try:
            bench = build_bench(name, overrides, index, parts, sources)
            for _ in range(WARMUP_STEPS):
                time_step(bench, batch, config)
            time_epochs(bench, config)  # warm-up: decodes the clips a strategy evaluates on
            benches.append(bench)
        except Exception as err:  # one failing strategy must not hide the others' figures
            rows.append({"strategy": name, "error": f"{type(err).__name__}: {err}", "ms": None,
                         "target": target_ratio(name)})
    for _ in range(repeats):
        for bench in benches:
            bench.step_s.append(time_step(bench, batch, config))
            bench.epochs_s.append(time_epochs(bench, config))
    order = {name: i for i, name in enumerate(names)}
    rows = sorted(rows + [_row(b, config) for b in benches], key=lambda r: order[r["strategy"]])
    return _with_ratios(rows)


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def print_table(console: Console, rows: list[dict], config: Config, repeats: int) -> None:
    table = Table(title=f"Strategy step time, synth preset's first batch (batch {config.optim.batch_size}, "
                        f"{config.device}, {os.cpu_count()} CPUs, {torch.get_num_threads()} threads, "
                        f"median of {repeats}, round-robin)")
    for column in ("strategy", "step ms", "+ per-epoch work ms/step", "ms/step", "× baseline", "target ×", "ok"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for r in rows:
        if r["error"]:
            table.add_row(r["strategy"], f"[red]error: {r['error']}[/red]", "", "", "", _fmt(r["target"], ".2f"), "")
            continue
        ok = {True: "yes", False: "[red]no[/red]", None: ""}[r["meets_target"]]
        table.add_row(r["strategy"], f"{r['step_ms']:.1f}", f"{r['epoch_work_ms']:.2f}", f"{r['ms']:.1f}",
                      _fmt(r["ratio"], ".2f"), _fmt(r["target"], ".2f"), ok)
    console.print(table)


def bench_strategies(console: Console, repeats: int, overrides: list[str] = ()) -> list[dict]:
    """Time every registered strategy against baseline and print a Rich table; returns its rows
    (strategy, step_ms, epoch_work_ms, ms, ratio, target, meets_target, error). `overrides` are
    `--set` style settings on the synth preset (the tests use a tiny set)."""
    overrides = list(overrides)
    config = load_config("synth", overrides)
    if config.threads:
        torch.set_num_threads(config.threads)
    rows = run_benches(config, overrides, repeats)
    print_table(console, rows, config, repeats)
    return rows
