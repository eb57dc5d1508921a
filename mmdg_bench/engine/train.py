"""Train one leave-one-domain-out run and write its run folder.

    from mmdg_bench.config import load_config
    from mmdg_bench.engine import train_run
    train_run(load_config("synth"), target="toon", out_root="results/runs")
"""

import random
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

import mmdg_bench
from mmdg_bench.config import Config
from mmdg_bench.data import ClipDataset, load_index
from mmdg_bench.engine.checkpoint import load_checkpoint, remove_checkpoint, restore, save_checkpoint
from mmdg_bench.engine.evaluate import evaluate, move
from mmdg_bench.engine.run_folder import RunFolder, run_name
from mmdg_bench.engine.selection import select_epochs
from mmdg_bench.errors import UserError
from mmdg_bench.models import build_model
from mmdg_bench.strategies import STRATEGIES, StepLosses


class NullProgress:
    """What the engine reports as it goes; the CLI plugs a Rich progress bar in here."""

    def start_run(self, name: str, epochs: int, batches: int) -> None: ...
    def resume(self, finished_epochs: int) -> None: ...
    def advance(self) -> None: ...
    def end_epoch(self, line: dict) -> None: ...
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
    out = model(batch)
    labels, domains = batch["label"], batch["domain"]
    return StepLosses(
        outputs=out, labels=labels, domains=domains,
        fused_ce=F.cross_entropy(out.fused_logits, labels),
        unimodal_ce={m: F.cross_entropy(logits, labels) for m, logits in out.unimodal_logits.items()},
        domain_ce={m: F.cross_entropy(logits, domains) for m, logits in out.domain_logits.items()},
        unimodal_weight=config.loss.unimodal_weight, domain_weight=config.loss.domain_weight,
    )


def check_finite(model, epoch: int) -> None:
    for name, p in model.named_parameters():
        if p.grad is not None and not torch.isfinite(p.grad).all():
            raise NonFiniteGradient(f"the gradient of {name} became NaN or inf in epoch {epoch}; "
                                    f"lower optim.lr or check the strategy's hyper-parameters")


def train_epoch(model, strategy, optimizer, loader, config: Config, epoch: int, progress) -> dict:
    model.train()
    strategy.start_epoch(epoch)
    sums: dict[str, float] = defaultdict(float)
    steps = 0
    for batch in loader:
        batch = move(batch, config.device)
        step = step_losses(model, batch, config)
        optimizer.zero_grad(set_to_none=True)
        diagnostics = strategy.backward(step)
        check_finite(model, epoch)
        optimizer.step()
        sums["loss_cls"] += step.classification.item()
        sums["loss_dom"] += step.domain.item()
        sums["acc_fused"] += 100.0 * (step.outputs.fused_logits.argmax(1) == step.labels).float().mean().item()
        for key, value in diagnostics.items():
            sums[f"strategy/{key}"] += float(value)
        steps += 1
        progress.advance()
    means = {k: v / max(steps, 1) for k, v in sums.items()}
    train = {k: v for k, v in means.items() if not k.startswith("strategy/")}
    diag = {k.removeprefix("strategy/"): v for k, v in means.items() if k.startswith("strategy/")}
    return {"train": train, "strategy": diag}


def prepare(dataset: ClipDataset, on_corrupt: str, decode_all: bool) -> list[str]:
    """Decode up front where the config asks for it, so a bad file stops the run before it starts."""
    if on_corrupt == "skip":
        return dataset.drop_unreadable()
    if decode_all:
        for i in range(len(dataset)):
            dataset[i]
    return []


