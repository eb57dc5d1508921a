"""HAC: one zip per domain from the Hugging Face Hub, arranged into the HAC layout (mmdg_bench/data/hac.py).

    <root>/{human,animal,cartoon}/videos/<name>.mp4
    <root>/{human,animal,cartoon}/audio/<name>.wav
    <root>/{human,animal,cartoon}/flow/<name>_flow_x.mp4, <name>_flow_y.mp4

The folders inside the zips are not documented, so a member's modality is told by its file name
alone (`*_flow_x.mp4`/`*_flow_y.mp4`: flow, other `*.mp4`: video, `*.wav`: audio) wherever it sits.
"""

from pathlib import Path, PurePosixPath

from mmdg_bench.data.download.extract import copy_members, open_zip, pick_members
from mmdg_bench.data.download.hub import hub_download
from mmdg_bench.data.download.progress import TransferProgress
from mmdg_bench.data.download.staging import downloads_folder, is_done, mark_done
from mmdg_bench.errors import UserError

HAC_ZIPS = {"human": "human.zip", "animal": "animal.zip", "cartoon": "cartoon.zip"}
HAC_MODALITIES = ("video", "audio", "flow")
MODALITY_FOLDER = {"video": "videos", "audio": "audio", "flow": "flow"}
MODALITY_PATTERN = {"video": "*.mp4", "audio": "*.wav", "flow": "*_flow_x.mp4 / *_flow_y.mp4"}


def hac_modality(name: str) -> str | None:
    """The modality of a file named `name`, or None for a file the layout has no place for."""
    lower = name.lower()
    if lower.endswith(("_flow_x.mp4", "_flow_y.mp4")):
        return "flow"
    if lower.endswith(".mp4"):
        return "video"
    if lower.endswith(".wav"):
        return "audio"
    return None


def hac_targets(zf, archive: Path, root: Path, domain: str, modalities: list[str]) -> dict[Path, object]:
    """Destination path -> zip member for every file of the wanted modalities; each must have at least one."""

    def target_of(name: str) -> PurePosixPath | None:
        modality = hac_modality(name)
        return PurePosixPath(domain, MODALITY_FOLDER[modality], name) if modality in modalities else None

    picked = pick_members(zf, archive, target_of)
    found = {target.parts[1] for target in picked}
    for modality in modalities:
        if MODALITY_FOLDER[modality] not in found:
            raise UserError(f"archive {archive} holds no {MODALITY_PATTERN[modality]} file, so the {modality} of "
                            f"the {domain} domain cannot be arranged; drop '{modality}' from --modalities or "
                            f"report the archive's layout")
    return {root / target: info for target, info in picked.items()}


def download_hac(root: Path, modalities: list[str], *, endpoint: str | None, progress: TransferProgress) -> None:
    for domain, filename in HAC_ZIPS.items():
        todo = [m for m in modalities if not is_done(root, filename, m)]
        if not todo:
            continue
        archive = hub_download(filename, downloads_folder(root) / "hub", endpoint=endpoint, progress=progress)
        with open_zip(archive) as zf:
            copy_members(zf, hac_targets(zf, archive, root, domain, todo), progress, f"unpack {filename}")
        for modality in todo:
            mark_done(root, filename, modality)
