"""`mmdg-bench weights`: the pre-trained backbones' files, where they are looked for, download and check.

    mmdg-bench weights list
    mmdg-bench weights download                       # the paper's three files
    mmdg-bench weights download r2plus1d_18-91a641e6.pth
    mmdg-bench weights check H.pth.tar --encoder vggsound_r18
"""

import warnings
from pathlib import Path

import typer
from rich.table import Table

from mmdg_bench.cli import command_group, console, errors, user_errors
from mmdg_bench.errors import UserError, did_you_mean

weights_app = command_group("Weight files of the pre-trained backbones: list, download, check.",
                            no_args_is_help=True)
WEIGHTS_DIR = typer.Option(None, "--weights-dir",
                           help="Folder of weight files; default: $MMDG_BENCH_WEIGHTS or ~/.cache/mmdg-bench/weights.")
MODALITY_OF_CHANNELS = {3: "video", 2: "flow", 1: "audio"}


@weights_app.command("list")
@user_errors
def weights_list(weights_dir: Path = WEIGHTS_DIR):
    """Each known file: the encoder it loads into, its size and URL, and whether it is in the weights folder."""
    from mmdg_bench.models.weights import KNOWN_FILES, weights_dir as folder_of

    folder = folder_of(str(weights_dir) if weights_dir else None)
    table = Table(title=f"Weight files (looked for in {folder})")
    for column in ("file", "encoder", "MB", "found", "URL"):
        table.add_column(column, justify="right" if column == "MB" else "left")
    for known in KNOWN_FILES.values():
        found = "yes" if (folder / known.name).is_file() else "no"
        table.add_row(known.name, known.encoder, f"~{known.size_mb:g}", found, known.url)
    console.print(table)
    console.print("`mmdg-bench weights download` fetches the paper's three files; name others to fetch them.")


@weights_app.command("download")
@user_errors
def weights_download(
    files: list[str] = typer.Argument(None, help="Known file names; default: the paper's three backbones."),
    weights_dir: Path = WEIGHTS_DIR,
):
    """Download known files into the weights folder: resumable, atomic, sha256-checked; a rerun resumes."""
    from mmdg_bench.models.weights_download import download_weights

    download_weights(files or None, str(weights_dir) if weights_dir else None, console)


@weights_app.command("check")
@user_errors
def weights_check(
    file: str = typer.Argument(..., help="A file name in the weights folder, or a path."),
    encoder: str = typer.Option(None, help="Encoder to load it into; default: the one a known file belongs to."),
    weights_dir: Path = WEIGHTS_DIR,
):
    """Load a file strictly into its encoder and report what loaded."""
    from mmdg_bench.models.encoder_registry import ENCODERS
    from mmdg_bench.models.encoders import build_encoder
    from mmdg_bench.models.weights import KNOWN_FILES

    known = KNOWN_FILES.get(Path(file).name)
    name = encoder or (known.encoder if known else None)
    if name is None:
        raise UserError(f"{file} is not a known file: say which encoder it belongs to with --encoder NAME")
    if name not in ENCODERS:
        raise UserError(f"unknown encoder '{name}'{did_you_mean(name, ENCODERS.names())}")
    channels = ENCODERS.get(name).in_channels
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        built = build_encoder({"name": name, "weights": file}, MODALITY_OF_CHANNELS.get(channels, "video"),
                              channels, 64, str(weights_dir) if weights_dir else None)
    for warning in caught:
        errors.print(f"[yellow]warning:[/] {warning.message}", highlight=False, soft_wrap=True)
    console.print(built.load_summary, highlight=False)
    if known and known.sha256_prefix:
        console.print(f"its sha256 starts with the published {known.sha256_prefix}", highlight=False)
