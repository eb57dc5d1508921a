"""Data loading speed (`mmdg-bench bench --part data`).

`bench_data`: clips/s of the training loader (ClipDataset + DataLoader over the `(index, epoch)` keys
of an EpochSampler, so clips get their training view; decoded-tensor cache off) against raw decord
decoding of the same frames and audio with the same DataLoader, batch size and workers. The goal:
the loader keeps >= 80% of the raw decoding throughput, i.e. pre-processing costs at most a quarter
of decoding.

`bench_paper_layouts`: clips/s of one loader process (= per worker) at the paper presets' size on
generated clips in both real layouts: EPIC-Kitchens' JPEG frame folders (456x256 frames, u/v flow
folders, a per-video wav) and HAC's mp4s (340x256, x/y flow mp4s, a wav per clip); RGB 32 frames at
224, flow 8 frames, 10 s of audio as a 257x1004 spectrogram. The frames are a moving texture with
noise, so they compress (and decode) like camera footage, not like flat test frames. With CUDA, EPIC's
JPEGs are also decoded with nvJPEG (`data.video.decode: gpu`).
Benchmarks, never timed tests.

    from rich.console import Console
    from mmdg_bench.bench.data import bench_data, bench_paper_layouts
    bench_data(Console(), workers=2)
    bench_paper_layouts(Console(), clips=6)
"""

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader, Dataset

from mmdg_bench.config import load_config
from mmdg_bench.data import ClipDataset, EpochSampler, load_index
from mmdg_bench.data.decoding import FRAME_NAME, FrameSource, frame_indices, read_audio
from mmdg_bench.data.index import INDEX_COLUMNS, WHOLE_FILE
from mmdg_bench.data.synthetic import generate, write_mp4, write_wav
from mmdg_bench.settings import SynthConfig

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
    """One full pass of a fresh loader (worker start-up included, as in an epoch); a training
    ClipDataset is read by `(index, epoch)` keys, as the engine reads it (an int is the evaluation view)."""
    shuffle = torch.Generator().manual_seed(seed)
    if getattr(dataset, "train", False):
        sampler = EpochSampler(len(dataset), shuffle=True, generator=shuffle)
        sampler.set_epoch(seed + 1)
        loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers)
    else:
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers, generator=shuffle)
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
# pre-processing (SimMMDG's, see README) scaled to the bench clips (short side 128 -> crop 112 instead of 256 -> 224).
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


# The paper presets' size, on both real layouts ----------------------------------------------

FRAME_WIDTH, FRAME_HEIGHT = 456, 256  # EPIC-Kitchens' frames; the HAC clips are made 340x256
RGB_FRAMES = 72  # a clip: 32 frames at stride 2 span 63
SAMPLE_RATE = 16000


