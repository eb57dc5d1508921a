"""Decode video frames and audio samples with decord (its own bundled FFmpeg).

Every failure becomes a `MediaError` naming the file. FFmpeg's own log lines go to /dev/null
so that a corrupt file ends in our one sentence, not in a screen of native messages.
"""

import contextlib
import os
from pathlib import Path

import numpy as np

from mmdg_bench.errors import MediaError


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
    except Exception as err:  # decord raises RuntimeError/DECORDError with FFmpeg's text
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise MediaError(path, f"not decodable ({reason[:160]})") from None


def frame_indices(total: int, num_frames: int, stride: int, start: int | None = None) -> list[int]:
    """`num_frames` indices `stride` apart, centred in the clip unless `start` is given;
    indices past the end repeat the last frame (short clips)."""
    span = (num_frames - 1) * stride + 1
    if start is None:
        start = max(0, (total - span) // 2)
    return [min(start + i * stride, total - 1) for i in range(num_frames)]


def read_video(path: Path, num_frames: int, stride: int = 1, start: int | None = None) -> np.ndarray:
    """(num_frames, H, W, 3) uint8 RGB frames."""
    import decord

    with _decoding(path):
        reader = decord.VideoReader(str(path), num_threads=1)
        if len(reader) == 0:
            raise MediaError(path, "the video has no frames")
        return reader.get_batch(frame_indices(len(reader), num_frames, stride, start)).asnumpy()


def video_length(path: Path) -> int:
    import decord

    with _decoding(path):
        return len(decord.VideoReader(str(path), num_threads=1))


def read_audio(path: Path, sample_rate: int, seconds: float, offset: float = 0.0) -> np.ndarray:
    """Mono float32 samples at `sample_rate`: `seconds` from `offset`, tiled when shorter (SimMMDG)."""
    import decord

    with _decoding(path):
        samples = decord.AudioReader(str(path), sample_rate=sample_rate, mono=True)[:].asnumpy()[0]
    if samples.size == 0:
        raise MediaError(path, "the audio stream is empty")
    want = int(round(sample_rate * seconds))
    samples = samples[int(round(offset * sample_rate)):] if offset else samples
    if samples.size == 0:
        raise MediaError(path, f"the audio ends before {offset:.2f} s")
    reps = -(-want // samples.size)
    return np.tile(samples, reps)[:want].astype(np.float32)
