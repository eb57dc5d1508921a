"""Download known weight files into the weights folder with the dataset downloader's `fetch`
(resumable `.part`, retries with back-off, atomic rename, Rich byte progress), then check each file's
sha256 against the prefix its name publishes (mmcv / torch.hub convention); a file with no published
checksum (VGGSound's H.pth.tar) is checked the one way left: its tensors must fit its encoder."""

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
            how = (f"sha256 starts with {KNOWN_FILES[name].sha256_prefix}" if KNOWN_FILES[name].sha256_prefix
                   else f"no published checksum: its tensors fit {KNOWN_FILES[name].encoder}")
            progress.note(f"{name}: {'already there' if existed else 'downloaded'} in {folder} ({how})")
            paths.append(dest)
    return paths


def check_downloaded(dest: Path, existed: bool) -> None:
    prefix = KNOWN_FILES[dest.name].sha256_prefix
    if prefix is None:
        check_structure(dest, existed)
        return
    if is_official(dest):
        return
    if existed:
        raise UserError(f"{dest} is there but its sha256 does not start with the published {prefix}: delete it "
                        f"and run the command again")
    dest.unlink()
    raise UserError(f"the file downloaded as {dest.name} has a sha256 that does not start with the published "
                    f"{prefix}: it was deleted; try again later, or report the URL {KNOWN_FILES[dest.name].url}")


MODALITY_OF_CHANNELS = {3: "video", 2: "flow", 1: "audio"}


def check_structure(dest: Path, existed: bool) -> None:
    """Load the file strictly into its encoder (on the CPU); a file that does not fit is not the published one."""
    from mmdg_bench.models.encoder_registry import ENCODERS
    from mmdg_bench.models.encoders import build_encoder

    encoder = KNOWN_FILES[dest.name].encoder
    channels = getattr(ENCODERS.get(encoder), "in_channels", 3)
    try:
        build_encoder({"name": encoder, "weights": str(dest)}, MODALITY_OF_CHANNELS.get(channels, "video"),
                      channels, 64)
    except UserError as err:
        if not existed:
            dest.unlink()
        kept = "delete it and run the command again" if existed else "it was deleted; try again later"
        raise UserError(f"{dest.name} is not the published file ({err}); {kept}") from None
