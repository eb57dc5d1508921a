"""The per-video wavs EPIC-Kitchens clips cut their audio from, made from the raw videos.

    mmdg-bench data extract-audio --data-root PATH

reads  <root>/videos/{train,test}/D1/P08_01.MP4   (`data download --dataset epic_kitchens --modalities raw_video`)
writes <root>/rgb/{train,test}/D1/P08_01.wav      16 kHz, mono, 16-bit PCM

SimMMDG's recipe (its generate_sound_files.py runs `ffmpeg -acodec pcm_s16le -ac 1 -ar 16000`), here
decoded and resampled with PyAV, so the Hugging Face audio zip is not the only source. The wavs land
where the simmmdg layout reads them, and where the mmdg-bench layout looks for a video whose
`<root>/audio/...` wav is absent. Resumable: each wav is written under a temporary name and renamed
once complete, so a wav that exists is complete and is skipped.
"""

import re
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mmdg_bench.data.decoding import media_errors
from mmdg_bench.errors import MediaError, UserError
from mmdg_bench.files import write_atomically

SAMPLE_RATE = 16000
RAW_VIDEO = re.compile(r"P\d\d_\d+\.MP4", re.IGNORECASE)


@dataclass
class ExtractReport:
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # complete from an earlier run (or the Hub zip)


def raw_videos(root: Path) -> list[tuple[Path, Path]]:
    """(raw video, its wav) pairs under `root`, sorted."""
    videos = sorted(p for p in (root / "videos").glob("*/*/*") if RAW_VIDEO.fullmatch(p.name))
    return [(video, root / "rgb" / video.relative_to(root / "videos").with_suffix(".wav")) for video in videos]


def write_mono_wav(video: Path, wav: Path) -> None:
    """Decode `video`'s first audio stream to 16 kHz mono 16-bit PCM in `wav`, written atomically."""
    wav.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(wav, lambda partial: decode_mono_wav(video, partial))


def decode_mono_wav(video: Path, partial: Path) -> None:
    import av

    with media_errors(video), av.open(str(video)) as container:
        if not container.streams.audio:
            raise MediaError(video, "the video has no audio stream")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        with wave.open(str(partial), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            for frame in container.decode(container.streams.audio[0]):
                for chunk in resampler.resample(frame):
                    out.writeframes(chunk.to_ndarray().tobytes())
            for chunk in resampler.resample(None):
                out.writeframes(chunk.to_ndarray().tobytes())


def extract_audio(root: Path | str, progress: Callable[[int, int, Path], None] | None = None) -> ExtractReport:
    """Write the missing per-video wavs of the raw EPIC videos under `root`; `progress(done, total,
    video)` is called before each video."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"data root {root} does not exist")
    pairs = raw_videos(root)
    if not pairs:
        raise UserError(f"no raw EPIC-Kitchens videos under {root / 'videos'} (expected "
                        f"<root>/videos/{{train,test}}/D1/P08_01.MP4); fetch them with `mmdg-bench data download "
                        f"--dataset epic_kitchens --root {root} --modalities raw_video`")
    report = ExtractReport()
    for done, (video, wav) in enumerate(pairs):
        if progress is not None:
            progress(done, len(pairs), video)
        if wav.is_file():
            report.skipped.append(wav)
            continue
        write_mono_wav(video, wav)
        report.written.append(wav)
    if progress is not None:
        progress(len(pairs), len(pairs), pairs[-1][0])
    return report
