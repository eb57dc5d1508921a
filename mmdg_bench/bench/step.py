"""Training-step throughput of each strategy at a paper preset's input size, and the paper grid's wall
time estimated from measured rates (`mmdg-bench bench --part step|grid`).

`step`: one process, one strategy at a time: its model is built and prepared as a run prepares it
(`prepare_encoders`: channels-last, compile), timed, then freed before the next is built, so the
peak memory of its steps (GPU: allocated; CPU: the resident high-water mark, reset before each step)
is its own. The median step is reported as clips/s with that peak and the ratio to baseline. The
batch is random tensors of the preset's shapes and the backbones are randomly initialised: the cost
does not depend on the values. On a CPU use a batch of 1-2 and few
steps: a reference-regime step costs seconds per clip. Also measured, per preset: the evaluation
forward rate, and a step of the `frozen` regime from cached features (adapters and heads only).

`grid`: 2 datasets x 5 strategies x 3 targets x 5 seeds x 20 epochs, clip counts from the packaged
split files, each run's epochs bounded by the slower of its step and its loader (decoding at the
measured clips/s per worker, times the preset's workers); and the feature-cache route (one extraction
per dataset, then cached steps).

    mmdg-bench bench --part step --preset hac_paper --batch 1 --step-repeats 2
    mmdg-bench bench --part grid --batch 1 --step-repeats 1
"""

import gc
import math
import os
import statistics
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from mmdg_bench.config import load_config
from mmdg_bench.data.dataset import AudioLoader
from mmdg_bench.device import autocast, resolve_device, to_device
from mmdg_bench.engine.acceleration import configure_backends, prepare_encoders
from mmdg_bench.engine.memory import PeakMemory
from mmdg_bench.engine.train import make_optimizer, run_strategy, seed_everything, step_losses
from mmdg_bench.errors import UserNotice
from mmdg_bench.losses import detaches_unimodal_heads
from mmdg_bench.models import build_model
from mmdg_bench.models.encoders import encoder_spec
from mmdg_bench.models.multimodal import IN_CHANNELS
from mmdg_bench.settings import Config
from mmdg_bench.strategies import STRATEGIES

# The step bench's rows, and the strategies of the grid and cached-sweep goals (issue 11's 45 runs):
# GMP's Table 2 as the benchmark ran it when those goals were set. The rest of Table 2 (agm, cggm, drb,
# balgrad) steps within 1.2x baseline's on synth (`bench --part strategies`, docs/speed.md).
PAPER_STRATEGIES = ["baseline", "ogm-ge", "grad-blending", "pcgrad", "gmp"]
PAPER_PRESETS = {"hac": "hac_paper", "epic_kitchens": "epic_kitchens_paper"}
PAPER_GRID = {"seeds": 5, "epochs": 20}  # x strategies x targets x datasets
SOURCES = 2  # leave-one-domain-out over 3 domains


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(device)
    model = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), "CPU")
    return f"{model} ({os.cpu_count()} CPUs)"


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def measured_on(device: str) -> str:
    return f"{device_name(device)}, torch {torch.__version__}, {torch.get_num_threads()} threads"


def random_init(preset: str) -> list[str]:
    """Overrides that drop every encoder's weights file: random backbones, same cost."""
    encoders = load_config(preset).model.encoders
    return [f"model.encoders.{m}.weights=null" for m, spec in encoders.items()
            if isinstance(spec, dict) and spec.get("weights")]


def step_config(preset: str, batch: int, overrides: list[str] = (), strategy: str | None = None) -> Config:
    """The preset at `batch`, random-init, with `strategy` selected (its own parameters, overrides included)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserNotice)  # overrides of the other strategies timed beside it
        return load_config(preset, [*random_init(preset), f"optim.batch_size={batch}", *overrides],
                           strategy__name=strategy)


def strategy_configs(preset: str, batch: int, overrides: list[str], strategies: list[str]) -> dict[str, Config]:
    return {name: step_config(preset, batch, overrides, name) for name in strategies}


def input_shapes(config: Config) -> dict[str, tuple[int, ...]]:
    """One clip's tensor per modality as the training loader gives it."""
    data, shapes = config.data, {}
    for modality in data.modalities:
        if modality in ("video", "flow"):
            frames = getattr(data, modality)
            shapes[modality] = (IN_CHANNELS[modality], frames.num_frames, frames.size, frames.size)
        else:
            samples = np.zeros(int(round(data.audio.sample_rate * data.audio.seconds)), dtype=np.float32)
            shapes[modality] = tuple(AudioLoader(data.audio, train=False).features(samples).shape)
    return shapes


