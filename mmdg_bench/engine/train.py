"""Train one leave-one-domain-out run and write its run folder.

    from mmdg_bench.config import load_config
    from mmdg_bench.engine import train_run
    train_run(load_config("synth"), target="toon", out_root="results/runs")
"""

import os
import random
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

import mmdg_bench
from mmdg_bench.data import ClipDataset, load_index
from mmdg_bench.data.decoding import require_gpu_decoding, worker_start_method
from mmdg_bench.data.sampling import EpochSampler
from mmdg_bench.device import autocast, resolve_device, to_device
from mmdg_bench.engine.acceleration import configure_backends, loader_options, prepare_encoders
from mmdg_bench.engine.checkpoint import load_checkpoint, remove_checkpoint, restore, save_checkpoint, save_weights
from mmdg_bench.engine.evaluate import evaluate, read_at_once
from mmdg_bench.engine.memory import PeakMemory
from mmdg_bench.engine.run_folder import one_trainer_per_folder, run_folder_of
from mmdg_bench.engine.selection import select_epochs
from mmdg_bench.errors import UserError, UserNotice
from mmdg_bench.features import FeatureDataset, open_caches
from mmdg_bench.losses import DOMAIN, StepLosses, detaches_unimodal_heads, loss_terms
from mmdg_bench.methods import METHODS, attach_method
from mmdg_bench.models import build_model
from mmdg_bench.models.determinism import require_deterministic_backward
from mmdg_bench.models.weights import check_weights_present
from mmdg_bench.settings import Config, OptimConfig
from mmdg_bench.strategies import STRATEGIES


class NullProgress:
    """What the engine reports as it goes; the CLI plugs a Rich progress bar in here."""

    def start_run(self, name: str, epochs: int, batches: int) -> None: ...
    def resume(self, finished_epochs: int) -> None: ...
    def advance(self) -> None: ...
    def end_epoch(self, line: dict) -> None: ...
    def decoding(self, split: str, done: int, total: int) -> None: ...
    def end_run(self) -> None: ...


@dataclass
class RunResult:
    path: Path
    summary: dict
    reused: bool  # a finished run folder with this config already existed


class NonFiniteGradient(UserError):
    pass


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def step_losses(model, batch: dict, config: Config) -> StepLosses:
    """The step's loss terms: the run's method's (ERM's, `mmdg_bench/losses.py`, for a bare model)."""
    out = model(batch)
    labels, domains = batch["label"], batch["domain"]
    method = getattr(model, "method", None)
    terms = method.terms(out, batch) if method is not None else loss_terms(out, labels, domains, config.loss)
    return StepLosses(outputs=out, labels=labels, domains=domains, terms=terms, inputs=batch)


def make_optimizer(params, optim: OptimConfig) -> torch.optim.Adam:
    """Adam (SimMMDG, GMP). `foreach` batches its per-parameter ops into one call each, as torch
    already does on CUDA; on a CPU it does the same arithmetic per element as the single-tensor
    loop, so results are bitwise unchanged (tests/engine/test_engine.py)."""
    return torch.optim.Adam(params, lr=optim.lr, weight_decay=optim.weight_decay, foreach=True)


def resume_threads(started_with: int | None) -> None:
    """Resume with the thread count the run started with (a CPU run's sums, and so its numbers, depend
    on it), capped to this machine's CPUs; a different count is said, naming both."""
    if not started_with:
        return
    threads = min(started_with, os.cpu_count() or 1)
    if threads != started_with:
        warnings.warn(UserNotice(f"the run started with {started_with} threads and resumes with {threads}, the "
                                 f"CPUs of this machine: from here its numbers may differ in the last digits from "
                                 f"an uninterrupted run's"), stacklevel=2)
    torch.set_num_threads(threads)


def environment(config: Config, device: str) -> dict:
    """What a run's numbers may depend on beyond its config: recorded so `compare` can warn."""
    return {"torch": torch.__version__, "device": torch.cuda.get_device_name(device) if device.startswith("cuda")
            else "cpu", "threads": torch.get_num_threads(), "deterministic": config.deterministic}


