"""Where a feature cache lives and what it is: one folder per (dataset, modality, backbone) whose name
ends in a hash of everything its features depend on, its shards, and its manifest.

    <features dir>/<dataset>-<modality>-<backbone>-<key hash>/
        key.json        what the features depend on (written first: a partial folder says what it is for)
        eval-00000.pt   {"keys": ["train/human/x.mp4", ...], "features": (n, D) float32}: the centre view
        train-00000.pt  {"keys": [...], "features": (n, K, D) float32}: K augmented views per training clip
        manifest.json   written last: shard names, clip counts, width D, the extraction rate

The key holds the dataset (and the synthetic set's settings), the modality, the backbone's name, the
sha256 of its weights file, that modality's pre-processing settings (for audio also the frame sampling
that times its window), the number of views, their augmentation seed and the precision. Change any of
them and the run looks for another folder. A clip is `<split>/<clip_id>`, unique in every index.
"""

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import torch

from mmdg_bench.data.dataset import timing_modality
from mmdg_bench.errors import UserError
from mmdg_bench.files import cache_dir, write_atomically, write_text_atomically
from mmdg_bench.models.encoders import encoder_spec
from mmdg_bench.models.weights import file_sha256, weights_path

FORMAT = 1  # bump when the shard layout changes: older caches become other folders
KEY, MANIFEST = "key.json", "manifest.json"
KINDS = ("eval", "train")
# What of the video's settings times a HAC clip's audio.
TIMING_SETTINGS = ("num_frames", "stride", "sampling", "past_end")


def clip_keys(clips) -> list[str]:
    return [f"{split}/{clip_id}" for split, clip_id in zip(clips.split, clips.clip_id)]


def weights_identity(config, modality: str) -> dict:
    """The backbone's name and its weights file's sha256 (random init: the seed it was drawn with)."""
    name, _, settings = encoder_spec(config.model.encoders[modality], f"model.encoders.{modality}")
    if not getattr(settings, "weights", None):
        return {"backbone": name, "weights": None, "init_seed": config.features.seed}
    path = weights_path(settings.weights, config.model.weights_dir)
    return {"backbone": name, "weights": path.name, "weights_sha256": file_sha256(path)}


def preprocessing(config, modality: str) -> dict:
    data = config.data
    settings = asdict(getattr(data, modality))
    if modality == "audio":  # a whole-file clip's audio window is timed by the sampled frames
        timing = timing_modality(data.modalities)
        settings["timed_by"] = {"modality": timing, **{k: getattr(getattr(data, timing), k) for k in TIMING_SETTINGS}}
    return settings


def cache_key(config, modality: str) -> dict:
    data = config.data
    return {"format": FORMAT, "dataset": data.dataset,
            "synth": asdict(data.synth) if data.dataset == "synth" else None,
            "modality": modality, **weights_identity(config, modality),
            "preprocessing": preprocessing(config, modality),
            "views": config.features.views, "augment_seed": config.features.seed, "precision": config.precision}


def features_root(config) -> Path:
    """`features.dir`, else `features/` in the cache folder the synthetic set uses ($MMDG_BENCH_CACHE)."""
    return Path(config.features.dir).expanduser() if config.features.dir else cache_dir() / "features"


def cache_folder(config, modality: str, key: dict | None = None) -> Path:
    key = key or cache_key(config, modality)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return features_root(config) / f"{key['dataset']}-{modality}-{key['backbone']}-{digest}"


def shard_name(kind: str, number: int) -> str:
    return f"{kind}-{number:05d}.pt"


def save_shard(path: Path, keys: list[str], features: torch.Tensor) -> None:
    write_atomically(path, lambda tmp: torch.save({"keys": keys, "features": features.contiguous()}, tmp))


def load_shard(path: Path) -> dict | None:
    """The shard's {"keys", "features"}, or None when it is absent or unreadable (a rebuild redoes it)."""
    try:
        shard = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError):
        return None
    ok = isinstance(shard, dict) and isinstance(shard.get("keys"), list) and torch.is_tensor(shard.get("features"))
    return shard if ok and len(shard["keys"]) == len(shard["features"]) else None


def write_json(path: Path, value: dict) -> None:
    write_text_atomically(path, json.dumps(value, indent=2, sort_keys=True))


def read_manifest(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def build_command(config) -> str:
    """The command that builds the caches a run of `config` reads."""
    root = f" --data-root {config.data.root}" if config.data.root else ""
    return f"mmdg-bench features build --preset {config.preset}{root} --views {config.features.views}"


def missing_cache(config, modality: str, folder: Path) -> UserError:
    return UserError(f"there is no finished feature cache for {modality} at {folder}: build it with "
                     f"`{build_command(config)}` and this run's other --set options")
