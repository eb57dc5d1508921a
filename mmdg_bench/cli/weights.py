"""`mmdg-bench weights list|download|check`: the pre-trained backbones' files, where they are looked
for, download and check (mmdg_bench/api/weights.py does the work).

    mmdg-bench weights list
    mmdg-bench weights download                       # the paper's three files
    mmdg-bench weights download r2plus1d_18-91a641e6.pth
    mmdg-bench weights check H.pth.tar --encoder vggsound_r18
"""

import warnings
from enum import Enum
from pathlib import Path

import typer
from rich.table import Table

from mmdg_bench.cli.common import command_group, console, user_errors, warning

WIDE = 320  # columns a table of the files needs to show every name and URL on one line

app = command_group("Weight files of the pre-trained backbones: list, download, check.", no_args_is_help=True)
WEIGHTS_DIR = typer.Option(None, "--weights-dir",
                           help="Folder of weight files; default: $MMDG_BENCH_WEIGHTS or ~/.cache/mmdg-bench/weights.")


class ListFormat(str, Enum):
    table = "table"
    plain = "plain"


@app.command("list")
@user_errors
def weights_list(weights_dir: Path = WEIGHTS_DIR,
                 format: ListFormat = typer.Option(ListFormat.table, "--format",
                                                   help="table, or plain: one tab-separated line per file.")):
    """Each known file: the encoder it loads into, its size, whether it is in the weights folder, what
    checks it, and its URL."""
    from mmdg_bench.api.weights import weights_folder
    from mmdg_bench.api.weights import weights_list as listing

    files = listing(weights_dir)
    files["MB"] = [f"~{mb:g}" for mb in files["MB"]]
    files["found"] = ["yes" if found else "no" for found in files["found"]]
    if format == ListFormat.plain:  # whole lines, whatever the terminal: for scripts and copying URLs
        print("\t".join(files.columns))
        for row in files.itertuples(index=False):
            print("\t".join(map(str, row)))
        return
    title = f"Weight files (looked for in {weights_folder(weights_dir)})"
    if console.width < WIDE:  # stacked, one block per file: names and URLs whole, never cut at the edge
        print(title)
        for row in files.itertuples(index=False):
            found = "found" if row.found == "yes" else "not found"
            print(f"\n{row.file}\n  encoder  {row.encoder}, {row.MB} MB, {found}\n  checked  {row.checked}"
                  f"\n  URL      {row.URL}")
    else:
        table = Table(title=title)
        for column in files.columns:
            table.add_column(column, justify="right" if column == "MB" else "left", overflow="fold")
        for row in files.itertuples(index=False):
            table.add_row(*map(str, row))
        console.print(table)
    console.print("`mmdg-bench weights download` fetches the paper's three files; name others to fetch them. "
                  "`--format plain` prints each file on one line.")


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
    else:
        console.print(checked.checked, highlight=False)