def check_finite(model, epoch: int) -> None:
    """Stop on a NaN or inf gradient. One fused norm over every gradient (one host sync per step);
    only when it is not finite are the parameters searched for the one to name."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads or torch.isfinite(torch.nn.utils.get_total_norm(grads, foreach=True)):
        return
    for name, p in model.named_parameters():
        if p.grad is not None and not torch.isfinite(p.grad).all():
            raise NonFiniteGradient(f"the gradient of {name} became NaN or inf in epoch {epoch}; "
                                    f"lower optim.lr or check the strategy's hyper-parameters")


def train_epoch(model, strategy, optimizer, loader, device: str, epoch: int, config: Config, progress) -> dict:
    model.train()
    strategy.start_epoch(epoch)
    loader.sampler.set_epoch(epoch)
    sums: dict[str, float] = defaultdict(float)
    steps = 0
    for batch in loader:
        batch = to_device(batch, device, config.channels_last)
        with autocast(device, config.precision):
            step = step_losses(model, batch, config)
        optimizer.zero_grad(set_to_none=True)
        diagnostics = strategy.backward(step)
        check_finite(model, epoch)
        optimizer.step()
        model.method.after_step()
        # Summed on the device and read once per epoch (`read_at_once`): a `.item()` per value would wait for
        # the GPU at every step. In float64, as Python's float sums were: the logged numbers are unchanged.
        sums["loss_cls"] += sum(t.value for t in step.terms if t.group != DOMAIN).detach().double()
        sums["loss_dom"] += step.domain.detach().double()
        sums["acc_fused"] += 100.0 * (step.outputs.fused_logits.argmax(1) == step.labels).float().mean().double()
        for key, value in diagnostics.items():
            sums[f"strategy/{key}"] += value.detach().double().reshape(()) if torch.is_tensor(value) else float(value)
        steps += 1
        progress.advance()
    means = {k: v / max(steps, 1) for k, v in read_at_once(sums, device).items()}
    train = {k: v for k, v in means.items() if not k.startswith("strategy/")}
    diag = {k.removeprefix("strategy/"): v for k, v in means.items() if k.startswith("strategy/")}
    return {"train": train, "strategy": diag}


def prepare(dataset: ClipDataset, on_corrupt: str, decode_all: bool, report=lambda done, total: None) -> list[str]:
    """Decode up front where the config asks for it, so a bad file stops the run before it starts;
    `report(done, total)` follows the clips."""
    if on_corrupt == "skip":
        return dataset.drop_unreadable(report)
    dataset.require_files()  # a missing file stops the run here, not in the middle of an epoch
    if decode_all:
        for i in range(len(dataset)):
            dataset[i]
            report(i + 1, len(dataset))
    return []


def build_loaders(config: Config, parts: dict, sources: list[str], device: str, progress=NullProgress(),
                  caches=None):
    """The training loader (shuffled, augmented, whole batches only: a one-clip batch makes the
    confidence ratios meaningless) and one evaluation loader per other part; from the feature
    `caches` (data.source: features) when given, without decoding or loader workers."""
    data = config.data
    require_gpu_decoding(data)
    datasets, skipped = {}, []
    for name, clips in parts.items():
        if caches is not None:
            datasets[name] = FeatureDataset(clips, caches, sources, train=(name == "train"))
            continue
        ds = ClipDataset(clips, data.modalities, data, sources, cache=data.cache_decoded, train=(name == "train"),
                         seed=config.seed)
        skipped += prepare(ds, data.on_corrupt, data.cache_decoded,
                           lambda done, total, split=name: progress.decoding(split, done, total))
        if len(ds) == 0:
            raise UserError(f"the {name} split has no readable clips")
        datasets[name] = ds
    batch = config.optim.batch_size
    if len(datasets["train"]) < batch:
        raise UserError(f"the training split has {len(datasets['train'])} clips, fewer than one batch "
                        f"(optim.batch_size={batch}); lower optim.batch_size")
    shuffle = torch.Generator().manual_seed(config.seed)
    workers = 0 if caches else data.num_workers
    options = loader_options(device, workers, data.prefetch, worker_start_method(data, data.modalities, workers))
    loaders = {name: DataLoader(ds, batch_size=batch, **options) for name, ds in datasets.items() if name != "train"}
    loaders["train"] = DataLoader(datasets["train"], batch_size=batch, drop_last=True, **options,
                                  sampler=EpochSampler(len(datasets["train"]), shuffle=True, generator=shuffle))
    return loaders, {name: len(ds) for name, ds in datasets.items()}, skipped


def keep_selected_weights(folder: Path, model, epochs: list[dict]) -> None:
    """After an epoch: its weights as `last`, and as `best-val` when it is the best-val selection so
    far (ties to the later epoch, as `select_epochs`)."""
    save_weights(folder, "last", model)
    if select_epochs(epochs)["best-val"] is epochs[-1]:
        save_weights(folder, "best-val", model)


def mean_diagnostics(epochs: list[dict]) -> dict[str, float]:
    """Each strategy diagnostic averaged over the epochs that logged it."""
    keys = dict.fromkeys(k for e in epochs for k in e["strategy"])
    return {k: float(np.mean([e["strategy"][k] for e in epochs if k in e["strategy"]])) for k in keys}


def run_model(config: Config, num_classes: int, num_domains: int, device: str, caches=None):
    """The run's model as its strategy trains it (which decides whether the unimodal heads read
    detached features); `mmdg-bench evaluate` rebuilds a finished run's model with it."""
    strategy_cls = STRATEGIES.get(config.strategy.name)
    model = build_model(config.model, config.data.modalities, num_classes, num_domains,
                        detaches_unimodal_heads(config.loss.classification, strategy_cls),
                        feature_dims=caches and {m: cache.dim for m, cache in caches.items()})
    return attach_method(model, config.method, config.loss, num_classes, num_domains, config.seed).to(device)


