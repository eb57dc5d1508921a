"""Decode frames and audio samples: mp4 with decord (its own bundled FFmpeg), EPIC's JPEG frame
folders with PyAV (decord cannot open one image; PyAV decodes a 456x256 JPEG in about 2 ms and
reads only the clip's frames) or, with `data.video.decode: gpu` (`data.flow.decode`), with nvJPEG
through torchvision, all of a clip's frames in one batched call; wav with Python's `wave` (a clip's
window is read without the rest of a long per-video file).

GPU decoding runs in the loader's own process or in spawned workers (`worker_start_method`: CUDA cannot
be used in forked ones). Its RGB pixels may differ from PyAV's where the decoders upsample chroma
differently (torchvision's CPU decoder on noisy 4:2:0 frames: median 3 levels); grey (flow) frames agree.
Untested on a GPU: the development machines have none.

Every decoding failure becomes a `MediaError` naming the file. FFmpeg's own log lines go to /dev/null
so that a corrupt file ends in our one sentence, not in a screen of native messages. On the GPU only a
decoding failure does (torchvision reports nvJPEG's refusals as plain RuntimeErrors): a GPU out-of-memory
(a RuntimeError too), a CUDA runtime error or a CUDA that cannot start propagates as itself, so that
`data.on_corrupt: skip` never drops good clips for a GPU's fault.
"""

import contextlib
import math
import os
import re
import wave
from pathlib import Path

import numpy as np
import torch

from mmdg_bench.errors import MediaError, UserError

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
def media_errors(path: Path):
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


def latest_start(total: int, num_frames: int, stride: int) -> int:
    """The last index a clip can start at and still fit in `total` frames, measured as mmaction's
    SampleFrames (SimMMDG's sampler) measures a clip: num_frames x stride frames, the interval after
    its last frame included; 0 for a clip shorter than that (it then starts at its first frame)."""
    return max(0, total - num_frames * stride)


def frame_indices(total: int, num_frames: int, stride: int, start: int | None = None,
                  past_end: str = "loop") -> list[int]:
    """`num_frames` indices `stride` apart from `start`, by default centred as SampleFrames centres an
    evaluation clip. Indices past the end of a short clip wrap to its start (past_end="loop": SampleFrames'
    out_of_bound_opt='loop', SimMMDG's setting) or repeat its last frame (past_end="clamp").

    >>> frame_indices(24, 4, 2)
    [8, 10, 12, 14]
    >>> frame_indices(5, 4, 2), frame_indices(5, 4, 2, past_end="clamp")
    ([0, 2, 4, 1], [0, 2, 4, 4])
    """
    if start is None:
        start = (latest_start(total, num_frames, stride) + 1) // 2
    indices = [start + i * stride for i in range(num_frames)]
    if past_end == "loop":
        return [i % total for i in indices]
    return [min(i, total - 1) for i in indices]


class FrameSource:
    """The frames of one clip source: a video file (decord, opened once, on first use) or a folder
    of JPEGs (PyAV, one file per frame). Frames are 0-based indices in a video file and the file
    numbers in a folder (EPIC: from 1)."""

    def __init__(self, path: Path | str, decode: str = "cpu"):
        self.path = Path(path)
        self.is_folder = self.path.is_dir()
        self.decode = decode  # "gpu": a folder's JPEGs with nvJPEG
        self._reader = None

    def reader(self):
        if self._reader is None:
            import decord

            with media_errors(self.path):
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
        """(len(numbers), H, W, C) uint8 frames, C = 1 when `grey` (optical flow) else 3 (RGB).

        A video file shorter than the numbers asked for gives its last frame for them: HAC's
        `_flow_y.mp4` is often a few frames shorter than its `_flow_x.mp4`, whose length the clip
        was sampled by."""
        if self.is_folder:
            return _read_folder(self.path, numbers, grey, self.decode == "gpu")
        reader = self.reader()
        last = len(reader) - 1
        with media_errors(self.path):
            frames = reader.get_batch([min(n, last) for n in numbers]).asnumpy()
        return luma(frames) if grey else frames


