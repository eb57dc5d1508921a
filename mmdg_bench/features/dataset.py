"""Training from the feature cache (`data.source: features`): the cached pooled vectors as a dataset,
whose encoders are then the `frozen` regime's trainable part alone (`mmdg_bench.models.adapters`).

A FeatureDataset answers the keys ClipDataset answers: `dataset[i]` is clip i's centre view and, on a
training dataset, `dataset[(i, epoch)]` is its augmented view number (epoch - 1) mod K. Nothing is
decoded, so the loaders need no workers.
"""

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import Dataset

from mmdg_bench.errors import UserError
from mmdg_bench.features.cache import KINDS, cache_folder, clip_keys, load_shard, missing_cache, read_manifest
from mmdg_bench.models.backbones.regime import BackboneSettings
from mmdg_bench.models.encoders import encoder_spec


@dataclass
class FeatureCache:
    """One modality's finished cache folder; shards are read on first use."""

    folder: Path
    manifest: dict
    tables: dict = field(default_factory=dict)  # kind -> (row of each clip key, stacked features)

    @property
    def dim(self) -> int:
        return self.manifest["dim"]

    def table(self, kind: str) -> tuple[dict[str, int], torch.Tensor]:
        if kind not in self.tables:
            keys, parts = [], []
            for name in self.manifest["shards"][kind]:
                shard = load_shard(self.folder / name)
                if shard is None:
                    raise UserError(f"feature shard {self.folder / name} is missing or unreadable: check the cache "
                                    f"with `mmdg-bench features verify`, then rebuild it with `features build`")
                keys += shard["keys"]
                parts.append(shard["features"])
            self.tables[kind] = ({key: row for row, key in enumerate(keys)}, torch.cat(parts))
        return self.tables[kind]

    def rows(self, kind: str, keys: list[str]) -> torch.Tensor:
        """The features of these clips, in their order."""
        row_of, features = self.table(kind)
        absent = [key for key in keys if key not in row_of]
        if absent:
            raise UserError(f"clip {absent[0]} ({len(absent)} clip(s) in all) is not in the {kind} features at "
                            f"{self.folder}: the index changed since the build; run `mmdg-bench features build` again")
        return features[[row_of[key] for key in keys]]


def frozen_settings(config, modality: str) -> BackboneSettings:
    name, _, settings = encoder_spec(config.model.encoders[modality], f"model.encoders.{modality}")
    if getattr(settings, "regime", None) != "frozen":
        raise UserError(f"data.source=features trains the frozen regime's adapters only, but "
                        f"model.encoders.{modality} ({name}) is not in it: set model.encoders.{modality}.regime=frozen")
    return settings


def open_caches(config) -> dict[str, FeatureCache]:
    """The finished cache of each modality of the run; a missing one is a UserError naming `features build`."""
    caches = {}
    for modality in config.data.modalities:
        frozen_settings(config, modality)
        folder = cache_folder(config, modality)
        manifest = read_manifest(folder)
        if manifest is None:
            raise missing_cache(config, modality, folder)
        caches[modality] = FeatureCache(folder, manifest)
    return caches


class FeatureDataset(Dataset):
    """{modality: (D,) pooled vector, "label": int, "domain": int} per clip row (module docstring)."""

    def __init__(self, clips, caches: dict[str, FeatureCache], domains: list[str], train: bool = False):
        keys = clip_keys(clips)
        self.modalities = list(caches)
        self.views = {kind: {m: cache.rows(kind, keys) for m, cache in caches.items()}
                      for kind in KINDS if kind == "eval" or train}
        self.count = {m: cache.manifest["views"] for m, cache in caches.items()}
        self.labels = [int(label) for label in clips.label]
        domain_ids = {d: i for i, d in enumerate(domains)}
        self.domains = [domain_ids.get(d, -1) for d in clips.domain]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        if isinstance(key, tuple) and "train" in self.views:
            index, epoch = (int(k) for k in key)
            item = {m: views[index, (epoch - 1) % self.count[m]] for m, views in self.views["train"].items()}
        else:
            index = int(key[0] if isinstance(key, tuple) else key)
            item = {m: views[index] for m, views in self.views["eval"].items()}
        return {**item, "label": self.labels[index], "domain": self.domains[index]}
