"""Decode frames and audio samples: mp4 with decord (its own bundled FFmpeg), EPIC's JPEG frame
folders with PyAV (decord cannot open one image; PyAV decodes a 456x256 JPEG in about 2 ms and
reads only the clip's frames), wav with Python's `wave` (a clip's window is read without the rest
of a long per-video file).

Every failure becomes a `MediaError` naming the file. FFmpeg's own log lines go to /dev/null
so that a corrupt file ends in our one sentence, not in a screen of native messages.
"""

import contextlib
import math
import os
import re
import wave
from pathlib import Path

import numpy as np

from mmdg_bench.errors import MediaError

FRAME_NAME = "frame_{:010d}.jpg"  # EPIC-Kitchens frame folders; numbers start at 1
_FRAME_FILE = re.compile(r"frame_(\d+)\.jpg$")
_DECORD_PREFIX = re.compile(r"^\[[\d:]+\] \S+:\d+: ")  # "[03:14:21] src/audio/audio_reader.cc:136: "


@contextlib.contextmanager
def _native_stderr_silenced():
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def _decoding(path: Path):
    if not Path(path).is_file():
        raise MediaError(path, "file not found")
    try:
        with _native_stderr_silenced():
            yield
    except MediaError:
        raise
    except Exception as err:  # decord raises RuntimeError/DECORDError, PyAV av.error.* with FFmpeg's text
        text = str(err).strip()
        reason = _DECORD_PREFIX.sub("", text.splitlines()[0]) if text else type(err).__name__
        if "Can't find audio stream" in reason:
            raise MediaError(path, "the file has no audio stream (audio must come from a wav or an mp4 "
                                   "with sound)") from None
        raise MediaError(path, f"not decodable ({reason[:160]})") from None