def random_batch(shapes: dict, batch: int, classes: int, device: str) -> dict:
    generator = torch.Generator().manual_seed(0)
    clips = {m: torch.randn(batch, *shape, generator=generator).to(device) for m, shape in shapes.items()}
    return {**clips, "label": torch.randint(classes, (batch,), generator=generator).to(device),
            "domain": (torch.arange(batch) % SOURCES).to(device)}


def dataset_classes(config: Config) -> int:
    from mmdg_bench.data.epic_kitchens import EPIC_CLASSES
    from mmdg_bench.data.hac import HAC_CLASSES

    counts = {"hac": len(HAC_CLASSES), "epic_kitchens": len(EPIC_CLASSES)}
    return counts.get(config.data.dataset, config.data.synth.classes)


@dataclass
class Stepper:
    name: str
    model: torch.nn.Module
    strategy: object
    optimizer: torch.optim.Optimizer
    seconds: list[float] = field(default_factory=list)
    peak_mib: float | None = None


def build_stepper(name: str, config: Config, classes: int, device: str, feature_dims=None) -> Stepper:
    """`name`'s model, strategy (with `config.strategy.params`: `config` selects `name`) and optimizer."""
    seed_everything(config.seed)
    strategy_cls = STRATEGIES.get(name)
    model = build_model(config.model, config.data.modalities, classes, SOURCES,
                        detaches_unimodal_heads(config.loss.classification, strategy_cls),
                        feature_dims=feature_dims).to(device)
    prepare_encoders(model, device, config.channels_last, config.compile)  # as the run prepares it
    strategy = run_strategy(config, model)  # as the engine builds it
    strategy.use_stand_ins()  # no results folder here: untrained stand-ins for the runs it reads (UMT's)
    trainable = [p for p in model.parameters() if p.requires_grad]
    return Stepper(name, model, strategy, make_optimizer(trainable, config.optim))


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def time_step(stepper: Stepper, batch: dict, config: Config, device: str, memory: PeakMemory) -> float:
    stepper.model.train()
    memory.reset()
    start = time.perf_counter()
    with autocast(device, config.precision):
        step = step_losses(stepper.model, batch, config)
    stepper.optimizer.zero_grad(set_to_none=True)
    stepper.strategy.backward(step)
    stepper.optimizer.step()
    _synchronize(device)
    seconds = time.perf_counter() - start
    peak = memory.read()
    stepper.peak_mib = max(stepper.peak_mib or 0.0, peak) if peak is not None else None
    return seconds


@torch.no_grad()
def eval_seconds(model, batch: dict, config: Config, device: str, repeats: int) -> float:
    model.eval()
    times = []
    for _ in range(repeats + 1):  # the first is a warm-up
        start = time.perf_counter()
        with autocast(device, config.precision):
            model(batch)
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def free(device: str) -> None:
    """Return what the last stepper held, so the next strategy's peak memory is its own."""
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def measure_steps(configs: dict[str, Config], classes: int, device: str, batch: dict, repeats: int,
                  feature_dims=None) -> list[dict]:
    """Time each strategy's step, one strategy's model alive at a time; `configs` maps each strategy to
    the config that selects it."""
    memory, rows = PeakMemory(device), []
    batch_size = len(batch["label"])
    for name, config in configs.items():
        try:
            stepper = build_stepper(name, config, classes, device, feature_dims)
            clips = to_device(batch, device, config.channels_last)  # the run's memory order too
            time_step(stepper, clips, config, device, memory)  # warm-up: first-call allocations, cuDNN autotuning
            stepper.peak_mib = None
            stepper.seconds = [time_step(stepper, clips, config, device, memory) for _ in range(repeats)]
        except Exception as err:  # a strategy that fails gets an error row; the others still run
            rows.append({"strategy": name, "error": f"{type(err).__name__}: {err}"})
        else:
            step_s = statistics.median(stepper.seconds)
            rows.append({"strategy": name, "step_s": step_s, "clips_per_s": batch_size / step_s,
                         "peak_mib": stepper.peak_mib, "error": None})
        stepper = clips = None  # dropped before the next strategy's model is built
        free(device)
    base = next((r["step_s"] for r in rows if r["strategy"] == "baseline" and not r["error"]), None)
    for row in rows:
        row["ratio"] = row["step_s"] / base if base and not row["error"] else None
    return rows


@dataclass
class StepReport:
    preset: str
    device: str
    batch: int
    rows: list[dict]  # the preset's regime, from clips
    cached_rows: list[dict]  # the frozen regime from cached features
    eval_clips_per_s: float

    def rate(self, strategy: str, cached: bool = False) -> float | None:
        row = next((r for r in (self.cached_rows if cached else self.rows) if r["strategy"] == strategy), None)
        return row["clips_per_s"] if row and not row["error"] else None


