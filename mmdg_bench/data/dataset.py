"""A torch Dataset over rows of the clip index: decoded, transformed tensors per modality."""

import pandas as pd
import torch
from torch.utils.data import Dataset

from mmdg_bench.data.decoding import read_audio, read_video
from mmdg_bench.data.transforms import LogMel, video_to_tensor
from mmdg_bench.errors import MediaError


class ClipDataset(Dataset):
    """Yields {modality: tensor, "label": int, "domain": int} for each clip row.

    `domain` is the index of the clip's domain in `domains` (the source domains), -1 otherwise.
    With `cache` the transformed tensors are kept after their first decode (no random
    augmentation happens after decoding, so a cached tensor equals a fresh one).
    """

    def __init__(self, clips: pd.DataFrame, modalities: list[str], data_config, domains: list[str],
                 cache: bool = False):
        self.clips = clips.reset_index(drop=True)
        self.modalities = list(modalities)
        self.cfg = data_config
        self.domain_ids = {d: i for i, d in enumerate(domains)}
        self.log_mel = LogMel(data_config.audio.sample_rate, data_config.audio.n_fft,
                              data_config.audio.hop_length, data_config.audio.n_mels)
        self.cache: dict[int, dict] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.clips)

    def load(self, modality: str, row) -> torch.Tensor:
        path = getattr(row, f"{modality}_path")
        if modality == "video":
            v = self.cfg.video
            return video_to_tensor(read_video(path, v.num_frames, v.stride), v.size, v.mean, v.std)
        if modality == "audio":
            a = self.cfg.audio
            return self.log_mel(read_audio(path, a.sample_rate, a.seconds))
        raise MediaError(path, f"no loader for modality '{modality}'")

    def __getitem__(self, i: int) -> dict:
        if self.cache is not None and i in self.cache:
            return self.cache[i]
        row = self.clips.iloc[i]
        item = {m: self.load(m, row) for m in self.modalities}
        item["label"] = int(row.label)
        item["domain"] = self.domain_ids.get(row.domain, -1)
        if self.cache is not None:
            self.cache[i] = item
        return item

    def drop_unreadable(self) -> list[str]:
        """Decode every clip once and drop those that fail; returns the failures' messages."""
        keep, failures = [], []
        for i in range(len(self)):
            try:
                self[i]
                keep.append(i)
            except MediaError as err:
                failures.append(str(err))
        if failures:
            cached = self.cache
            self.clips = self.clips.iloc[keep].reset_index(drop=True)
            self.cache = {new: cached[old] for new, old in enumerate(keep)} if cached is not None else None
        return failures
