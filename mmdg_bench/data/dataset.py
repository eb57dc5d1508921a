"""A torch Dataset over rows of the clip index: decoded, transformed tensors per modality.

Each modality has a loader with two steps. `prepare(row)` is deterministic (decode the clip's
frames or audio window, resize, and outside training the centre crop; normalisation; audio
features): its result is what the decoded-tensor cache keeps. `augment(tensor, generator)` is the
train-time random part (SimMMDG's random-resized crop + flip, spectrogram noise + band mask, SPEC
§2), applied on every access, so a cached clip still gets fresh augmentation each epoch.

Frame sampling is deterministic (centred in the clip's range), so it can be cached too.
"""

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset, get_worker_info

from mmdg_bench.data.decoding import FrameSource, frame_indices, read_audio
from mmdg_bench.data.index import MODALITY_PATH_COLUMNS, RANGE_COLUMNS, WHOLE_FILE
from mmdg_bench.data.transforms import (LogMel, LogSpectrogram, add_uniform_noise, centre_crop, frames_tensor,
                                        model_input, random_flip, random_resized_crop, resize, resize_short_side,
                                        zero_frequency_band)
from mmdg_bench.errors import MediaError, UserError, unknown

CHANNELS = {"video": 3, "flow": 2}


def _range_value(row, column: str) -> float:
    """The row's value in a range column; a column the index does not have means the whole file."""
    value = getattr(row, column, None)
    return WHOLE_FILE if value is None or pd.isna(value) else value