def frame_indices(total: int, num_frames: int, stride: int, start: int | None = None) -> list[int]:
    """`num_frames` indices `stride` apart, centred in the clip unless `start` is given;
    indices past the end repeat the last frame (short clips)."""
    span = (num_frames - 1) * stride + 1
    if start is None:
        start = max(0, (total - span) // 2)
    return [min(start + i * stride, total - 1) for i in range(num_frames)]


class FrameSource:
    """The frames of one clip source: a video file (decord, opened once, on first use) or a folder
    of JPEGs (PyAV, one file per frame). Frames are 0-based indices in a video file and the file
    numbers in a folder (EPIC: from 1)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.is_folder = self.path.is_dir()
        self._reader = None

    def reader(self):
        if self._reader is None:
            import decord

            with _decoding(self.path):
                self._reader = decord.VideoReader(str(self.path), num_threads=1)
            if len(self._reader) == 0:
                raise MediaError(self.path, "the video has no frames")
        return self._reader

    def span(self, start: int, stop: int) -> tuple[int, int]:
        """(first frame, frame count) of a clip: [start, stop) when start >= 0, else the whole source."""
        if start >= 0:
            if stop <= start:
                raise MediaError(self.path, f"the clip's frame range [{start}, {stop}) is empty")
            return start, stop - start
        if self.is_folder:
            numbers = _folder_numbers(self.path)
            return numbers[0], len(numbers)
        return 0, len(self.reader())

    def read(self, numbers: list[int], grey: bool = False) -> np.ndarray:
        """(len(numbers), H, W, C) uint8 frames, C = 1 when `grey` (optical flow) else 3 (RGB)."""
        if self.is_folder:
            return _read_folder(self.path, numbers, grey)
        reader = self.reader()
        with _decoding(self.path):
            frames = reader.get_batch(numbers).asnumpy()
        # A flow video is grey: its decoded R, G and B are equal, so R is the flow component.
        return frames[..., :1] if grey else frames


def read_video(path: Path, num_frames: int, stride: int = 1, start: int | None = None) -> np.ndarray:
    """(num_frames, H, W, 3) uint8 RGB frames sampled from a whole video file."""
    source = FrameSource(path)
    return source.read(frame_indices(len(source.reader()), num_frames, stride, start))


def _folder_numbers(folder: Path) -> list[int]:
    numbers = sorted(int(m.group(1)) for m in map(_FRAME_FILE.match, os.listdir(folder)) if m)
    if not numbers:
        raise MediaError(folder, "the frame folder has no frame_%010d.jpg files")
    return numbers


def _read_jpeg(file: Path, pixel_format: str) -> np.ndarray:
    import av

    with _decoding(file), av.open(str(file)) as container:
        return next(container.decode(video=0)).to_ndarray(format=pixel_format)


def _read_folder(folder: Path, numbers: list[int], grey: bool) -> np.ndarray:
    frames = []
    for number in numbers:
        file = folder / FRAME_NAME.format(number)
        if not file.is_file():
            raise MediaError(file, f"frame {number} is missing from its folder (the clip reads frames "
                                   f"{numbers[0]} to {numbers[-1]})")
        frames.append(_read_jpeg(file, "gray" if grey else "rgb24"))
    try:
        stacked = np.stack(frames)
    except ValueError:
        raise MediaError(folder, "the frames of the clip differ in size") from None
    return stacked[..., None] if grey else stacked


def _wav_window(path: Path, offset: float, stop: float | None, seconds: float) -> tuple[np.ndarray, int] | None:
    """(mono float32 samples in [-1, 1), file rate) of a 16-bit PCM wav's window, at most `seconds`
    of it; None for any other wav (decord decodes those)."""
    try:
        with wave.open(str(path)) as wav:
            if wav.getsampwidth() != 2:
                return None
            rate, channels, total = wav.getframerate(), wav.getnchannels(), wav.getnframes()
            first = min(int(round(offset * rate)), total)
            last = total if stop is None else min(int(round(stop * rate)), total)
            last = min(last, first + math.ceil(seconds * rate) + 1)  # the rest would be cut off anyway
            wav.setpos(first)
            raw = wav.readframes(max(0, last - first))
    except (wave.Error, EOFError):
        return None
    raw = raw[:len(raw) - len(raw) % (2 * channels)]  # a truncated file can end inside a frame
    samples = np.frombuffer(raw, dtype="<i2").reshape(-1, channels).mean(axis=1, dtype=np.float32)
    return samples / np.float32(32768.0), rate


def _decoded_window(path: Path, sample_rate: int, offset: float, stop: float | None) -> np.ndarray:
    import decord

    with _decoding(path):
        samples = decord.AudioReader(str(path), sample_rate=sample_rate, mono=True)[:].asnumpy()[0]
    if samples.size == 0:
        raise MediaError(path, "the audio stream is empty")
    last = None if stop is None else int(round(stop * sample_rate))
    return samples[int(round(offset * sample_rate)):last]


def _resampled(samples: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    if rate == sample_rate:
        return samples
    import torch
    import torchaudio

    return torchaudio.functional.resample(torch.from_numpy(samples), rate, sample_rate).numpy()


def read_audio(path: Path | str, sample_rate: int, seconds: float, offset: float = 0.0,
               stop: float | None = None) -> np.ndarray:
    """Mono float32 samples at `sample_rate`: the first `seconds` of the window [offset, stop) (stop
    None: to the end), tiled when the window is shorter (SimMMDG, SPEC §2)."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "file not found")
    window = _wav_window(path, offset, stop, seconds) if path.suffix.lower() == ".wav" else None
    if window is None:
        samples = _decoded_window(path, sample_rate, offset, stop)
    else:
        samples = _resampled(*window, sample_rate)
    if samples.size == 0:
        raise MediaError(path, f"the audio has no samples from {offset:.2f} s to "
                               f"{'its end' if stop is None else f'{stop:.2f} s'}")
    want = int(round(sample_rate * seconds))
    return np.tile(samples, -(-want // samples.size))[:want].astype(np.float32)
