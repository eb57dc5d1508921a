"""A torch Dataset over rows of the clip index: decoded, transformed tensors per modality.

A clip is asked for in one of two ways:

- `dataset[i]` (an int): the evaluation view, the same at every access: frames centred in the clip,
  the centre crop (`eval_size`), no augmentation. Validation and target datasets give only this;
  on a training dataset it is its rows seen without augmentation.
- `dataset[(i, epoch)]` on a training dataset (`train=True`): the training view. All of its
  randomness, SimMMDG's temporal jitter (a random start within the clip), random-resized crop and
  flip, spectrogram noise and band mask, is drawn from one generator seeded by
  (seed, "augment", epoch, i) (`mmdg_bench.seeding.stream`). A clip's augmentation depends on
  nothing else, so a resumed run repeats an uninterrupted one and no result depends on the number
  of loader workers. `EpochSampler` (sampling.py) yields these keys.

Each modality's loader first decodes (frames sampled from a start and resized; the audio window's
features), then finishes (crop, flip, normalisation; noise and band mask). With `cache` the decoded
part of a centred clip is kept, so a cached training clip still gets fresh augmentation at each
epoch; a jittered clip differs at each access, so the cache needs centred sampling.
"""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from mmdg_bench.data.decoding import FrameSource, frame_indices, latest_start, read_audio
from mmdg_bench.data.index import MODALITY_PATH_COLUMNS, RANGE_COLUMNS, WHOLE_FILE, missing_files
from mmdg_bench.data.transforms import (
    LogMel,
    LogSpectrogram,
    add_uniform_noise,
    centre_crop,
    frames_tensor,
    model_input,
    randint,
    random_flip,
    random_resized_crop,
    resize,
    resize_short_side,
    zero_frequency_band,
)
from mmdg_bench.errors import MediaError, UserError, unknown
from mmdg_bench.seeding import stream

CHANNELS = {"video": 3, "flow": 2}
FRAME_MODALITIES = ("video", "flow")  # audio is timed by the first of these that a run uses
EXTRACT_AUDIO = ("make the per-video wavs with `mmdg-bench data extract-audio --data-root {root}`, or set "
                 "data.on_corrupt=skip to leave out the clips of the videos without one")


def timing_modality(modalities) -> str:
    """The frames a whole-file clip's audio window is timed by: the run's first frame modality, else
    the video file alone (the feature cache keys on it, so it must follow the dataset exactly)."""
    return next((m for m in FRAME_MODALITIES if m in modalities), "video")


def _range_value(row, column: str) -> float:
    """The row's value in a range column; a column the index does not have means the whole file."""
    value = getattr(row, column, None)
    return WHOLE_FILE if value is None or pd.isna(value) else value


def per_video_audio(row) -> bool:
    """Whether the clip's audio is cut from a wav of its whole video (EPIC-Kitchens) by timestamps."""
    return _range_value(row, "start_time") != WHOLE_FILE


def missing_audio_hint(path: str) -> str:
    """What to do about a missing per-video wav `<root>/<rgb|audio>/<split>/<domain>/<video>.wav`."""
    return EXTRACT_AUDIO.format(root=Path(path).parents[3])


