"""EPIC-Kitchens-55 (participants P01, P08, P22) into the SimMMDG layout (mmdg_bench/data/epic_kitchens.py).

    <root>/rgb/{train,test}/D1/P08_01/frame_0000000001.jpg       video: RGB frame tars from data.bris
    <root>/flow/{train,test}/D1/P08_01/{u,v}/frame_0000000001.jpg  flow: TV-L1 flow tars from data.bris
    <root>/rgb/{train,test}/D1/P08_01.wav                         audio: EPIC-KITCHENS-audio.zip (Hub)
    <root>/videos/{train,test}/D1/P08_01.MP4                      raw_video: the original videos

D1 = P08, D2 = P01, D3 = P22 (MM-SADA). Which files exist, their split and their md5 come from the
packaged table `resources/epic55_md5.csv` (64 videos: 49 train, 15 test).
"""

import csv
import io
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mmdg_bench.data.download.extract import copy_members, extract_tar, open_zip, pick_members
from mmdg_bench.data.download.http import RetryPolicy, fetch
from mmdg_bench.data.download.hub import hub_download
from mmdg_bench.data.download.progress import TransferProgress
from mmdg_bench.data.download.staging import downloads_folder, is_done, mark_done
from mmdg_bench.errors import UserError

EPIC_BASE_URL = "https://data.bris.ac.uk/datasets/3h91syskeag572hl6tvuovwv4d/"
EPIC_AUDIO_ZIP = "EPIC-KITCHENS-audio.zip"
PARTICIPANT_DOMAIN = {"P08": "D1", "P01": "D2", "P22": "D3"}
EPIC_MODALITIES = ("video", "audio", "flow", "raw_video")
MODALITY_KIND = {"video": "rgb", "flow": "flow", "raw_video": "mp4"}  # audio comes from the Hub instead
REMOTE_PATH = re.compile(r"(?:frames_rgb_flow/(?P<kind>rgb|flow)|videos)/(?P<split>train|test)/"
                         r"(?P<participant>P\d\d)/(?P<video>P\d\d_\d+)\.(?:tar|MP4)")


@dataclass(frozen=True)
class EpicFile:
    """One downloadable file of the official EPIC-55 release."""

    remote_path: str  # relative to the base URL
    md5: str
    kind: str  # rgb | flow | mp4
    split: str
    participant: str
    video: str

    @property
    def domain(self) -> str:
        return PARTICIPANT_DOMAIN[self.participant]

    def destination(self, root: Path) -> Path:
        if self.kind == "mp4":
            return root / "videos" / self.split / self.domain / f"{self.video}.MP4"
        return root / self.kind / self.split / self.domain / self.video


def parse_md5_table(text: str) -> list[EpicFile]:
    """Rows `md5,file_remote_path,version` -> files, keeping only the participants of the MM-SADA split."""
    files = []
    for row in csv.DictReader(io.StringIO(text)):
        match = REMOTE_PATH.fullmatch(row["file_remote_path"])
        if match is None:
            raise UserError(f"md5 table row {row['file_remote_path']!r} is not an EPIC-55 frame tar or video path")
        if match["participant"] in PARTICIPANT_DOMAIN:
            files.append(EpicFile(remote_path=row["file_remote_path"], md5=row["md5"].lower(),
                                  kind=match["kind"] or "mp4", split=match["split"],
                                  participant=match["participant"], video=match["video"]))
    return files


def packaged_md5_table() -> list[EpicFile]:
    table = resources.files("mmdg_bench.data") / "resources" / "epic55_md5.csv"
    return parse_md5_table(table.read_text(encoding="utf-8"))


def frames_problem(folder: Path) -> str | None:
    if next(folder.glob("frame_*.jpg"), None) is None:
        return "has no frame_*.jpg at its top, so it is not an EPIC-55 RGB frame archive"
    return None


def flow_problem(folder: Path) -> str | None:
    if not ((folder / "u").is_dir() and (folder / "v").is_dir()):
        return "has no u/ and v/ folders at its top, so it is not an EPIC-55 flow archive"
    return None


LAYOUT_PROBLEM = {"rgb": frames_problem, "flow": flow_problem}


def fetch_epic_file(file: EpicFile, root: Path, base_url: str, retry: RetryPolicy,
                    progress: TransferProgress) -> None:
    """Download, verify and (for tars) unpack one file; its tar is deleted once unpacked."""
    dest = file.destination(root)
    if dest.exists():
        return
    url = base_url.rstrip("/") + "/" + file.remote_path
    if file.kind == "mp4":
        fetch(url, dest, md5=file.md5, retry=retry, progress=progress)
        return
    archive = downloads_folder(root) / "epic" / file.remote_path
    fetch(url, archive, md5=file.md5, retry=retry, progress=progress)
    progress.note(f"unpacking {file.remote_path}")
    extract_tar(archive, dest, LAYOUT_PROBLEM[file.kind])
    archive.unlink()


def audio_targets(zf, archive: Path, root: Path, files: list[EpicFile]) -> dict[Path, object]:
    """Destination -> member for the `<video>.wav` of every video in `files`; other wavs are ignored."""
    videos = {file.video: file for file in files}

    def video_of(name: str) -> str | None:
        stem, _, extension = name.rpartition(".")
        return stem if extension.lower() == "wav" and stem in videos else None

    picked = pick_members(zf, archive, video_of)
    missing = sorted(set(videos) - set(picked))
    if missing:
        raise UserError(f"archive {archive} has no audio for {len(missing)} of the {len(videos)} videos (e.g. "
                        f"{missing[0]}.wav); delete it and run the command again, or report it")
    return {root / "rgb" / videos[v].split / videos[v].domain / f"{v}.wav": info for v, info in picked.items()}


def download_epic_audio(root: Path, files: list[EpicFile], *, endpoint: str | None,
                        progress: TransferProgress) -> None:
    if is_done(root, EPIC_AUDIO_ZIP, "audio"):
        return
    archive = hub_download(EPIC_AUDIO_ZIP, downloads_folder(root) / "hub", endpoint=endpoint, progress=progress)
    with open_zip(archive) as zf:
        copy_members(zf, audio_targets(zf, archive, root, files), progress, f"unpack {EPIC_AUDIO_ZIP}")
    mark_done(root, EPIC_AUDIO_ZIP, "audio")


def download_epic(root: Path, modalities: list[str], *, files: list[EpicFile], base_url: str,
                  endpoint: str | None, retry: RetryPolicy, progress: TransferProgress) -> None:
    for modality in modalities:
        if modality == "audio":
            download_epic_audio(root, files, endpoint=endpoint, progress=progress)
            continue
        for file in files:
            if file.kind == MODALITY_KIND[modality]:
                fetch_epic_file(file, root, base_url, retry, progress)
