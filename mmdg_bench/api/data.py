"""The datasets as functions: `mmdg-bench data synth|index|verify|extract-audio|download`
(mmdg_bench/cli/data.py) call these.

    from mmdg_bench import api
    counts, missing = api.data_index(preset="hac", data_root="data/HAC")
    report = api.data_verify(preset="hac", data_root="data/HAC", sample=200)
"""

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import NamedTuple

import pandas as pd
from rich.console import Console

from mmdg_bench.config import load_config
from mmdg_bench.data import index_report, synthetic, verify
from mmdg_bench.data.download import download
from mmdg_bench.data.extract_audio import ExtractReport, extract_audio
from mmdg_bench.data.verify import VerifyReport
from mmdg_bench.errors import UserError
from mmdg_bench.settings import DataConfig, SynthConfig

Progress = Callable[[int, int], None]  # (done, total)
Bar = Callable[[str], AbstractContextManager[Progress]]  # a bar with this description, moved by its Progress


@contextlib.contextmanager
def no_bar(description: str) -> Iterator[Progress]:
    yield lambda done, total: None


class SynthSet(NamedTuple):
    path: Path
    config: SynthConfig  # what it was generated with
    generated: bool  # False: it was already there


def data_synth(out: Path | str | None = None, seed: int | None = None, preset: str = "synth",
               plugins: list[str] = (), bar: Bar = no_bar) -> SynthSet:
    """Generate the synthetic dataset (mp4 + wav files in the HAC layout) into `out`, by default the
    cache folder that runs use; a finished set there is kept."""
    cfg = load_config(preset, plugins=list(plugins), data__synth__seed=seed).data.synth
    out = Path(out) if out else synthetic.cached_root(cfg)
    if (out / synthetic.MANIFEST).is_file():
        return SynthSet(out, cfg, False)
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} exists and is not empty; choose an empty or new folder")
    if out.exists():
        out.rmdir()
    out.parent.mkdir(parents=True, exist_ok=True)
    with bar(f"generating the synthetic dataset into {out}") as report:
        synthetic.generate(cfg, out, report)
    return SynthSet(out, cfg, True)


def data_config(preset: str, data_root: Path | str | None, modalities: list[str] | None,
                overrides: list[str] = (), plugins: list[str] = ()) -> DataConfig:
    return load_config(preset, list(overrides), plugins=list(plugins), data__root=str(data_root) if data_root else None,
                       data__modalities=list(modalities or []) or None).data


def data_index(preset: str = "synth", data_root: Path | str | None = None, modalities: list[str] | None = None,
               overrides: list[str] = (), plugins: list[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clips per domain × split × class, and the (clip, modality) pairs whose files are missing."""
    return index_report(data_config(preset, data_root, modalities, overrides, plugins))


def data_verify(preset: str = "synth", data_root: Path | str | None = None, modalities: list[str] | None = None,
                sample: int | None = None, seed: int = 0, overrides: list[str] = (), plugins: list[str] = (),
                progress: Progress | None = None) -> VerifyReport:
    """Check that every referenced file (or a random sample of `sample` clips) exists and decodes."""
    return verify(data_config(preset, data_root, modalities, overrides, plugins), sample=sample, seed=seed,
                  progress=progress)


def data_extract_audio(data_root: Path | str, progress: Callable[[int, int, Path], None] | None = None
                       ) -> ExtractReport:
    """EPIC-Kitchens' per-video 16 kHz mono wavs from the raw videos; the finished ones are skipped."""
    return extract_audio(data_root, progress=progress)


def data_download(dataset: str, root: Path | str, modalities: list[str] | None = None,
                  console: Console | None = None) -> None:
    """Download a real dataset (hac or epic_kitchens), verify its md5s and arrange the layout the
    indexes read; a rerun resumes."""
    download(dataset, root, list(modalities or []) or None, console=console)