# ITU-R BT.601 luma weights: the grey level a flow video's pixels were encoded from (Y of its YUV frames).
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def luma(frames: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 RGB -> (..., 1) uint8 grey, BT.601 luma (not one channel: decoding YUV to RGB
    leaves the three channels slightly apart)."""
    grey = np.rint(frames.astype(np.float32) @ LUMA_WEIGHTS)
    return np.clip(grey, 0, 255).astype(np.uint8)[..., None]


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

    with media_errors(file), av.open(str(file)) as container:
        return next(container.decode(video=0)).to_ndarray(format=pixel_format)


def _frame_files(folder: Path, numbers: list[int]) -> list[Path]:
    files = [folder / FRAME_NAME.format(number) for number in numbers]
    missing = next((n for n, file in zip(numbers, files) if not file.is_file()), None)
    if missing is not None:
        raise MediaError(folder / FRAME_NAME.format(missing), f"frame {missing} is missing from its folder (the "
                                                              f"clip reads frames {numbers[0]} to {numbers[-1]})")
    return files


class GpuOutOfMemory(UserError, torch.OutOfMemoryError):
    """The GPU ran out of memory while decoding: still a torch.OutOfMemoryError to whoever catches one, and
    one sentence (exit code 2) at the command line, never a damaged clip that `on_corrupt: skip` drops."""


def _read_jpegs_on_gpu(files: list[Path], grey: bool) -> list[np.ndarray]:
    """nvJPEG decoding of all the files in one batched call; uint8 arrays back on the CPU, (H, W) grey or
    (H, W, 3) RGB, as PyAV gives them."""
    from torchvision.io import ImageReadMode, decode_jpeg

    data = [torch.frombuffer(bytearray(file.read_bytes()), dtype=torch.uint8) for file in files]
    torch.cuda.init()  # a CUDA that cannot start here (a forked worker, no driver) fails as itself, not as a clip
    try:
        images = decode_jpeg(data, mode=ImageReadMode.GRAY if grey else ImageReadMode.RGB, device="cuda")
    except torch.OutOfMemoryError as err:  # a RuntimeError too: `on_corrupt: skip` would drop good clips silently
        raise GpuOutOfMemory(f"the GPU ran out of memory while nvJPEG decoded the frames of {files[0].parent} "
                             f"(GPU memory, not a damaged clip): free GPU memory, or lower data.num_workers or "
                             f"optim.batch_size") from err
    except torch.AcceleratorError:  # a CUDA runtime failure (C10_CUDA_CHECK), whatever the clip
        raise
    except RuntimeError as err:  # torchvision's TORCH_CHECK on nvJPEG's status: the data did not decode
        reason = str(err).splitlines()[0][:120]
        raise MediaError(files[0].parent, f"nvJPEG could not decode a frame ({reason})") from None
    return [(image[0] if grey else image.permute(1, 2, 0)).cpu().numpy() for image in images]


def gpu_decoded(data_config, modalities: list[str] | None = None) -> list[str]:
    """The frame modalities among `modalities` (default: the run's) whose JPEGs are decoded on the GPU."""
    modalities = data_config.modalities if modalities is None else modalities
    return [m for m in ("video", "flow") if m in modalities and getattr(data_config, m).decode == "gpu"]


def require_gpu_decoding(data_config) -> None:
    """Refuse `decode: gpu` for a run's frame modalities where it cannot work, before any clip is read."""
    wanted = gpu_decoded(data_config)
    if not wanted:
        return
    if not torch.cuda.is_available():
        raise UserError(f"'data.{wanted[0]}.decode' is gpu but CUDA is not available on this machine; "
                        f"set data.{wanted[0]}.decode=cpu")


def worker_start_method(data_config, modalities: list[str], num_workers: int) -> str | None:
    """How a loader's workers start: "spawn" when they decode on the GPU, else None (the platform's
    default, fork on Linux, which shares the parent's memory and starts in milliseconds).

    CUDA cannot run in a child forked from a process that has started it, and the engine and `features
    build` have, by then (the model is on the GPU): nvJPEG in a forked worker fails. A spawned worker
    starts a fresh interpreter with its own CUDA context (seconds to start, persistent over a run's
    epochs; some hundreds of MiB of GPU memory each)."""
    return "spawn" if num_workers > 0 and gpu_decoded(data_config, modalities) else None


def _read_folder(folder: Path, numbers: list[int], grey: bool, on_gpu: bool = False) -> np.ndarray:
    files = _frame_files(folder, numbers)
    if on_gpu:
        frames = _read_jpegs_on_gpu(files, grey)
    else:
        frames = [_read_jpeg(file, "gray" if grey else "rgb24") for file in files]
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

    with media_errors(path):
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
    None: to the end), tiled when the window is shorter (SimMMDG's audio loader: the first 10 s)."""
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