def pooled_dims(config: Config) -> dict[str, int]:
    """Each backbone's pooled width (what a cache stores), from its registered network."""
    from mmdg_bench.models.encoders import build_encoder

    dims = {}
    with torch.device("meta"):
        for m in config.data.modalities:
            encoder = build_encoder(config.model.encoders[m], m, IN_CHANNELS.get(m, 1), config.model.feature_dim)
            dims[m] = encoder.network.out_dim
    return dims


def bench_step(console: Console, preset: str, batch: int = 1, repeats: int = 2,
               strategies: list[str] = PAPER_STRATEGIES, overrides: list[str] = ()) -> StepReport:
    config = step_config(preset, batch, list(overrides))
    configs = strategy_configs(preset, batch, list(overrides), strategies)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    configure_backends(config.deterministic)
    classes = dataset_classes(config)
    clips = random_batch(input_shapes(config), batch, classes, device)
    rows = measure_steps(configs, classes, device, clips, repeats)
    baseline_config = configs.get("baseline") or step_config(preset, batch, list(overrides), "baseline")
    baseline = build_stepper("baseline", baseline_config, classes, device).model
    eval_rate = batch / eval_seconds(baseline, clips, config, device, repeats)
    del baseline
    free(device)
    frozen = strategy_configs(preset, batch, [*overrides, *[f"model.encoders.{m}.regime=frozen"
                                                            for m in config.data.modalities]], strategies)
    dims = pooled_dims(config)
    pooled = random_batch({m: (d,) for m, d in dims.items()}, 16, classes, device)  # the presets' batch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small ops: on a busy CPU more threads only wait for each other (sweep: --jobs)
    try:
        cached = measure_steps(frozen, classes, device, pooled, max(repeats, 5), feature_dims=dims)
    finally:
        torch.set_num_threads(threads)
    report = StepReport(config.preset, device, batch, rows, cached, eval_rate)
    console.print(step_table(report, config, repeats))
    return report


