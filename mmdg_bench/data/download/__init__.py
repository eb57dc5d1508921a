"""Download the real datasets and arrange them into the layouts the indexes read (data/epic_kitchens.py, hac.py).

    mmdg-bench data download --dataset hac --root data/HAC --modalities video audio
    mmdg-bench data download --dataset epic_kitchens --root data/EPIC --modalities video audio flow

HAC and the EPIC audio come from the Hugging Face dataset hdong51/Human-Animal-Cartoon (endpoint:
`hf_endpoint`, else HF_ENDPOINT); the EPIC frames and videos from the official EPIC-55 release
(base URL: `base_url`, else MMDG_BENCH_EPIC_URL, else data.bris.ac.uk), verified against packaged
md5s. A run that stops (network, Ctrl-C) leaves only `.part` files behind and resumes from them;
what is complete is never fetched again. Archives wait in `<root>/.downloads/`.
"""

import os
from pathlib import Path

from rich.console import Console

from mmdg_bench.data.download.epic import EPIC_BASE_URL, EPIC_MODALITIES, EpicFile, download_epic, packaged_md5_table
from mmdg_bench.data.download.hac import HAC_MODALITIES, download_hac
from mmdg_bench.data.download.http import RetryPolicy, fetch
from mmdg_bench.data.download.progress import TransferProgress
from mmdg_bench.errors import UserError, unknown

DOWNLOAD_MODALITIES = {"hac": HAC_MODALITIES, "epic_kitchens": EPIC_MODALITIES}
DEFAULT_MODALITIES = ["video", "audio"]


def download(dataset: str, root: Path | str, modalities: list[str] | None = None, *, console: Console | None = None,
             base_url: str | None = None, hf_endpoint: str | None = None, retry: RetryPolicy = RetryPolicy(),
             epic_files: list[EpicFile] | None = None) -> None:
    """Fetch `modalities` (default: video and audio) of `dataset` into `root`; a rerun resumes or skips.

    `epic_files` replaces the packaged EPIC md5 table (tests use a small one).
    """
    modalities = checked_modalities(dataset, modalities or DEFAULT_MODALITIES)
    root = Path(root).expanduser()
    endpoint = hf_endpoint or os.environ.get("HF_ENDPOINT") or None
    try:
        with TransferProgress(console) as progress:
            if dataset == "hac":
                download_hac(root, modalities, endpoint=endpoint, progress=progress)
            else:
                download_epic(root, modalities, files=packaged_md5_table() if epic_files is None else epic_files,
                              base_url=epic_base_url(base_url), endpoint=endpoint, retry=retry, progress=progress)
    except OSError as err:  # network errors became UserErrors below: this is the local disk
        raise UserError(f"cannot write {err.filename or root} ({err.strerror or err}); free some disk space or "
                        f"choose another --root, then run the same command again") from None


def checked_modalities(dataset: str, modalities: list[str]) -> list[str]:
    if dataset not in DOWNLOAD_MODALITIES:
        raise unknown("dataset to download", dataset, DOWNLOAD_MODALITIES)
    for modality in modalities:
        if modality not in DOWNLOAD_MODALITIES[dataset]:
            raise unknown(f"modality of {dataset}", modality, DOWNLOAD_MODALITIES[dataset])
    return list(dict.fromkeys(modalities))


def epic_base_url(base_url: str | None) -> str:
    url = base_url or os.environ.get("MMDG_BENCH_EPIC_URL") or EPIC_BASE_URL
    if not url.startswith(("http://", "https://")):
        raise UserError(f"the EPIC-Kitchens base URL {url!r} (MMDG_BENCH_EPIC_URL) must start with http:// or https://")
    return url


__all__ = ["DOWNLOAD_MODALITIES", "EpicFile", "RetryPolicy", "download", "fetch"]
