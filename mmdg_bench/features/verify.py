"""`mmdg-bench features verify`: is each modality's cache finished and whole for the current index?

Checks, per modality: the manifest exists and holds the key the config gives; every shard it lists
loads; the centre view of every clip and the K views of every training clip are there; shapes are
(D,) and (K, D) with the manifest's D and K; every number is finite.
"""

from dataclasses import dataclass, field
from pathlib import Path

import torch

from mmdg_bench.data import load_index
from mmdg_bench.features.cache import KINDS, cache_folder, cache_key, clip_keys, load_shard, read_manifest


@dataclass
class CacheCheck:
    modality: str
    folder: Path
    clips: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_shards(check: CacheCheck, manifest: dict, kind: str, wanted: list[str]) -> None:
    views, dim = manifest["views"], manifest["dim"]
    shape = (dim,) if kind == "eval" else (views, dim)
    found = set()
    for name in manifest["shards"][kind]:
        shard = load_shard(check.folder / name)
        if shard is None:
            check.problems.append(f"shard {name} is missing or unreadable")
            continue
        features = shard["features"]
        if tuple(features.shape[1:]) != shape:
            check.problems.append(f"shard {name} holds features of shape {tuple(features.shape[1:])}, not {shape}")
        elif not torch.isfinite(features).all():
            check.problems.append(f"shard {name} holds NaN or infinite features")
        found.update(shard["keys"])
    absent = [key for key in wanted if key not in found]
    if absent:
        check.problems.append(f"{len(absent)} clip(s) have no {kind} features, e.g. {absent[0]}")


def verify_features(config) -> list[CacheCheck]:
    index = load_index(config.data)
    clips = index.clips
    wanted = {"eval": clip_keys(clips), "train": clip_keys(clips[clips.split == "train"])}
    checks = []
    for modality in config.data.modalities:
        key = cache_key(config, modality)
        check = CacheCheck(modality, cache_folder(config, modality, key), len(clips))
        manifest = read_manifest(check.folder)
        if manifest is None:
            check.problems.append("not built or not finished (no manifest.json)")
        elif manifest.get("key") != key:
            check.problems.append("its manifest was written for other settings than this config's")
        else:
            for kind in KINDS:
                _check_shards(check, manifest, kind, wanted[kind])
        checks.append(check)
    return checks