def build_loaders(config: Config, parts: dict, sources: list[str]):
    data = config.data
    datasets, skipped = {}, []
    for name, clips in parts.items():
        ds = ClipDataset(clips, data.modalities, data, sources, cache=data.cache_decoded, train=(name == "train"))
        skipped += prepare(ds, data.on_corrupt, data.cache_decoded)
        if len(ds) == 0:
            raise UserError(f"the {name} split has no readable clips")
        datasets[name] = ds
    generator = torch.Generator().manual_seed(config.seed)
    loaders = {
        name: DataLoader(ds, batch_size=config.optim.batch_size, shuffle=(name == "train"),
                         generator=generator if name == "train" else None, num_workers=data.num_workers)
        for name, ds in datasets.items()
    }
    return loaders, {name: len(ds) for name, ds in datasets.items()}, skipped


def mean_diagnostics(epochs: list[dict]) -> dict[str, float]:
    """Each strategy diagnostic averaged over the epochs that logged it."""
    keys = dict.fromkeys(k for e in epochs for k in e["strategy"])
    return {k: float(np.mean([e["strategy"][k] for e in epochs if k in e["strategy"]])) for k in keys}


def train_run(config: Config, target: str, out_root: Path | str, progress=None, force: bool = False) -> RunResult:
    """Train one run into its folder; a finished folder is reused, an interrupted one resumed from
    its last epoch checkpoint (`force` retrains from scratch)."""
    progress = progress or NullProgress()
    index = load_index(config.data)
    sources = index.sources(target)
    folder = RunFolder(Path(out_root) / run_name(config.preset, config.strategy.name, target, config.seed,
                                                  config.hash(target)))
    if folder.is_done() and not force:
        return RunResult(folder.path, folder.summary(), reused=True)
    started = time.perf_counter()
    if config.threads:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    model = build_model(config.model, config.data.modalities, len(index.classes), len(sources)).to(config.device)
    strategy_cls = STRATEGIES.get(config.strategy.name)
    strategy = strategy_cls(strategy_cls.Params(**config.strategy.params), model)
    parts = index.protocol(target)
    parts["train"], holdout = strategy.holdout_split(parts["train"], config.seed)
    if holdout is not None:
        parts["holdout"] = holdout
    loaders, clip_counts, skipped = build_loaders(config, parts, sources)
    strategy.attach({k: loaders[k] for k in ("train", "holdout") if k in loaders})  # never val/target
    optimizer = torch.optim.Adam(model.parameters(), lr=config.optim.lr, weight_decay=config.optim.weight_decay)
    shuffle = loaders["train"].generator

    saved = None if force else load_checkpoint(folder.path)
    if saved is not None:
        epochs = folder.keep_metrics(restore(saved, model, optimizer, strategy, shuffle))
    else:
        folder.start(config.to_dict())
        epochs = []
    progress.start_run(folder.path.name, config.optim.epochs, len(loaders["train"]))
    progress.resume(len(epochs))
    for epoch in range(len(epochs) + 1, config.optim.epochs + 1):
        line = {"epoch": epoch, **train_epoch(model, strategy, optimizer, loaders["train"], config, epoch, progress)}
        line["val"] = evaluate(model, loaders["val"], config.device)
        line["target"] = evaluate(model, loaders["target"], config.device)
        folder.append_metrics(line)
        save_checkpoint(folder.path, epoch, model, optimizer, strategy, shuffle)
        epochs.append(line)
        progress.end_epoch(line)
    progress.end_run()

    summary = {
        "preset": config.preset, "dataset": config.data.dataset, "strategy": config.strategy.name,
        "target_domain": target, "source_domains": sources, "seed": config.seed,
        "config_hash": config.hash(target), "modalities": config.data.modalities,
        "classes": index.classes, "epochs": config.optim.epochs, "clips": clip_counts,
        "skipped_clips": skipped, "diagnostics": mean_diagnostics(epochs),
        "selection": {rule: {"epoch": e["epoch"], "val": e["val"], "target": e["target"]}
                      for rule, e in select_epochs(epochs).items()},
        "wall_s": round(time.perf_counter() - started, 2),
        "version": mmdg_bench.__version__, "config": config.to_dict(),
    }
    folder.finish(summary)
    remove_checkpoint(folder.path)
    return RunResult(folder.path, summary, reused=False)