def run_strategy(config: Config, model):
    """The run's strategy on `model`, with its settings and the run's length (for schedules given as
    fractions of it, DRB's); the engine and the step benches build it alike."""
    strategy_cls = STRATEGIES.get(config.strategy.name)
    strategy = strategy_cls(strategy_cls.Params(**config.strategy.params), model, config.seed)
    strategy.epochs = config.optim.epochs
    return strategy


@one_trainer_per_folder
def train_run(config: Config, target: str, out_root: Path | str, progress=None, force: bool = False,
              loggers=None) -> RunResult:
    """Train one run into its folder; a finished folder is reused, an interrupted one resumed from
    its last epoch checkpoint (`force` retrains from scratch). `loggers`: a RunLogger (default: the
    trackers `config.loggers` names, mmdg_bench/loggers/)."""
    from mmdg_bench.loggers import flat_metrics, make_loggers

    progress = progress or NullProgress()
    loggers = loggers or make_loggers(config.loggers)  # a tracker that is not installed stops here
    check_weights_present(config.model, config.data.modalities)  # before any data is read
    index = load_index(config.data)
    sources = index.sources(target)
    folder = run_folder_of(config, target, out_root)
    if folder.is_done() and not force:
        return RunResult(folder.path, folder.summary(), reused=True)
    started = time.perf_counter()
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    require_deterministic_backward(config, device)  # before any clip is read, not in the first backward pass
    memory = PeakMemory(device)
    memory.reset()  # this run's peak, not the earlier runs' of this process (a sweep worker)
    configure_backends(config.deterministic)
    seed_everything(config.seed)
    caches = open_caches(config) if config.data.source == "features" else None
    model = run_model(config, len(index.classes), len(sources), device, caches)
    prepare_encoders(model, device, config.channels_last, config.compile)
    strategy = run_strategy(config, model)
    strategy.prepare_run(config, target, out_root)  # the runs it reads (UMT's teachers), before the clips are read
    parts = index.protocol(target)
    parts["train"], extra = strategy.holdout_split(parts["train"])
    parts.update(extra or {})
    loaders, clip_counts, skipped = build_loaders(config, parts, sources, device, progress, caches)
    strategy.attach({k: loaders[k] for k in ("train", *(extra or {}))})  # never val/target
    optimizer = make_optimizer(model.parameters(), config.optim)
    shuffle = loaders["train"].sampler.generator

    saved = None if force else load_checkpoint(folder.path, device)
    if saved is not None:
        resume_threads(saved.get("threads"))
        epochs = folder.keep_metrics(restore(saved, model, optimizer, strategy, shuffle, device))
    else:
        folder.start(config.to_dict())
        epochs = []
    progress.start_run(folder.path.name, config.optim.epochs, len(loaders["train"]))
    progress.resume(len(epochs))
    loggers.start(folder.path.name, folder.path, config.to_dict())
    try:
        for epoch in range(len(epochs) + 1, config.optim.epochs + 1):
            line = {"epoch": epoch, **train_epoch(model, strategy, optimizer, loaders["train"], device, epoch,
                                                  config, progress)}
            line["val"] = evaluate(model, loaders["val"], device, config.precision, config.channels_last)
            line["target"] = evaluate(model, loaders["target"], device, config.precision, config.channels_last)
            folder.append_metrics(line)
            epochs.append(line)
            if config.keep_weights:
                keep_selected_weights(folder.path, model, epochs)
            save_checkpoint(folder.path, epoch, model, optimizer, strategy, shuffle)
            loggers.log_epoch(epoch, flat_metrics(line))
            progress.end_epoch(line)
    except BaseException as err:
        loggers.finish(None)  # the trackers close their run as stopped; the checkpoint resumes it
        err.run_folder = str(folder.path)  # where the command line writes a crash report
        raise
    progress.end_run()

    summary = {
        "preset": config.preset, "dataset": config.data.dataset, "strategy": config.strategy.name,
        "strategy_info": STRATEGIES.info(config.strategy.name), "method": config.method.name,
        "method_info": METHODS.info(config.method.name), "environment": environment(config, device),
        "target_domain": target, "source_domains": sources, "seed": config.seed,
        "config_hash": config.hash(target), "modalities": config.data.modalities,
        "classes": index.classes, "epochs": config.optim.epochs, "clips": clip_counts,
        "skipped_clips": skipped, "diagnostics": mean_diagnostics(epochs),
        "selection": {rule: {"epoch": e["epoch"], "val": e["val"], "target": e["target"]}
                      for rule, e in select_epochs(epochs).items()},
        "wall_s": round(time.perf_counter() - started, 2), "memory": memory.summary(),
        "version": mmdg_bench.__version__, "config": config.to_dict(),
    }
    folder.finish(summary)
    loggers.finish(summary)
    remove_checkpoint(folder.path)
    return RunResult(folder.path, summary, reused=False)