def moving_texture(rng: np.random.Generator, count: int, width: int, height: int) -> np.ndarray:
    """(count, height, width, 3) uint8: a coarse random texture drifting 3 px a frame, plus sensor noise
    (float32 throughout: a paper-size clip is 25 million values)."""
    coarse = rng.uniform(0, 255, (height // 8 + 1, width // 8 + count, 3)).astype(np.float32)
    texture = coarse.repeat(8, axis=0).repeat(8, axis=1)
    frames = np.stack([texture[:height, 3 * t:3 * t + width] for t in range(count)])
    frames += rng.standard_normal(frames.shape, dtype=np.float32) * 6
    return np.clip(frames, 0, 255, out=frames).astype(np.uint8)


def _write_jpegs(folder: Path, frames: np.ndarray) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for number, frame in enumerate(frames, start=1):
        Image.fromarray(frame.squeeze()).save(folder / FRAME_NAME.format(number), quality=90)


def _clip_row(clip_id: str, domain: str, **paths_and_ranges) -> dict:
    row = {column: np.nan for column in INDEX_COLUMNS}
    row.update(clip_id=clip_id, domain=domain, split="train", label=0, start_frame=WHOLE_FILE, stop_frame=WHOLE_FILE,
               flow_start=WHOLE_FILE, flow_stop=WHOLE_FILE)
    row.update(paths_and_ranges)
    return row


def write_epic_frames_layout(root: Path, clips: int, seed: int = 0) -> pd.DataFrame:
    """SimMMDG's EPIC-Kitchens layout, one video per clip: rgb/train/D1/<video>/frame_*.jpg and <video>.wav,
    flow/train/D1/<video>/{u,v}/frame_*.jpg (half as many frames); the index rows that read them."""
    rng, rows = np.random.default_rng(seed), []
    for i in range(clips):
        video = root / "rgb" / "train" / "D1" / f"P01_{i:02d}"
        flow = root / "flow" / "train" / "D1" / video.name
        _write_jpegs(video, moving_texture(rng, RGB_FRAMES, FRAME_WIDTH, FRAME_HEIGHT))
        grey = moving_texture(rng, RGB_FRAMES // 2, FRAME_WIDTH, FRAME_HEIGHT)[..., :1]
        _write_jpegs(flow / "u", grey)
        _write_jpegs(flow / "v", 255 - grey)
        seconds = RGB_FRAMES / 60  # EPIC's 60 fps
        write_wav(video.with_suffix(".wav"), (rng.normal(0, 3000, int(seconds * SAMPLE_RATE))).astype(np.int16),
                  SAMPLE_RATE)
        rows.append(_clip_row(f"D1/{video.name}", "D1", video_path=str(video),
                              audio_path=str(video.with_suffix(".wav")),
                              flow_u_path=str(flow / "u"), flow_v_path=str(flow / "v"), start_frame=1,
                              stop_frame=RGB_FRAMES + 1, flow_start=1, flow_stop=RGB_FRAMES // 2 + 1,
                              start_time=0.0, stop_time=seconds))
    return pd.DataFrame(rows)[INDEX_COLUMNS]


def write_hac_layout(root: Path, clips: int, seed: int = 0) -> pd.DataFrame:
    """HAC's layout: human/videos/<name>.mp4 (24 fps), human/audio/<name>.wav, human/flow/<name>_flow_{x,y}.mp4."""
    rng, rows = np.random.default_rng(seed), []
    for folder in ("videos", "audio", "flow"):
        (root / "human" / folder).mkdir(parents=True, exist_ok=True)
    for i in range(clips):
        name = f"h_running_{i + 1}"
        video, audio = root / "human" / "videos" / f"{name}.mp4", root / "human" / "audio" / f"{name}.wav"
        write_mp4(video, moving_texture(rng, RGB_FRAMES, 340, FRAME_HEIGHT), 24)
        write_wav(audio, (rng.normal(0, 3000, RGB_FRAMES * SAMPLE_RATE // 24)).astype(np.int16), SAMPLE_RATE)
        grey = moving_texture(rng, RGB_FRAMES, 340, FRAME_HEIGHT)[..., :1].repeat(3, axis=3)
        flow = [root / "human" / "flow" / f"{name}_flow_{axis}.mp4" for axis in "xy"]
        write_mp4(flow[0], grey, 24)
        write_mp4(flow[1], 255 - grey, 24)
        rows.append(_clip_row(f"human/{name}.mp4", "human", video_path=str(video), audio_path=str(audio),
                              flow_u_path=str(flow[0]), flow_v_path=str(flow[1])))
    return pd.DataFrame(rows)[INDEX_COLUMNS]


LAYOUTS = {"EPIC-Kitchens frame folders": ("epic_kitchens_paper", write_epic_frames_layout),
           "HAC mp4": ("hac_paper", write_hac_layout)}
MODALITY_SETS = {"video": ["video"], "flow": ["flow"], "audio": ["audio"], "video + audio": ["video", "audio"]}


def layout_datasets(preset: str, clips: pd.DataFrame, gpu: bool) -> dict[str, ClipDataset]:
    """The preset's training loader over `clips`, one per modality set (and GPU JPEG decoding with `gpu`)."""
    datasets = {}
    for what, modalities in MODALITY_SETS.items():
        data = load_config(preset, [f"data.modalities=[{','.join(modalities)}]"]).data
        datasets[what] = ClipDataset(clips, modalities, data, ["D1", "human"], train=True)
    if gpu:
        data = load_config(preset, ["data.modalities=[video]", "data.video.decode=gpu", "data.num_workers=0"]).data
        datasets["video, nvJPEG on the GPU"] = ClipDataset(clips, ["video"], data, ["D1", "human"], train=True)
    return datasets


def bench_paper_layouts(console: Console, clips: int = 6, repeats: int = 2, batch_size: int = 2) -> dict[str, dict]:
    """Per layout: {modality set: clips/s of one loader process}; prints a table."""
    gpu = torch.cuda.is_available()
    scratch = Path(tempfile.mkdtemp(prefix="mmdg-layout-bench-"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a DataLoader worker
    speeds = {}
    try:
        for layout, (preset, write) in LAYOUTS.items():
            table = write(scratch / preset, clips)
            datasets = layout_datasets(preset, table, gpu and preset == "epic_kitchens_paper")
            speeds[layout] = clips_per_second(datasets, batch_size, 0, repeats)
    finally:
        torch.set_num_threads(threads)
        shutil.rmtree(scratch, ignore_errors=True)
    console.print(_layout_table(speeds, clips, repeats, gpu))
    return speeds


def _layout_table(speeds: dict, clips: int, repeats: int, gpu: bool) -> Table:
    table = Table(title=f"Loader clips/s per worker at the paper size (training view: RGB 32x224, flow 8x224, "
                        f"10 s spectrogram), {clips} generated clips per layout, 1 thread, {os.cpu_count()} CPUs, "
                        f"median of {repeats}" + ("" if gpu else "; no CUDA here: nvJPEG not measured"))
    sets = list(dict.fromkeys(name for layout in speeds.values() for name in layout))
    table.add_column("layout")
    for name in sets:
        table.add_column(name, justify="right")
    for layout, row in speeds.items():
        table.add_row(layout, *(f"{row[name]:.2f}" if name in row else "—" for name in sets))
    return table