class FramesLoader:
    """RGB video (3 channels) or optical flow (u, v: 2 channels, one grey source each)."""

    def __init__(self, modality: str, cfg, train: bool):
        cfg.check(modality, CHANNELS[modality])
        self.modality, self.cfg = modality, cfg
        self.path_columns = MODALITY_PATH_COLUMNS[modality]
        self.range_columns = RANGE_COLUMNS[modality]
        self.augments = train and cfg.train_augment
        self.jitters = train and cfg.sampling == "jitter"
        self.lengths: dict[str, int] = {}  # frame counts of whole-file clips: audio timing reopens nothing

    def sampled_frames(self, source: FrameSource, row, generator: torch.Generator | None = None) -> list[int]:
        """The frames this clip's input is made of: `num_frames` at `stride`, centred in its range, or
        for a jittered training clip (a `generator` given) from a start drawn uniformly among those
        that fit the clip (SimMMDG's training-time SampleFrames); a clip too short for them wraps to
        its start (`past_end: loop`, SimMMDG's) or repeats its last frame (`clamp`)."""
        start, stop = (int(_range_value(row, c)) for c in self.range_columns)
        key = str(source.path)
        if start < 0 and key in self.lengths:
            first, length = 0, self.lengths[key]
        else:
            first, length = source.span(start, stop)
            if start < 0 and not source.is_folder:
                self.lengths[key] = length
        cfg, offset = self.cfg, None
        if generator is not None and self.jitters:
            offset = randint(latest_start(length, cfg.num_frames, cfg.stride), generator)
        return [first + i for i in frame_indices(length, cfg.num_frames, cfg.stride, offset, cfg.past_end)]

    def decode(self, row, generator: torch.Generator | None = None) -> tuple[torch.Tensor, list[int]]:
        """(the resized uint8 (T, C, H, W) frames, the frame numbers they were read at). Each source is
        read at the numbers sampled from the first (u for flow), clamped to its own length."""
        sources = [FrameSource(getattr(row, column), self.cfg.decode) for column in self.path_columns]
        numbers = self.sampled_frames(sources[0], row, generator)
        decoded = [source.read(numbers, grey=self.modality == "flow") for source in sources]
        frames = frames_tensor(decoded[0] if len(decoded) == 1 else np.concatenate(decoded, axis=-1))
        cfg = self.cfg
        frames = resize_short_side(frames, cfg.resize_short) if cfg.resize_short else resize(frames, cfg.size, cfg.size)
        return frames, numbers

    def finish(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The model input: a training clip (a `generator` given) gets SimMMDG's random-resized crop +
        flip when `train_augment`, else the centre crop at `size`; any other the centre crop at
        `eval_size` (SimMMDG crops flow to 256 at test time, 224 in training)."""
        cfg = self.cfg
        if generator is None:
            frames = centre_crop(frames, cfg.eval_size or cfg.size)
        elif self.augments:
            frames = random_resized_crop(frames, cfg.size, cfg.crop_scale, cfg.crop_ratio, generator)
            frames = random_flip(frames, generator, invert_channel=0 if self.modality == "flow" else None)
        else:
            frames = centre_crop(frames, cfg.size)
        return model_input(frames, cfg.mean, cfg.std)


class AudioLoader:
    """Mono audio -> (1, freq, time) features: log-mel (CPU default) or SimMMDG's log spectrogram."""

    def __init__(self, cfg, train: bool):
        cfg.check()
        self.cfg = cfg
        self.augments = train and (cfg.train_noise > 0 or cfg.band_mask_rows > 0)
        if cfg.features == "spectrogram":
            self.features = LogSpectrogram(cfg.sample_rate, cfg.n_fft, cfg.hop_length)
        else:
            self.features = LogMel(cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.n_mels)

    def timed_by_frames(self, row) -> bool:
        """Whether the clip's audio window comes from its sampled frames (a whole-file clip, HAC)."""
        return not per_video_audio(row) and self.cfg.frame_rate > 0

    def window(self, row, frames: list[int] | None = None) -> tuple[float, float | None]:
        """(offset, stop) seconds: the clip's timestamps (EPIC-Kitchens), or the span of its sampled
        frames, [first, last] / frame_rate (at least one frame long), as SimMMDG and MMDG-Bench cut HAC
        audio (24 fps); without frame timing, the whole file."""
        start, stop = (_range_value(row, c) for c in RANGE_COLUMNS["audio"])
        if start != WHOLE_FILE:
            return float(start), None if stop == WHOLE_FILE else float(stop)
        if frames is None or not self.timed_by_frames(row):
            return 0.0, None
        first, last = frames[0], max(frames[-1], frames[0] + 1)
        return first / self.cfg.frame_rate, last / self.cfg.frame_rate

    def decode(self, row, frames: list[int] | None = None) -> torch.Tensor:
        cfg = self.cfg
        if per_video_audio(row) and not Path(row.audio_path).is_file():
            raise MediaError(row.audio_path, f"file not found; {missing_audio_hint(row.audio_path)}")
        return self.features(read_audio(row.audio_path, cfg.sample_rate, cfg.seconds, *self.window(row, frames)))

    def finish(self, spec: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if generator is None or not self.augments:
            return spec
        if self.cfg.train_noise > 0:
            spec = add_uniform_noise(spec, self.cfg.train_noise, generator)
        if self.cfg.band_mask_rows > 0:
            spec = zero_frequency_band(spec, self.cfg.band_mask_rows, generator)
        return spec


def modality_loaders(modalities: list[str], data_config, train: bool) -> dict:
    makers = {"video": lambda: FramesLoader("video", data_config.video, train),
              "flow": lambda: FramesLoader("flow", data_config.flow, train),
              "audio": lambda: AudioLoader(data_config.audio, train)}
    for modality in modalities:
        if modality not in makers:
            raise unknown("modality", modality, makers)
    return {m: makers[m]() for m in modalities}


class ClipDataset(Dataset):
    """Yields {modality: tensor, "label": int, "domain": int} for each clip row (see the module doc
    for `dataset[i]` and `dataset[(i, epoch)]`).

    `domain` is the index of the clip's domain in `domains` (the source domains), -1 otherwise.
    `seed` is the trial seed the training view's augmentation is drawn from.
    """

    def __init__(self, clips: pd.DataFrame, modalities: list[str], data_config, domains: list[str],
                 cache: bool = False, train: bool = False, seed: int = 0):
        self.clips = clips.reset_index(drop=True)
        self.modalities = list(modalities)
        self.loaders = modality_loaders(self.modalities, data_config, train)
        missing = [c for m in self.modalities for c in MODALITY_PATH_COLUMNS[m] if c not in self.clips.columns]
        if missing:
            raise UserError(f"the clip index has no '{missing[0]}' column, so it cannot give modality "
                            f"'{missing[0].split('_')[0]}'; leave it out of data.modalities")
        # Audio is timed by the video frames, by the flow frames without video, by the video file alone.
        timing = timing_modality(self.modalities)
        self.timing = self.loaders.get(timing) or FramesLoader("video", data_config.video, train)
        sampled = [self.loaders[m] for m in FRAME_MODALITIES if m in self.modalities]
        if "audio" in self.modalities:
            sampled.append(self.timing)
        self.jitters = any(loader.jitters for loader in sampled)
        if cache and self.jitters:
            raise UserError("a decoded-clip cache keeps one decoding of each clip, so it needs centred "
                            "frame sampling (data.video.sampling / data.flow.sampling: centre)")
        self.domain_ids = {d: i for i, d in enumerate(domains)}
        self.cache: dict[int, dict] | None = {} if cache else None
        self.seed = seed
        self.train = train

    def __len__(self) -> int:
        return len(self.clips)

    def audio_frames(self, row, numbers: dict, generator: torch.Generator | None) -> list[int] | None:
        """The frame numbers the clip's audio window is timed by (None: it is not timed by frames)."""
        if not self.loaders["audio"].timed_by_frames(row):
            return None
        if self.timing.modality in numbers:
            return numbers[self.timing.modality]
        if self.timing.modality == "video" and not str(getattr(row, "video_path", "")).endswith(".mp4"):
            return None  # no video file to time the audio by
        return self.timing.sampled_frames(FrameSource(getattr(row, self.timing.path_columns[0])), row, generator)

    def load(self, modality: str, row) -> torch.Tensor:
        """One modality of one clip row as an evaluation clip (what `verify` decodes)."""
        loader = self.loaders[modality]
        if modality == "audio":
            return loader.finish(loader.decode(row, self.audio_frames(row, {}, None)))
        return loader.finish(loader.decode(row)[0])

    def decoded(self, i: int, generator: torch.Generator | None = None) -> dict:
        """The decoded (not yet finished) tensors of clip `i`, from the cache when they are in it."""
        if self.cache is not None and i in self.cache:  # a cache is refused for jittered sampling
            return self.cache[i]
        row = self.clips.iloc[i]
        item, numbers = {}, {}
        for modality in self.modalities:
            if modality in FRAME_MODALITIES:
                item[modality], numbers[modality] = self.loaders[modality].decode(row, generator)
        if "audio" in self.modalities:
            item["audio"] = self.loaders["audio"].decode(row, self.audio_frames(row, numbers, generator))
        item["label"] = int(row.label)
        item["domain"] = self.domain_ids.get(row.domain, -1)
        if self.cache is not None:
            self.cache[i] = item
        return item

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        if isinstance(key, tuple):
            index, epoch = key
            generator = stream(self.seed, "augment", int(epoch), int(index)) if self.train else None
        else:
            index, generator = key, None
        item = self.decoded(int(index), generator)
        return {**item, **{m: self.loaders[m].finish(item[m], generator) for m in self.modalities}}

    def _keep(self, keep: list[int]) -> None:
        cached = self.cache
        self.clips = self.clips.iloc[keep].reset_index(drop=True)
        if cached is not None:
            self.cache = {new: cached[old] for new, old in enumerate(keep) if old in cached}

    def absent_files(self) -> pd.DataFrame:
        """One row per (clip, modality) whose file does not exist (index.MISSING_COLUMNS plus `row`,
        the clip's position), from folder listings: cheap, nothing is decoded."""
        absent = missing_files(self.clips, self.modalities)
        position = {key: i for i, key in enumerate(zip(self.clips.clip_id, self.clips.split))}
        return absent.assign(row=[position[key] for key in zip(absent.clip_id, absent.split)])

    def require_files(self) -> None:
        """Raise a MediaError naming the first missing file (and how many clips miss one), before any
        decoding: a run with data.on_corrupt=error stops here, not in the middle of an epoch."""
        absent = self.absent_files()
        if absent.empty:
            return
        first = absent.iloc[0]
        clips = absent.row.nunique()
        if first.modality == "audio" and per_video_audio(self.clips.iloc[first.row]):
            hint = missing_audio_hint(first.path)
        else:
            hint = "set data.on_corrupt=skip to leave out the clips without their files"
        raise MediaError(first.path, f"file not found ({clips} clip(s) miss a file); {hint}")

    def drop_unreadable(self, report=lambda done, total: None) -> list[str]:
        """Drop the clips whose files are missing or do not decode; returns one message per dropped clip;
        `report(done, total)` follows the clips.

        Missing files are found first, without decoding; a missing EPIC-Kitchens wav, which all the
        clips of its video share, gets one warning naming it and the number of its clips."""
        absent = self.absent_files()
        failures = {}
        for path, group in absent.groupby("path", sort=False):
            rows = sorted(set(group.row))
            if per_video_audio(self.clips.iloc[rows[0]]) and (group.modality == "audio").all():
                warnings.warn(f"{path} is missing: leaving out its {len(rows)} clip(s)", stacklevel=2)
            failures.update({i: str(MediaError(path, "file not found")) for i in rows if i not in failures})
        keep = []
        for i in range(len(self)):
            if i not in failures:
                try:
                    self.decoded(i)
                    keep.append(i)
                except MediaError as err:
                    failures[i] = str(err)
            report(i + 1, len(self))
        if failures:
            self._keep(keep)
        return [failures[i] for i in sorted(failures)]
