"""Check that a dataset's files exist and decode, for every clip or a random sample of clips.

    mmdg-bench data verify --preset hac --data-root PATH --sample 200

Each clip is decoded as a run reads it (`ClipDataset.load`, the evaluation view; a training clip's
jittered frames come from the same files), so a file that passes here does not stop a run later; a
file that is absent is "missing", one that exists but fails is "corrupt".
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mmdg_bench.data.dataset import ClipDataset
from mmdg_bench.data.index import MISSING_COLUMNS, load_index, missing_files
from mmdg_bench.errors import MediaError, UserError

CORRUPT_COLUMNS = [*MISSING_COLUMNS, "reason"]


@dataclass
class VerifyReport:
    clips: int  # clips checked
    total: int  # clips in the index
    modalities: list[str]
    missing: pd.DataFrame  # MISSING_COLUMNS: one row per (clip, modality) with an absent file
    corrupt: pd.DataFrame  # CORRUPT_COLUMNS: one row per (clip, modality) whose file does not decode

    @property
    def ok(self) -> bool:
        return self.missing.empty and self.corrupt.empty


def sample_clips(clips: pd.DataFrame, sample: int | None, seed: int) -> pd.DataFrame:
    if sample is None:
        return clips
    if sample <= 0:
        raise UserError(f"--sample must be a positive number of clips, got {sample}")
    return clips.sample(n=min(sample, len(clips)), random_state=seed).reset_index(drop=True)


def verify(data_config, sample: int | None = None, seed: int = 0,
           progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Decode every configured modality of every clip (or of `sample` clips drawn with `seed`).

    `progress(done, total)` is called after each clip."""
    index = load_index(data_config)
    clips = sample_clips(index.clips, sample, seed)
    missing = missing_files(clips, data_config.modalities)
    known_missing = set(zip(missing.clip_id, missing.split, missing.modality))
    dataset = ClipDataset(clips, data_config.modalities, data_config, index.domains)
    found_missing, corrupt = [], []
    for i in range(len(dataset)):
        row = dataset.clips.iloc[i]
        for modality in data_config.modalities:
            if (row.clip_id, row.split, modality) in known_missing:
                continue
            try:
                dataset.load(modality, row)
            except MediaError as err:
                where = (row.clip_id, row.domain, row.split, modality, err.path)
                if Path(err.path).exists():
                    corrupt.append((*where, str(err)))
                else:  # e.g. a frame inside a frame folder, which the cheap check does not look at
                    found_missing.append(where)
        if progress is not None:
            progress(i + 1, len(dataset))
    # A file can fail twice for one clip (audio is timed from the video's frames): name it once.
    once = ["clip_id", "split", "path"]
    missing = pd.concat([missing, pd.DataFrame(found_missing, columns=MISSING_COLUMNS)], ignore_index=True)
    corrupt = pd.DataFrame(corrupt, columns=CORRUPT_COLUMNS)
    return VerifyReport(clips=len(dataset), total=len(index.clips), modalities=list(data_config.modalities),
                        missing=missing.drop_duplicates(once, ignore_index=True),
                        corrupt=corrupt.drop_duplicates(once, ignore_index=True))
