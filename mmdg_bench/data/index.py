"""A dataset is a pandas table of clips, one row each: domain, split, label, paths and ranges per modality.

Leave-one-domain-out protocol (SimMMDG; the README's "Protocol"): train = the source domains' `train` split,
validation = the source domains' `test` split, target = the target domain's `target_splits`.

Column contract of `DatasetIndex.clips` (the loaders read exactly these):
- `clip_id, domain, split, label`; (clip_id, split) is unique (HAC has 24 human clips in both splits).
- `video_path`: an mp4 file or a folder of `frame_%010d.jpg`; `audio_path`: a wav file;
  `flow_u_path`, `flow_v_path`: each an mp4 file or a folder of `frame_%010d.jpg`.
- `start_frame, stop_frame`: the clip's frames in `video_path`, half-open [start, stop); in a frame
  folder they are the numbers in the file names (EPIC's frame_0000000001.jpg is frame 1).
  `flow_start, flow_stop`: the same for the flow frames. -1 in both: the whole file.
- `start_time, stop_time`: seconds into `audio_path`; NaN in both: the whole file.
Modality "flow" reads both flow paths. A path may name a file that does not exist: only a run or a
check that asks for that modality reads it.
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mmdg_bench.errors import UserError, unknown
from mmdg_bench.registry import Registry

CLIP_COLUMNS = ["clip_id", "domain", "split", "label"]
MODALITY_PATH_COLUMNS = {"video": ["video_path"], "audio": ["audio_path"], "flow": ["flow_u_path", "flow_v_path"]}
RANGE_COLUMNS = {"video": ["start_frame", "stop_frame"], "audio": ["start_time", "stop_time"],
                 "flow": ["flow_start", "flow_stop"]}
INDEX_COLUMNS = [*CLIP_COLUMNS, "video_path", "audio_path", "flow_u_path", "flow_v_path", "start_frame",
                 "stop_frame", "flow_start", "flow_stop", "start_time", "stop_time"]
WHOLE_FILE = -1  # frame range of a clip that is its whole file (NaN for the audio times)
FRAME_NAME = "frame_{:010d}.jpg"
MISSING_COLUMNS = ["clip_id", "domain", "split", "modality", "path"]


@dataclass
class DatasetIndex:
    clips: pd.DataFrame  # the column contract above
    domains: list[str]
    classes: list[str]
    target_splits: tuple[str, ...]  # HAC: train+test of the target; EPIC-Kitchens: test only

    def check_domain(self, domain: str) -> str:
        if domain not in self.domains:
            raise unknown("target domain", domain, self.domains)
        return domain

    def sources(self, target: str) -> list[str]:
        return [d for d in self.domains if d != self.check_domain(target)]

    def select(self, domains: list[str], splits: tuple[str, ...]) -> pd.DataFrame:
        rows = self.clips[self.clips.domain.isin(domains) & self.clips.split.isin(splits)]
        return rows.reset_index(drop=True)

    def protocol(self, target: str) -> dict[str, pd.DataFrame]:
        sources = self.sources(target)
        return {
            "train": self.select(sources, ("train",)),
            "val": self.select(sources, ("test",)),
            "target": self.select([target], self.target_splits),
        }

    def counts(self) -> pd.DataFrame:
        """Clips per domain x split (rows) and class (columns, in label order), zeros included."""
        names = pd.Categorical.from_codes(self.clips.label, categories=self.classes)
        table = pd.crosstab([self.clips.domain, self.clips.split], names, dropna=False)
        table.columns.name = "class"
        order = pd.MultiIndex.from_product([self.domains, ["train", "test"]], names=["domain", "split"])
        return table.reindex(order.intersection(table.index, sort=False))


DATASETS: Registry[Callable[..., DatasetIndex]] = Registry("dataset")


def load_index(data_config) -> DatasetIndex:
    """Build the clip index of `data_config.dataset`, restricted to the configured modalities."""
    index = DATASETS.get(data_config.dataset)(data_config)
    for modality in data_config.modalities:
        if modality not in MODALITY_PATH_COLUMNS or MODALITY_PATH_COLUMNS[modality][0] not in index.clips.columns:
            available = [m for m, columns in MODALITY_PATH_COLUMNS.items() if columns[0] in index.clips.columns]
            raise unknown(f"modality of dataset '{data_config.dataset}'", modality, available)
    if index.clips.empty:
        raise UserError(f"dataset '{data_config.dataset}' has no clips under {data_config.root}")
    return index


def check_root(root: Path | str | None, dataset: str, expected: str) -> Path:
    """The data root as a Path, or a UserError when it is not given or does not exist."""
    if root is None:
        raise UserError(f"dataset '{dataset}' needs a data root: pass --data-root PATH")
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"data root {root} does not exist (expected the {dataset} layout: {expected})")
    return root


class _Listing:
    """Folder listings, read once each: existence checks of many frames stay cheap."""

    def __init__(self):
        self.names: dict[str, frozenset[str]] = {}

    def entries(self, folder: str) -> frozenset[str]:
        if folder not in self.names:
            self.names[folder] = frozenset(os.listdir(folder)) if os.path.isdir(folder) else frozenset()
        return self.names[folder]

    def has(self, path: str) -> bool:
        folder, name = os.path.split(path)
        return name in self.entries(folder)


def first_missing(path: str, start: int, stop: int, listing: _Listing) -> str | None:
    """The first file of a clip that does not exist, or None. A frame folder is checked at the clip's
    first and last frame, or for any frame when the clip is the whole folder (a cheap test:
    decoding is `verify`'s job)."""
    if not os.path.isdir(path):
        return None if listing.has(path) else path
    if start == WHOLE_FILE:
        has_frames = any(name.startswith("frame_") for name in listing.entries(path))
        return None if has_frames else os.path.join(path, FRAME_NAME.format(1))
    for number in (start, max(start, stop - 1)):
        frame = os.path.join(path, FRAME_NAME.format(number))
        if not listing.has(frame):
            return frame
    return None


def _frame_range(clip, modality: str) -> tuple[int, int]:
    if modality == "audio":  # audio is always one file; its range is in seconds
        return WHOLE_FILE, WHOLE_FILE
    start, stop = (int(getattr(clip, column)) for column in RANGE_COLUMNS[modality])
    return start, stop


def missing_files(clips: pd.DataFrame, modalities: list[str]) -> pd.DataFrame:
    """One row per (clip, modality) whose file, or a frame of its frame folder, does not exist."""
    listing, rows = _Listing(), []
    for modality in modalities:
        for clip in clips.itertuples(index=False):
            for column in MODALITY_PATH_COLUMNS[modality]:
                path = first_missing(str(getattr(clip, column)), *_frame_range(clip, modality), listing)
                if path is not None:
                    rows.append((clip.clip_id, clip.domain, clip.split, modality, path))
                    break
    return pd.DataFrame(rows, columns=MISSING_COLUMNS)


def index_report(data_config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What `mmdg-bench data index` prints: clips per domain x split x class, and the (clip,
    modality) pairs of the configured modalities whose files are missing."""
    index = load_index(data_config)
    return index.counts(), missing_files(index.clips, data_config.modalities)
