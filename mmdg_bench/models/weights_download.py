"""Download known weight files into the weights folder with the dataset downloader's `fetch`
(resumable `.part`, retries with back-off, atomic rename, Rich byte progress), then check each file's
sha256 against the prefix its name publishes (mmcv / torch.hub convention)."""

from pathlib import Path

from rich.console import Console

from mmdg_bench.data.download.http import fetch
from mmdg_bench.data.download.progress import TransferProgress
from mmdg_bench.errors import UserError, did_you_mean
from mmdg_bench.models.weights import KNOWN_FILES, PAPER_FILES, is_official, weights_dir


def download_weights(files: list[str] | None, folder_setting: str | None = None,
                     console: Console | None = None) -> list[Path]:
    """Fetch `files` (default: the paper's three) into the weights folder; return their paths."""
    names = files or [f.name for f in PAPER_FILES]
    for name in names:
        if name not in KNOWN_FILES:
            raise UserError(f"unknown weight file '{name}'{did_you_mean(name, KNOWN_FILES)}: "
                            f"`mmdg-bench weights list` shows the known ones")
    folder = weights_dir(folder_setting)
    paths = []
    with TransferProgress(console) as progress:
        for name in names:
            dest = folder / name
            existed = dest.exists()
            fetch(KNOWN_FILES[name].url, dest, progress=progress)
            check_downloaded(dest, existed)
            progress.note(f"{name}: {'already there' if existed else 'downloaded'} in {folder}")
            paths.append(dest)
    return paths


def check_downloaded(dest: Path, existed: bool) -> None:
    prefix = KNOWN_FILES[dest.name].sha256_prefix
    if prefix is None or is_official(dest):
        return
    if existed:
        raise UserError(f"{dest} is there but its sha256 does not start with the published {prefix}: delete it "
                        f"and run the command again")
    dest.unlink()
    raise UserError(f"the file downloaded as {dest.name} has a sha256 that does not start with the published "
                    f"{prefix}: it was deleted; try again later, or report the URL {KNOWN_FILES[dest.name].url}")
