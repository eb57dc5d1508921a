"""Builders of tiny fixture datasets in the real on-disk layouts (tests only; the README's "EPIC-Kitchens
and HAC" section and mmdg_bench/data/{epic_kitchens,hac}.py describe them).

Every pixel and audio sample says where it came from, so a test can check that a loader read the
right frames and the right audio window:

- RGB frame number n (EPIC: from 1; an mp4: its 0-based frame index) is a grey frame of level
  `frame_level(n)`; flow frame k has u = `frame_level(k)` and v = 255 - u.
- audio sample s of a file is the ramp value (s mod 32768) / 32768 (`ramp_sample_index` inverts it).

Layouts written (names exactly as in the datasets):

    make_epic_simmmdg      <root>/rgb/{train,test}/D1/P08_01/frame_0000000001.jpg
                           <root>/rgb/{train,test}/D1/P08_01.wav
                           <root>/flow/{train,test}/D1/P08_01/{u,v}/frame_0000000001.jpg
                           <root>/MM-SADA_Domain_Adaptation_Splits/D1_{train,test}.csv (or .pkl)
    make_epic_mmdg_bench   <root>/video/{train,test}/D1/D1_P08_01_<start>_<stop>_<label>.mp4
                           <root>/flow/{train,test}/D1/D1_P08_01_<flow start>_<flow stop>_<label>_{u,v}.mp4
                           <root>/audio/{train,test}/D1/P08_01.wav
                           (legacy=True: the mp4 folders in <root>/EPIC-mp4/, as in MMDG-Bench's first commits)
                           <root>/MM-SADA_Domain_Adaptation_Splits/D1_{train,test}.csv (or .pkl)
    make_hac               <root>/HAC_Splits/HAC_{train,test}_only_{domain}.csv (CRLF, no header)
                           <root>/{domain}/videos/<name>.mp4, <root>/{domain}/audio/<name>.wav
                           <root>/{domain}/flow/<name>_flow_x.mp4, <name>_flow_y.mp4
                           (mmdg_bench=True: the domain folders inside HAC_Splits/, as MMDG-Bench keeps them)
    make_raw_epic_videos   <root>/videos/{train,test}/D1/P08_01.MP4 with a ramp audio stream
"""

import fractions
import math
from pathlib import Path

import av
import numpy as np
import pandas as pd

from mmdg_bench.data.synthetic import write_wav

EPIC_FPS = 60  # EPIC-Kitchens frame numbers count 60 fps frames
HAC_FPS = 24  # SimMMDG and MMDG-Bench assume 24 fps for HAC
SAMPLE_RATE = 16000
EPIC_PARTICIPANTS = {"D1": "P08", "D2": "P01", "D3": "P22"}
EPIC_SPLIT_DIR = "MM-SADA_Domain_Adaptation_Splits"
EPIC_VERBS = ["take", "put", "open", "close", "wash", "cut", "mix", "pour"]
HAC_DOMAINS = ["human", "animal", "cartoon"]
HAC_SLUGS = ["sleeping", "watching_tv", "eating", "drinking", "swimming", "running", "door_opening"]


def frame_level(number: int) -> int:
    """Grey level of frame `number`: distinct for 64 consecutive frames."""
    return (number * 4) % 256


def grey_frames(numbers, width: int, height: int, invert: bool = False) -> np.ndarray:
    """(len(numbers), height, width, 3) uint8 frames whose grey level encodes the frame number."""
    levels = np.array([frame_level(n) for n in numbers], dtype=np.uint8)
    if invert:
        levels = 255 - levels
    return np.broadcast_to(levels[:, None, None, None], (len(levels), height, width, 3)).copy()


def ramp_audio(num_samples: int) -> np.ndarray:
    """int16 samples whose value is their index mod 32768."""
    return (np.arange(num_samples) % 32768).astype(np.int16)


def ramp_sample_index(value: float) -> int:
    """The sample index (mod 32768) that a decoded float sample of `ramp_audio` came from."""
    return int(round(value * 32768)) % 32768


def write_mp4(path: Path, frames: np.ndarray, fps: int, audio: np.ndarray | None = None) -> Path:
    """An H.264 mp4 of `frames`, with a mono AAC stream of int16 `audio` at 16 kHz when given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps, options={"crf": "10", "preset": "ultrafast",
                                                                    "threads": "1"})
        video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        sound = None
        if audio is not None:
            sound = container.add_stream("aac", rate=SAMPLE_RATE)
            sound.layout = "mono"
        for frame in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        if sound is not None:
            chunk = av.AudioFrame.from_ndarray(audio[None, :], format="s16", layout="mono")
            chunk.sample_rate = SAMPLE_RATE
            container.mux(sound.encode(chunk))
            container.mux(sound.encode())
        container.mux(video.encode())
    return path


def write_jpeg_folder(folder: Path, frames: np.ndarray, first: int = 1) -> Path:
    """frame_%010d.jpg files numbered from `first` (EPIC frame folders), encoded with PyAV's mjpeg."""
    folder.mkdir(parents=True, exist_ok=True)
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = frames.shape[2], frames.shape[1]
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = fractions.Fraction(1, EPIC_FPS)
    encoder.options = {"qscale": "2"}
    encoder.open()
    for offset, frame in enumerate(frames):
        picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
        data = b"".join(bytes(packet) for packet in encoder.encode(picture))
        (folder / f"frame_{first + offset:010d}.jpg").write_bytes(data)
    return folder


