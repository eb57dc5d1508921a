"""`mmdg-bench data synth|index|verify|extract-audio|download`: the datasets (mmdg_bench/api/data.py
does the work).

    mmdg-bench data synth --out data/synth
    mmdg-bench data download --dataset hac --root data/HAC --modalities video --modalities audio
    mmdg-bench data verify --preset hac --data-root data/HAC --sample 200
"""

from pathlib import Path

import typer

from mmdg_bench.cli.common import (
    DATA_ROOT,
    MODALITIES,
    OVERRIDES,
    PRESET,
    command_group,
    console,
    counting_bar,
    frame_table,
    modalities_option,
    show_help_without_a_command,
    user_errors,
)

app = command_group("Datasets: generate, download, index and verify.", invoke_without_command=True)
app.callback()(show_help_without_a_command)


@app.command("synth")
@user_errors
def data_synth(
    out: Path = typer.Option(None, metavar="DIR", help="Target folder; default: the cache folder that runs use."),
    seed: int = typer.Option(None, metavar="N", help="Generation seed; default: the preset's."),
    preset: str = typer.Option("synth", metavar="NAME|PATH", help="Preset whose data.synth settings to use."),
):
    """Generate the synthetic dataset (mp4 + wav files in the HAC layout)."""
    from mmdg_bench.api.data import data_synth as generate

    made = generate(out, seed, preset, bar=counting_bar)
    if not made.generated:
        console.print(f"the synthetic dataset is already in {made.path}")
        return
    synth = made.config
    console.print(f"wrote the synthetic dataset ({len(synth.domains)} domains, {synth.classes} classes) to {made.path}")


@app.command("index")
@user_errors
def data_index(
    preset: str = PRESET,
    data_root: Path = DATA_ROOT,
    modalities: list[str] = modalities_option("to check for missing files"),
    set_: list[str] = OVERRIDES,
):
    """Clips per domain × split × class, and which referenced files are missing."""
    from mmdg_bench.api.data import data_index as index

    counts, missing = index(preset, data_root, modalities, set_ or [])
    console.print(frame_table(counts, "Clips per domain × split × class"))
    if missing.empty:
        console.print("no referenced file is missing")
    else:
        console.print(frame_table(missing, f"{len(missing)} missing file(s) (first 20)", limit=20))


@app.command("verify")
@user_errors
def data_verify(
    preset: str = PRESET,
    data_root: Path = DATA_ROOT,
    modalities: list[str] = modalities_option("to decode"),
    sample: int = typer.Option(None, metavar="N", help="Check a random sample of N clips instead of all."),
    seed: int = typer.Option(0, metavar="N", help="Seed of the sample."),
    set_: list[str] = OVERRIDES,
):
    """Check that every referenced file exists and decodes; exit 1 when any is missing or corrupt."""
    from mmdg_bench.api.data import data_verify as verify

    with counting_bar("decoding") as progress:
        report = verify(preset, data_root, modalities, sample, seed, set_ or [], progress=progress)
    console.print(f"checked {report.clips} of {report.total} clips ({', '.join(report.modalities)}): "
                  f"{len(report.missing)} missing, {len(report.corrupt)} corrupt file(s)")
    for frame, what in ((report.missing, "missing"), (report.corrupt, "corrupt")):
        if not frame.empty:
            console.print(frame_table(frame, f"{what} (first 20)", limit=20))
    if not report.ok:
        raise typer.Exit(1)


@app.command("extract-audio")
@user_errors
def data_extract_audio(
    data_root: Path = typer.Option(..., help="EPIC-Kitchens root holding videos/{train,test}/D1/P08_01.MP4."),
):
    """Make EPIC-Kitchens' per-video 16 kHz mono wavs from the raw videos; a rerun skips the finished ones."""
    from rich.progress import Progress

    from mmdg_bench.api.data import data_extract_audio as extract

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("extracting audio", total=None)
        report = extract(data_root, progress=lambda done, total, video: bar.update(
            task, completed=done, total=total, description=f"extracting audio: {video.name}"))
    console.print(f"wrote {len(report.written)} wav file(s) under {data_root / 'rgb'}; "
                  f"{len(report.skipped)} were already there")


@app.command("download")
@user_errors
def data_download(
    dataset: str = typer.Option(..., help="hac or epic_kitchens."),
    root: Path = typer.Option(..., metavar="PATH", help="Folder to fill with the dataset layout (created if missing)."),
    modalities: list[str] = typer.Option(None, metavar=MODALITIES, help="video, audio, flow (epic_kitchens also "
                                                                        "raw_video); repeat for several; default: "
                                                                        "video audio."),
):
    """Download a real dataset, verify its md5s and arrange the layout the indexes read; a rerun resumes."""
    from mmdg_bench.api.data import data_download as download

    download(dataset, root, modalities, console=console)
    console.print(f"{dataset} is in {root}; the archives kept in {root / '.downloads'} may be deleted")