def _fmt(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def step_table(report: StepReport, config: Config, repeats: int) -> Table:
    regimes = ", ".join(sorted({str(getattr(encoder_spec(config.model.encoders[m], m)[2], "regime", "-"))
                                for m in config.data.modalities}))
    table = Table(title=f"Training step, {report.preset} at its input size ({', '.join(config.data.modalities)}; "
                        f"regime {regimes}), batch {report.batch}, random-init backbones, {config.precision}; "
                        f"measured on {measured_on(report.device)}; median of {repeats}, one strategy at a time. "
                        f"Evaluation forward: {report.eval_clips_per_s:.2f} clips/s. Frozen from cache: batch 16, "
                        f"1 thread")
    for column in ("strategy", "clips/s", "s/step", "peak MiB", "x baseline", "frozen from cache: clips/s",
                   "x baseline "):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    cached = {r["strategy"]: r for r in report.cached_rows}
    for row in report.rows:
        c = cached.get(row["strategy"], {"error": "not measured"})
        if row["error"]:
            table.add_row(row["strategy"], f"[red]error: {row['error'][:80]}[/]", "", "", "", "", "")
            continue
        table.add_row(row["strategy"], f"{row['clips_per_s']:.3f}", f"{row['step_s']:.2f}",
                      _fmt(row["peak_mib"], ".0f"), _fmt(row["ratio"], ".2f"),
                      "error" if c["error"] else f"{c['clips_per_s']:.0f}",
                      "" if c["error"] else _fmt(c["ratio"], ".2f"))
    return table


# The grid ------------------------------------------------------------------------------------

def split_sizes(dataset: str) -> dict[str, dict[str, int]]:
    """Clips per domain and split in the packaged split files."""
    from mmdg_bench.data.splits import PACKAGED, read_epic_split_file, read_hac_split_file

    if dataset == "hac":
        from mmdg_bench.data.hac import HAC_DOMAINS

        return {d: {s: len(read_hac_split_file(PACKAGED / "hac" / f"HAC_{s}_only_{d}.csv")) for s in ("train", "test")}
                for d in HAC_DOMAINS}
    from mmdg_bench.data.epic_kitchens import EPIC_DOMAINS

    return {d: {s: len(read_epic_split_file(PACKAGED / "epic_kitchens" / f"{d}_{s}.csv")) for s in ("train", "test")}
            for d in EPIC_DOMAINS}


def protocol_sizes(dataset: str) -> list[dict[str, int]]:
    """Per held-out domain: train / val / target clip counts (HAC's target: its train + test)."""
    sizes = split_sizes(dataset)
    target_splits = ("train", "test") if dataset == "hac" else ("test",)
    return [{"train": sum(sizes[d]["train"] for d in sizes if d != t),
             "val": sum(sizes[d]["test"] for d in sizes if d != t),
             "target": sum(sizes[t][s] for s in target_splits)} for t in sizes]


@dataclass
class GridInputs:
    step: StepReport
    loader_clips_per_s: float  # the loader's rate with the preset's workers (per-worker rate x workers)
    loader_note: str
    views: int = 5  # feature cache: augmented views per training clip


def run_seconds(counts: dict[str, int], epochs: int, step_rate: float, eval_rate: float, loader_rate: float) -> float:
    train = counts["train"] / min(step_rate, loader_rate)
    evaluation = (counts["val"] + counts["target"]) / min(eval_rate, loader_rate)
    return epochs * (train + evaluation)


def estimate_grid(inputs: dict[str, GridInputs], strategies: list[str] = PAPER_STRATEGIES) -> list[dict]:
    rows = []
    for dataset, grid in inputs.items():
        step, seeds, epochs = grid.step, PAPER_GRID["seeds"], PAPER_GRID["epochs"]
        targets, sizes = protocol_sizes(dataset), split_sizes(dataset)
        clips = sum(n for splits in sizes.values() for n in splits.values())
        train_clips = sum(splits["train"] for splits in sizes.values())
        reference = sum(seeds * run_seconds(t, epochs, step.rate(s) or math.nan, step.eval_clips_per_s,
                                            grid.loader_clips_per_s) for s in strategies for t in targets)
        slowest_step = min(step.rate(s) or math.inf for s in strategies)
        bottleneck = "decoding" if grid.loader_clips_per_s < slowest_step else "training step"
        extraction_rate = min(step.eval_clips_per_s, grid.loader_clips_per_s)  # a forward per view, decoding overlapped
        extraction = (clips + grid.views * train_clips) / extraction_rate
        cached = sum(seeds * run_seconds(t, epochs, step.rate(s, cached=True) or math.nan, math.inf, math.inf)
                     for s in strategies for t in targets)
        rows.append({"dataset": dataset, "runs": len(strategies) * len(targets) * seeds, "reference_s": reference,
                     "bottleneck": bottleneck, "step_clips_per_s": slowest_step,
                     "loader_clips_per_s": grid.loader_clips_per_s, "loader_note": grid.loader_note,
                     "extraction_clips_per_s": extraction_rate, "extraction_s": extraction, "cached_s": cached})
    return rows


def hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds >= 360 else f"{seconds / 60:,.1f} min"


def grid_table(rows: list[dict], device: str) -> Table:
    table = Table(title=f"Paper grid estimate (5 strategies x 3 targets x 5 seeds x 20 epochs per dataset, clip counts "
                        f"from the packaged splits) on {measured_on(device)}; the step bounds a run unless "
                        f"decoding is slower")
    for column in ("dataset", "runs", "step clips/s (slowest)", "loader clips/s", "bound by", "from clips",
                   "cache: extract", "cache: train"):
        table.add_column(column, justify="left" if column in ("dataset", "bound by") else "right")
    for r in rows:
        table.add_row(r["dataset"], str(r["runs"]), f"{r['step_clips_per_s']:.3f}", f"{r['loader_clips_per_s']:.2f}",
                      r["bottleneck"], hours(r["reference_s"]), hours(r["extraction_s"]), hours(r["cached_s"]))
    return table


LAYOUT_OF = {"hac": "HAC mp4", "epic_kitchens": "EPIC-Kitchens frame folders"}


def bench_grid(console: Console, batch: int = 1, repeats: int = 2, loader_clips: int = 6,
               overrides: list[str] = ()) -> list[dict]:
    """Measure the step of both paper presets and the loader on both layouts, then estimate the grid."""
    from mmdg_bench.bench.data import bench_paper_layouts

    loaders = bench_paper_layouts(console, clips=loader_clips, repeats=repeats)
    inputs = {}
    for dataset, preset in PAPER_PRESETS.items():
        step = bench_step(console, preset, batch, repeats, overrides=overrides)
        config = load_config(preset)
        workers = max(1, min(config.data.num_workers, os.cpu_count() or 1))
        per_worker = loaders[LAYOUT_OF[dataset]]["video + audio"]
        inputs[dataset] = GridInputs(step, per_worker * workers,
                                     f"{per_worker:.2f} clips/s per worker x {workers} workers", config.features.views)
    rows = estimate_grid(inputs)
    console.print(grid_table(rows, inputs["hac"].step.device))
    for r in rows:
        console.print(f"{r['dataset']}: loader {r['loader_note']} (assumes workers scale linearly); feature cache "
                      f"extraction at {r['extraction_clips_per_s']:.2f} views/s (the slower of the evaluation forward "
                      f"and the loader); a run from clips is bound by {r['bottleneck']}", highlight=False)
    return rows
