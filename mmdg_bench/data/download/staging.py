"""Where downloads wait before they reach the dataset layout.

A file or folder appears at its final name only when it is complete and verified: until then it
lives at `<name>.part` (kept, so that the next run resumes it). Archives are kept under
`<root>/.downloads/`; a marker per (archive, modality) under `.downloads/done/` lets a rerun skip
what was already arranged without asking the network.
"""

from pathlib import Path


def partial_path(path: Path) -> Path:
    return path.with_name(path.name + ".part")


def downloads_folder(root: Path) -> Path:
    return root / ".downloads"


def done_marker(root: Path, archive: str, modality: str) -> Path:
    return downloads_folder(root) / "done" / f"{archive}.{modality}"


def is_done(root: Path, archive: str, modality: str) -> bool:
    return done_marker(root, archive, modality).is_file()


def mark_done(root: Path, archive: str, modality: str) -> None:
    marker = done_marker(root, archive, modality)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