class FramesLoader:
    """RGB video (3 channels) or optical flow (u, v: 2 channels, one grey source each)."""

    def __init__(self, modality: str, cfg, train: bool):
        cfg.check(modality, CHANNELS[modality])
        self.modality, self.cfg = modality, cfg
        self.path_columns = MODALITY_PATH_COLUMNS[modality]
        self.range_columns = RANGE_COLUMNS[modality]
        self.augments = train and cfg.train_augment
        self.lengths: dict[str, int] = {}  # frame counts of whole-file clips: audio alignment reopens nothing

    def sampled_frames(self, source: FrameSource, row) -> list[int]:
        """The frames this clip's input is made of: `num_frames` at `stride`, centred in its range."""
        start, stop = (int(_range_value(row, c)) for c in self.range_columns)
        key = str(source.path)
        if start < 0 and key in self.lengths:
            first, length = 0, self.lengths[key]
        else:
            first, length = source.span(start, stop)
            if start < 0 and not source.is_folder:
                self.lengths[key] = length
        return [first + i for i in frame_indices(length, self.cfg.num_frames, self.cfg.stride)]

    def prepare(self, row) -> torch.Tensor:
        """Eval: the model input. Training with augmentation: the resized uint8 (T, C, H, W) frames
        that `augment` crops, 4x smaller in the cache than floats."""
        sources = [FrameSource(getattr(row, column)) for column in self.path_columns]
        numbers = self.sampled_frames(sources[0], row)
        grey = self.modality == "flow"
        decoded = [source.read(numbers, grey) for source in sources]
        frames = frames_tensor(decoded[0] if len(decoded) == 1 else np.concatenate(decoded, axis=-1))
        cfg = self.cfg
        frames = resize_short_side(frames, cfg.resize_short) if cfg.resize_short else resize(frames, cfg.size, cfg.size)
        if self.augments:
            return frames
        return model_input(centre_crop(frames, cfg.size), cfg.mean, cfg.std)

    def augment(self, frames: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        cfg = self.cfg
        frames = random_resized_crop(frames, cfg.size, cfg.crop_scale, cfg.crop_ratio, generator)
        frames = random_flip(frames, generator, invert_channel=0 if self.modality == "flow" else None)
        return model_input(frames, cfg.mean, cfg.std)


class AudioLoader:
    """Mono audio -> (1, freq, time) features: log-mel (CPU default) or SimMMDG's log spectrogram."""

    def __init__(self, cfg, video: FramesLoader, train: bool):
        cfg.check()
        self.cfg, self.video = cfg, video
        self.augments = train and (cfg.train_noise > 0 or cfg.band_mask_rows > 0)
        if cfg.features == "spectrogram":
            self.features = LogSpectrogram(cfg.sample_rate, cfg.n_fft, cfg.hop_length)
        else:
            self.features = LogMel(cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.n_mels)

    def window(self, row) -> tuple[float, float | None]:
        """(offset, stop) seconds: the clip's timestamps (EPIC), or from its first sampled video frame
        to the end of a whole-file clip (SimMMDG times that frame at 24 fps on HAC, SPEC §2)."""
        start, stop = (_range_value(row, c) for c in RANGE_COLUMNS["audio"])
        if start != WHOLE_FILE:
            return float(start), None if stop == WHOLE_FILE else float(stop)
        video_path = getattr(row, "video_path", None)
        if not self.cfg.frame_rate or video_path is None or not str(video_path).endswith(".mp4"):
            return 0.0, None
        return self.video.sampled_frames(FrameSource(video_path), row)[0] / self.cfg.frame_rate, None

    def prepare(self, row) -> torch.Tensor:
        cfg = self.cfg
        return self.features(read_audio(row.audio_path, cfg.sample_rate, cfg.seconds, *self.window(row)))

    def augment(self, spec: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.cfg.train_noise > 0:
            spec = add_uniform_noise(spec, self.cfg.train_noise, generator)
        if self.cfg.band_mask_rows > 0:
            spec = zero_frequency_band(spec, self.cfg.band_mask_rows, generator)
        return spec


def modality_loaders(modalities: list[str], data_config, train: bool) -> dict:
    """One loader per modality; audio shares the video loader, whose frame sampling it aligns to."""
    video = FramesLoader("video", data_config.video, train)
    makers = {"video": lambda: video, "flow": lambda: FramesLoader("flow", data_config.flow, train),
              "audio": lambda: AudioLoader(data_config.audio, video, train)}
    for modality in modalities:
        if modality not in makers:
            raise unknown("modality", modality, makers)
    return {m: makers[m]() for m in modalities}


class ClipDataset(Dataset):
    """Yields {modality: tensor, "label": int, "domain": int} for each clip row.

    `domain` is the index of the clip's domain in `domains` (the source domains), -1 otherwise.
    With `cache` the deterministic part of each clip is kept after its first decode; with `train`
    the configured train-time augmentation is applied on top at every access. Its randomness comes
    from a torch Generator seeded by the process's torch seed: the run's seed in the main process
    (num_workers=0), and in a DataLoader worker the per-worker, per-epoch seed the DataLoader draws
    from its own generator, so runs repeat for a seed with or without workers.
    """

    def __init__(self, clips: pd.DataFrame, modalities: list[str], data_config, domains: list[str],
                 cache: bool = False, train: bool = False):
        self.clips = clips.reset_index(drop=True)
        self.modalities = list(modalities)
        self.loaders = modality_loaders(self.modalities, data_config, train)
        missing = [c for m in self.modalities for c in MODALITY_PATH_COLUMNS[m] if c not in self.clips.columns]
        if missing:
            raise UserError(f"the clip index has no '{missing[0]}' column, so it cannot give modality "
                            f"'{missing[0].split('_')[0]}'; leave it out of data.modalities")
        self.domain_ids = {d: i for i, d in enumerate(domains)}
        self.cache: dict[int, dict] | None = {} if cache else None
        self._rng_owner: tuple | None = None
        self._rng: torch.Generator | None = None

    def __len__(self) -> int:
        return len(self.clips)

    def load(self, modality: str, row) -> torch.Tensor:
        """The deterministic tensor of one modality of one clip row (what the cache keeps)."""
        return self.loaders[modality].prepare(row)

    def decoded(self, i: int) -> dict:
        if self.cache is not None and i in self.cache:
            return self.cache[i]
        row = self.clips.iloc[i]
        item = {m: self.load(m, row) for m in self.modalities}
        item["label"] = int(row.label)
        item["domain"] = self.domain_ids.get(row.domain, -1)
        if self.cache is not None:
            self.cache[i] = item
        return item

    def generator(self) -> torch.Generator:
        """This process's generator, re-seeded whenever the process or its torch seed changes (a
        DataLoader worker gets a new seed every epoch)."""
        worker = get_worker_info()
        owner = (worker.id if worker else None, torch.initial_seed())
        if owner != self._rng_owner:
            self._rng = torch.Generator().manual_seed(owner[1])
            self._rng_owner = owner
        return self._rng

    def __getitem__(self, i: int) -> dict:
        item = self.decoded(i)
        augmenting = [m for m in self.modalities if self.loaders[m].augments]
        if not augmenting:
            return item
        generator = self.generator()
        return {**item, **{m: self.loaders[m].augment(item[m], generator) for m in augmenting}}

    def __getstate__(self) -> dict:
        # A worker started by spawn gets a copy without the generator; it seeds its own.
        return {**self.__dict__, "_rng_owner": None, "_rng": None}

    def drop_unreadable(self) -> list[str]:
        """Decode every clip once and drop those that fail; returns the failures' messages."""
        keep, failures = [], []
        for i in range(len(self)):
            try:
                self.decoded(i)
                keep.append(i)
            except MediaError as err:
                failures.append(str(err))
        if failures:
            cached = self.cache
            self.clips = self.clips.iloc[keep].reset_index(drop=True)
            self.cache = {new: cached[old] for new, old in enumerate(keep)} if cached is not None else None
        return failures
