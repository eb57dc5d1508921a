"""`mmdg-bench features build`: run each modality's frozen backbone once over every clip and keep the
pooled features (mmdg_bench/features/cache.py says where and how).

Every clip gets its centre view (the evaluation view, `dataset[i]`); every clip of a `train` split also
gets K augmented views (`dataset[(i, view)]`, view 0..K-1, drawn from `features.seed`). The network runs
in eval mode (BatchNorm on its running statistics), as the `frozen` regime runs it, and its pooled
vector is stored before the regime's dropout and adapter, which train from the cache.
A shard that is already on disk with the expected clips is kept: a killed build resumes.

    mmdg-bench features build --preset hac_paper --data-root PATH --views 5 \
        --set data.source=features --set model.encoders.video.regime=frozen --set model.encoders.audio.regime=frozen
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from mmdg_bench.data import ClipDataset, load_index
from mmdg_bench.data.decoding import require_gpu_decoding, worker_start_method
from mmdg_bench.device import autocast, resolve_device, usable_workers
from mmdg_bench.errors import UserError
from mmdg_bench.features.cache import (
    KEY,
    MANIFEST,
    cache_folder,
    cache_key,
    clip_keys,
    load_shard,
    save_shard,
    shard_name,
    write_json,
)
from mmdg_bench.models.backbones.regime import BackboneEncoder
from mmdg_bench.models.encoders import build_encoder
from mmdg_bench.models.multimodal import IN_CHANNELS
from mmdg_bench.models.weights import check_weights_present
from mmdg_bench.seeding import derive_seed


class Views(Dataset):
    """One modality's tensor of the dataset at each key (an int: the centre view; (i, view): a training view)."""

    def __init__(self, dataset: ClipDataset, modality: str, keys: list):
        self.dataset, self.modality, self.keys = dataset, modality, keys

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.dataset[self.keys[i]][self.modality]


@dataclass
class Shard:
    path: Path
    clip_keys: list[str]
    items: list  # dataset keys: one per clip (eval), K per clip (train)
    kind: str  # "eval": features (n, D); "train": (n, K, D)


@dataclass
class BuildReport:
    folders: dict[str, Path] = field(default_factory=dict)
    views_computed: int = 0
    views_kept: int = 0  # in shards a previous build finished
    seconds: float = 0.0

    @property
    def clips_per_s(self) -> float:
        """Backbone views computed per second, decoding included."""
        return self.views_computed / self.seconds if self.seconds else 0.0


def extraction_network(config, modality: str) -> torch.nn.Module:
    """The modality's backbone network in eval mode; without a weights file, drawn from a seed the key holds."""
    torch.manual_seed(derive_seed(config.features.seed, "features", modality))
    encoder = build_encoder(config.model.encoders[modality], modality, IN_CHANNELS.get(modality, 1),
                            config.model.feature_dim, weights_dir=config.model.weights_dir)
    if not isinstance(encoder, BackboneEncoder):
        raise UserError(f"model.encoders.{modality} is not a pre-trained backbone, so it has no features to "
                        f"cache; the feature cache serves the backbones' `regime: frozen`")
    return encoder.network.eval()


@torch.no_grad()
def pooled_features(network, loader, device: str, precision: str, done: Callable[[int], None]) -> torch.Tensor:
    rows = []
    for batch in loader:
        with autocast(device, precision):
            # From pinned memory on a GPU (`build_modality`): the copy need not wait for the host.
            rows.append(network.top(network.trunk(batch.to(device, non_blocking=device.startswith("cuda"))))
                        .float().cpu())
        done(len(batch))
    return torch.cat(rows)


def plan_shards(folder: Path, clips, views: int, shard_clips: int) -> list[Shard]:
    keys = clip_keys(clips)
    train_rows = [i for i, split in enumerate(clips.split) if split == "train"]
    shards = []
    for start in range(0, len(keys), shard_clips):
        rows = range(start, min(start + shard_clips, len(keys)))
        shards.append(Shard(folder / shard_name("eval", len(shards)), [keys[i] for i in rows], list(rows), "eval"))
    for number, start in enumerate(range(0, len(train_rows), shard_clips)):
        rows = range(start, min(start + shard_clips, len(train_rows)))  # positions in the training dataset
        shards.append(Shard(folder / shard_name("train", number), [keys[train_rows[i]] for i in rows],
                            [(i, view) for i in rows for view in range(views)], "train"))
    return shards


def is_finished(shard: Shard) -> bool:
    saved = load_shard(shard.path)
    return saved is not None and saved["keys"] == shard.clip_keys


def build_modality(config, modality: str, index, device: str, report: BuildReport,
                   progress: Callable[[int, int], None]) -> Path:
    key = cache_key(config, modality)
    folder = cache_folder(config, modality, key)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".*.tmp-*"):  # left by a killed build
        stale.unlink(missing_ok=True)
    write_json(folder / KEY, key)
    clips = index.clips
    datasets = {"eval": ClipDataset(clips, [modality], config.data, index.domains),
                "train": ClipDataset(clips[clips.split == "train"], [modality], config.data, index.domains,
                                     train=True, seed=config.features.seed)}
    shards = plan_shards(folder, clips, config.features.views, config.features.shard_clips)
    todo = [s for s in shards if not is_finished(s)]
    report.views_kept += sum(len(s.items) for s in shards if s not in todo)
    total = sum(len(s.items) for s in todo)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        progress(done, total)

    progress(0, total)
    network = extraction_network(config, modality).to(device) if todo else None
    workers = usable_workers(config.data.num_workers)
    start = worker_start_method(config.data, [modality], workers)  # spawned, not forked, when they decode on the GPU
    started = time.perf_counter()
    for shard in todo:
        # Pinned batches on a GPU, as the training loaders (`engine.acceleration.loader_options`): page-locked
        # memory copies to the device faster and without blocking.
        loader = DataLoader(Views(datasets[shard.kind], modality, shard.items),
                            batch_size=config.features.batch_size, num_workers=workers, multiprocessing_context=start,
                            pin_memory=device.startswith("cuda"))
        features = pooled_features(network, loader, device, config.precision, advance)
        if shard.kind == "train":
            features = features.view(len(shard.clip_keys), config.features.views, -1)
        save_shard(shard.path, shard.clip_keys, features)
    report.seconds += time.perf_counter() - started
    report.views_computed += total
    write_manifest(folder, key, clips, shards, config, device)
    return folder


def write_manifest(folder: Path, key: dict, clips, shards: list[Shard], config, device: str) -> None:
    """The manifest, written last: it is what makes the folder a finished cache."""
    write_json(folder / MANIFEST, {
        "key": key, "dim": load_shard(shards[0].path)["features"].shape[-1], "clips": len(clips),
        "train_clips": int((clips.split == "train").sum()), "views": config.features.views,
        "shards": {kind: [s.path.name for s in shards if s.path.name.startswith(kind)] for kind in ("eval", "train")},
        "data_root": config.data.root, "device": device})


def build_features(config, progress: Callable[[str, int, int], None] = lambda modality, done, total: None
                   ) -> BuildReport:
    """Build (or finish) the cache of every modality of `config.data.modalities`; `progress(modality,
    done, total)` counts the views computed in this call."""
    check_weights_present(config.model, config.data.modalities)
    require_gpu_decoding(config.data)  # before any clip is read or CUDA started
    index = load_index(config.data)
    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    report = BuildReport()
    for modality in config.data.modalities:
        report.folders[modality] = build_modality(
            config, modality, index, device, report, lambda done, total, m=modality: progress(m, done, total))
    return report
