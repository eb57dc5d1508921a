"""The pre-trained backbones' weight files as functions: `mmdg-bench weights list|download|check`
(mmdg_bench/cli/weights.py) call these.

    from mmdg_bench import api
    api.weights_list()
    api.weights_check("H.pth.tar", encoder="vggsound_r18")
"""

import dataclasses
from pathlib import Path
from typing import NamedTuple

import pandas as pd
from rich.console import Console

from mmdg_bench.errors import UserError, did_you_mean
from mmdg_bench.models.weights import KNOWN_FILES
from mmdg_bench.models.weights import weights_dir as folder_of
from mmdg_bench.models.weights_download import MODALITY_OF_CHANNELS
from mmdg_bench.plugins import load_plugins


def weights_folder(weights_dir: Path | str | None = None) -> Path:
    """Where weight files are looked for: `weights_dir`, else $MMDG_BENCH_WEIGHTS, else ~/.cache/mmdg-bench/weights."""
    return folder_of(str(weights_dir) if weights_dir else None)


def weights_list(weights_dir: Path | str | None = None) -> pd.DataFrame:
    """Each known file: the encoder it loads into, its size and URL, whether it is in the weights folder,
    and what checks that it is the published file (`checked`)."""
    folder = weights_folder(weights_dir)
    return pd.DataFrame([{"file": known.name, "encoder": known.encoder, "MB": known.size_mb,
                          "found": (folder / known.name).is_file(), "checked": checked_by(known), "URL": known.url}
                         for known in KNOWN_FILES.values()],
                        columns=["file", "encoder", "MB", "found", "checked", "URL"])


def checked_by(known) -> str:
    """How a file is known to be the published one: the sha256 prefix its name publishes, else only that
    its tensors fit its encoder (no checksum is published for it)."""
    prefix = known.sha256_prefix
    return f"sha256 {prefix}" if prefix else "unverified: no published checksum; keys and shapes only"


def weights_download(files: list[str] | None = None, weights_dir: Path | str | None = None,
                     console: Console | None = None) -> list[Path]:
    """Download known files (default: the paper's three backbones) into the weights folder: resumable,
    atomic, sha256-checked; a rerun resumes."""
    from mmdg_bench.models.weights_download import download_weights

    return download_weights(list(files or []) or None, str(weights_dir) if weights_dir else None, console)


class WeightsCheck(NamedTuple):
    summary: str  # what loaded into which part of the encoder
    sha256_prefix: str | None  # the published prefix the file's sha256 matched, for a known file
    checked: str  # what shows it is the published file, or that nothing does


def weights_check(file: str, encoder: str | None = None, weights_dir: Path | str | None = None,
                  plugins: list[str] = ()) -> WeightsCheck:
    """Load a file strictly into its encoder (default: the one a known file belongs to; `plugins` may
    register it) and report what loaded; what does not load is a UserError, what loads with a caveat a
    warning."""
    from mmdg_bench.models.encoder_registry import ENCODERS
    from mmdg_bench.models.encoders import build_encoder

    load_plugins(plugins)
    known = KNOWN_FILES.get(Path(file).name)
    name = encoder or (known.encoder if known else None)
    if name is None:
        raise UserError(f"{file} is not a known file: say which encoder it belongs to with --encoder NAME")
    if name not in ENCODERS:
        raise UserError(f"unknown encoder '{name}'{did_you_mean(name, ENCODERS.names())}")
    entry = ENCODERS.get(name)
    if "weights" not in {f.name for f in dataclasses.fields(entry.Settings)}:
        raise UserError(f"encoder '{name}' is trained from scratch and loads no weight file: name a pretrained "
                        f"backbone with --encoder (`mmdg-bench weights list` shows each file's)")
    channels = getattr(entry, "in_channels", 3)
    built = build_encoder({"name": name, "weights": file}, MODALITY_OF_CHANNELS.get(channels, "video"),
                          channels, 64, str(weights_dir) if weights_dir else None)
    checked = checked_by(known) if known else "not a known file: only its keys and shapes are checked"
    return WeightsCheck(built.load_summary, known.sha256_prefix if known else None, checked)
