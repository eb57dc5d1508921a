"""`mmdg-bench weights list|download|check`: the pre-trained backbones' files, where they are looked
for, download and check (mmdg_bench/api/weights.py does the work).

    mmdg-bench weights list
    mmdg-bench weights download                       # the paper's three files
    mmdg-bench weights download r2plus1d_18-91a641e6.pth
    mmdg-bench weights check H.pth.tar --encoder vggsound_r18
"""

import warnings
from pathlib import Path

import typer
from rich.table import Table

from mmdg_bench.cli.common import command_group, console, user_errors, warning

app = command_group("Weight files of the pre-trained backbones: list, download, check.", no_args_is_help=True)
WEIGHTS_DIR = typer.Option(None, "--weights-dir",
                           help="Folder of weight files; default: $MMDG_BENCH_WEIGHTS or ~/.cache/mmdg-bench/weights.")


@app.command("list")
@user_errors
def weights_list(weights_dir: Path = WEIGHTS_DIR):
    """Each known file: the encoder it loads into, its size and URL, and whether it is in the weights folder."""
    from mmdg_bench.api.weights import weights_folder
    from mmdg_bench.api.weights import weights_list as listing

    table = Table(title=f"Weight files (looked for in {weights_folder(weights_dir)})")
    for column in ("file", "encoder", "MB", "found", "URL"):
        table.add_column(column, justify="right" if column == "MB" else "left")
    for known in listing(weights_dir).itertuples(index=False):
        table.add_row(known.file, known.encoder, f"~{known.MB:g}", "yes" if known.found else "no", known.URL)
    console.print(table)
    console.print("`mmdg-bench weights download` fetches the paper's three files; name others to fetch them.")


@app.command("download")
@user_errors
def weights_download(
    files: list[str] = typer.Argument(None, help="Known file names; default: the paper's three backbones."),
    weights_dir: Path = WEIGHTS_DIR,
):
    """Download known files into the weights folder: resumable, atomic, sha256-checked; a rerun resumes."""
    from mmdg_bench.api.weights import weights_download as download

    download(files, weights_dir, console)


@app.command("check")
@user_errors
def weights_check(
    file: str = typer.Argument(..., help="A file name in the weights folder, or a path."),
    encoder: str = typer.Option(None, help="Encoder to load it into; default: the one a known file belongs to."),
    weights_dir: Path = WEIGHTS_DIR,
):
    """Load a file strictly into its encoder and report what loaded."""
    from mmdg_bench.api.weights import weights_check as check

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        checked = check(file, encoder, weights_dir)
    for caveat in caught:
        warning(str(caveat.message))
    console.print(checked.summary, highlight=False)
    if checked.sha256_prefix:
        console.print(f"its sha256 starts with the published {checked.sha256_prefix}", highlight=False)
