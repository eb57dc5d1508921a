"""Data loading speed (`mmdg-bench bench --data`): clips/s of the training loader (ClipDataset +
DataLoader, decoded-tensor cache off, train-time augmentation on) against raw decord decoding of
the same frames and audio with the same DataLoader, batch size and workers. The goal: the loader
keeps >= 80% of the raw decoding throughput, i.e. pre-processing costs at most a quarter of decoding.
A benchmark, never a timed test.

    from rich.console import Console
    from mmdg_bench.data_bench import bench_data
    bench_data(Console(), workers=2)
"""

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader, Dataset

from mmdg_bench.config import SynthConfig, load_config
from mmdg_bench.data import ClipDataset, load_index
from mmdg_bench.data.decoding import FrameSource, frame_indices, read_audio
from mmdg_bench.data.synthetic import generate

GOAL = 0.8  # share of raw decoding throughput the loader must keep
RAW = "raw decord decoding (video + audio)"


class RawDecode(Dataset):
    """The baseline: decord decodes each clip's sampled frames and its audio, nothing more."""

    def __init__(self, clips, num_frames: int, stride: int, sample_rate: int, seconds: float):
        self.paths = list(zip(clips.video_path, clips.audio_path))
        self.num_frames, self.stride, self.sample_rate, self.seconds = num_frames, stride, sample_rate, seconds

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict:
        import decord

        video_path, audio_path = self.paths[i]
        reader = decord.VideoReader(video_path, num_threads=1)
        frames = reader.get_batch(frame_indices(len(reader), self.num_frames, self.stride)).asnumpy()
        audio = decord.AudioReader(audio_path, sample_rate=self.sample_rate, mono=True)[:].asnumpy()
        return {"video": torch.from_numpy(frames), "audio": torch.from_numpy(audio)}


class LoaderDecodeOnly(RawDecode):
    """What the loader decodes, without its pre-processing: decord frames, wav windows with `wave`."""

    def __getitem__(self, i: int) -> dict:
        video_path, audio_path = self.paths[i]
        source = FrameSource(video_path)
        frames = source.read(frame_indices(source.span(-1, -1)[1], self.num_frames, self.stride))
        audio = read_audio(audio_path, self.sample_rate, self.seconds)
        return {"video": torch.from_numpy(frames), "audio": torch.from_numpy(audio)}


def epoch_seconds(dataset: Dataset, batch_size: int, workers: int, seed: int) -> float:
    """One full pass of a fresh loader (worker start-up included, as in an epoch)."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                        generator=torch.Generator().manual_seed(seed))
    start = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - start


def clips_per_second(datasets: dict[str, Dataset], batch_size: int, workers: int, repeats: int) -> dict:
    """Median clips/s of each dataset over `repeats` passes, taken in turns so that a busy spell of
    the machine slows them all alike."""
    times: dict[str, list[float]] = {name: [] for name in datasets}
    for repeat in range(repeats):
        for name, dataset in datasets.items():
            times[name].append(epoch_seconds(dataset, batch_size, workers, repeat))
    return {name: len(datasets[name]) / statistics.median(t) for name, t in times.items()}


# What the loader does on top of decoding in each row: the CPU defaults, and SimMMDG's reference
# pre-processing (SPEC §2) scaled to the bench clips (short side 128 -> crop 112 instead of 256 -> 224).
SETTINGS = {
    "loader, CPU defaults (resize, log-mel)": [],
    "loader, reference pre-processing": [
        "data.video.resize_short=128", "data.video.size=112", "data.video.train_augment=true",
        "data.audio.features=spectrogram", "data.audio.n_fft=512", "data.audio.hop_length=159",
        "data.audio.train_noise=0.05", "data.audio.band_mask_rows=9"],
}


def bench_data(console: Console, clips_per_class: int = 8, size: int = 160, frames: int = 48,
               num_frames: int = 16, stride: int = 2, seconds: float = 3.0, workers: int = 0,
               batch_size: int = 8, repeats: int = 3) -> list[dict]:
    """Time the loader settings of SETTINGS and the raw decoding on a generated HAC-layout set of
    3 domains x 4 classes x (`clips_per_class` + 1) clips (`size`px, `frames` frames, `seconds` of audio)."""
    synth = SynthConfig(train_per_class=clips_per_class, test_per_class=1, size=size, frames=frames, fps=24,
                        seconds=seconds)
    scratch = Path(tempfile.mkdtemp(prefix="mmdg-data-bench-"))
    threads = torch.get_num_threads()
    # DataLoader workers run torch with one thread; so does the main process here, so that the
    # loader's small tensor ops are timed alike with and without workers (on a busy machine more
    # threads only wait for each other).
    torch.set_num_threads(1)
    try:
        root = generate(synth, scratch / "set")
        common = [f"data.root={root}", f"data.video.num_frames={num_frames}", f"data.video.stride={stride}",
                  f"data.audio.seconds={seconds}"]
        clips = load_index(load_config("synth", common).data).clips
        datasets = {RAW: RawDecode(clips, num_frames, stride, 16000, seconds),
                    "the loader's decoding alone": LoaderDecodeOnly(clips, num_frames, stride, 16000, seconds)}
        for what, overrides in SETTINGS.items():
            data = load_config("synth", [*common, *overrides]).data
            datasets[what] = ClipDataset(clips, data.modalities, data, sorted(set(clips.domain)), train=True)
        speeds = clips_per_second(datasets, batch_size, workers, repeats)
    finally:
        torch.set_num_threads(threads)
        shutil.rmtree(scratch, ignore_errors=True)
    raw = speeds[RAW]
    rows = [{"what": what, "clips_per_s": speed, "share_of_raw": speed / raw} for what, speed in speeds.items()]
    console.print(_table(rows, len(clips), size, num_frames, workers, repeats))
    return rows


def _table(rows: list[dict], clips: int, size: int, num_frames: int, workers: int, repeats: int) -> Table:
    table = Table(title=f"Data loading, {clips} clips of {size}x{size}px, {num_frames} frames sampled, "
                        f"{workers} worker(s), {os.cpu_count()} CPUs, median of {repeats}")
    for column in ("what", "clips/s", "share of raw", f"goal >= {GOAL:.0%}"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for row in rows:
        met = "yes" if row["share_of_raw"] >= GOAL else "no"
        met = met if row["what"].startswith("loader,") else ""
        table.add_row(row["what"], f"{row['clips_per_s']:.1f}", f"{row['share_of_raw']:.0%}", met)
    return table