def truncate(path: Path) -> Path:
    """Cut a file in half (a download interrupted mid-way)."""
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[:len(data) // 2])
    return path


# EPIC-Kitchens -------------------------------------------------------------------------------

def _timestamp(seconds: float) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{secs:05.2f}"


def epic_clips(domain: str, split: str, clips_per_split: int, clip_frames: int = 24, gap: int = 6,
               uid_start: int = 0) -> pd.DataFrame:
    """The split table of one domain and split: clips laid end to end (with gaps) in one video."""
    participant = EPIC_PARTICIPANTS[domain]
    video_id = f"{participant}_{1 if split == 'train' else 9:02d}"
    rows = []
    for i in range(clips_per_split):
        start = 1 + gap + i * (clip_frames + gap)
        stop = start + clip_frames
        label = i % len(EPIC_VERBS)
        rows.append({"uid": uid_start + i, "participant_id": participant, "video_id": video_id,
                     "narration": f"{EPIC_VERBS[label]} thing", "start_timestamp": _timestamp(start / EPIC_FPS),
                     "stop_timestamp": _timestamp(stop / EPIC_FPS), "start_frame": start, "stop_frame": stop,
                     "verb": EPIC_VERBS[label], "verb_class": label})
    return pd.DataFrame(rows)


def _video_frames(table: pd.DataFrame, gap: int) -> int:
    """Frames of the whole video: a little past the last clip."""
    return int(table.stop_frame.max()) + gap


def _write_split_table(root: Path, domain: str, split: str, table: pd.DataFrame, split_format: str) -> None:
    folder = root / EPIC_SPLIT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    if split_format == "pkl":
        table.to_pickle(folder / f"{domain}_{split}.pkl")
    else:
        table.to_csv(folder / f"{domain}_{split}.csv", index=False)


def _epic_tables(root: Path, clips_per_split: int, clip_frames: int, gap: int, domains, split_format: str):
    """Yield (domain, split, table) and write each split table on the way."""
    uid = 0
    for domain in domains:
        for split in ("train", "test"):
            table = epic_clips(domain, split, clips_per_split, clip_frames, gap, uid_start=uid)
            uid += len(table)
            _write_split_table(root, domain, split, table, split_format)
            yield domain, split, table


def _epic_audio(path: Path, total_frames: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, ramp_audio(int(math.ceil(total_frames / EPIC_FPS * SAMPLE_RATE))), SAMPLE_RATE)


def make_epic_simmmdg(root: Path, clips_per_split: int = 2, size: tuple[int, int] = (32, 24),
                      clip_frames: int = 24, gap: int = 6, domains=("D1", "D2", "D3"),
                      split_format: str = "csv") -> Path:
    """EPIC-Kitchens in SimMMDG's layout: RGB and flow JPEG folders, one wav per video."""
    root = Path(root)
    width, height = size
    for domain, split, table in _epic_tables(root, clips_per_split, clip_frames, gap, domains, split_format):
        video_id = table.video_id.iloc[0]
        total = _video_frames(table, gap)
        rgb = root / "rgb" / split / domain
        write_jpeg_folder(rgb / video_id, grey_frames(range(1, total + 1), width, height))
        _epic_audio(rgb / f"{video_id}.wav", total)
        flow = root / "flow" / split / domain / video_id
        flow_numbers = range(1, total // 2 + 1)  # TV-L1 flow: one frame per two RGB frames
        write_jpeg_folder(flow / "u", grey_frames(flow_numbers, width, height))
        write_jpeg_folder(flow / "v", grey_frames(flow_numbers, width, height, invert=True))
    return root


def flow_frames(start_frame: int, stop_frame: int) -> range:
    """Flow frame numbers of an RGB clip [start, stop): from ceil(start/2), (stop-start)/2 of them."""
    first = -(-start_frame // 2)
    return range(first, first + (stop_frame - start_frame) // 2)


def mmdg_bench_clip_name(domain: str, video_id: str, start: int, stop: int, label: int) -> str:
    return f"{domain}_{video_id}_{start}_{stop}_{label}"


def make_epic_mmdg_bench(root: Path, clips_per_split: int = 2, size: tuple[int, int] = (32, 24),
                         clip_frames: int = 24, gap: int = 6, domains=("D1", "D2", "D3"),
                         split_format: str = "csv", legacy: bool = False) -> Path:
    """EPIC-Kitchens in MMDG-Bench's layout: one mp4 per clip (frames start..stop-1 at 60 fps, so
    mp4 index i is EPIC frame start+i), u/v flow mp4s per clip named by their flow frame range, one
    wav per video."""
    root = Path(root)
    clips_folder = root / "EPIC-mp4" if legacy else root
    width, height = size
    for domain, split, table in _epic_tables(root, clips_per_split, clip_frames, gap, domains, split_format):
        for clip in table.itertuples(index=False):
            numbers = range(clip.start_frame, clip.stop_frame)
            name = mmdg_bench_clip_name(domain, clip.video_id, clip.start_frame, clip.stop_frame, clip.verb_class)
            write_mp4(clips_folder / "video" / split / domain / f"{name}.mp4", grey_frames(numbers, width, height),
                      EPIC_FPS)
            flow_numbers = flow_frames(clip.start_frame, clip.stop_frame)
            flow = clips_folder / "flow" / split / domain
            name = mmdg_bench_clip_name(domain, clip.video_id, flow_numbers.start, flow_numbers.stop, clip.verb_class)
            write_mp4(flow / f"{name}_u.mp4", grey_frames(flow_numbers, width, height), EPIC_FPS // 2)
            write_mp4(flow / f"{name}_v.mp4", grey_frames(flow_numbers, width, height, invert=True), EPIC_FPS // 2)
        _epic_audio(root / "audio" / split / domain / f"{table.video_id.iloc[0]}.wav", _video_frames(table, gap))
    return root


def make_raw_epic_videos(root: Path, seconds: dict[str, float], size: tuple[int, int] = (32, 24)) -> Path:
    """The raw EPIC videos `data download --modalities raw_video` fetches, <root>/videos/<split>/D1/<video>.MP4
    for each "split/video" key of `seconds` (e.g. "train/P08_01"), with a 16 kHz ramp audio stream."""
    root = Path(root)
    for key, length in seconds.items():
        split, video_id = key.split("/")
        domain = next(d for d, p in EPIC_PARTICIPANTS.items() if video_id.startswith(p))
        frames = grey_frames(range(max(1, int(length * 12))), *size)
        write_mp4(root / "videos" / split / domain / f"{video_id}.MP4", frames, 12,
                  audio=ramp_audio(int(round(length * SAMPLE_RATE))))
    return root


# HAC -----------------------------------------------------------------------------------------

def hac_clips(domain: str, split: str, clips_per_split: int, labels: int = len(HAC_SLUGS)) -> list[tuple[str, int]]:
    """(file name, label) rows, labels 0..labels-1 in turn. animal and cartoon reuse file names, as
    in HAC."""
    offset = 0 if split == "train" else clips_per_split
    prefix = "h_" if domain == "human" else ""
    return [(f"{prefix}{HAC_SLUGS[i % labels]}_{offset + i + 1}.mp4", i % labels) for i in range(clips_per_split)]


def make_hac(root: Path, clips_per_split: int = 2, with_flow: bool = True, size: tuple[int, int] = (32, 24),
             frames: int = 24, domains=tuple(HAC_DOMAINS), audio_in_mp4: bool = False,
             labels: int = len(HAC_SLUGS), short_flow_y: int = 0, mmdg_bench: bool = False) -> Path:
    """HAC's layout: mp4 per clip at 24 fps, a wav per clip as long as the video, x/y flow mp4s
    (`short_flow_y` frames fewer in each _flow_y.mp4, as often in the real set); `mmdg_bench`: the
    domain folders inside HAC_Splits/."""
    root = Path(root)
    width, height = size
    splits = root / "HAC_Splits"
    media = splits if mmdg_bench else root
    splits.mkdir(parents=True, exist_ok=True)
    audio = ramp_audio(int(round(frames / HAC_FPS * SAMPLE_RATE)))
    for domain in domains:
        (media / domain / "audio").mkdir(parents=True, exist_ok=True)
        for split in ("train", "test"):
            rows = hac_clips(domain, split, clips_per_split, labels)
            for name, _ in rows:
                stem = Path(name).stem
                write_mp4(media / domain / "videos" / name, grey_frames(range(frames), width, height), HAC_FPS,
                          audio=audio if audio_in_mp4 else None)
                write_wav(media / domain / "audio" / f"{stem}.wav", audio, SAMPLE_RATE)
                if with_flow:
                    flow = media / domain / "flow"
                    write_mp4(flow / f"{stem}_flow_x.mp4", grey_frames(range(frames), width, height), HAC_FPS)
                    write_mp4(flow / f"{stem}_flow_y.mp4",
                              grey_frames(range(frames - short_flow_y), width, height, invert=True), HAC_FPS)
            text = "".join(f"{name},{label}\r\n" for name, label in rows)
            (splits / f"HAC_{split}_only_{domain}.csv").write_text(text, newline="")
    return root
