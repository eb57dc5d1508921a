"""The CUDA paths, on a machine with a GPU (skipped elsewhere, so in this project's CI): a bf16
channels-last run of every paper strategy on the device, the GPU's peak memory in the summary,
sweep workers pinned to the GPUs, nvJPEG against the CPU decoder, and the step bench on the device.
scripts/gpu-check runs this file and the GPU benches as one prepared call (docs/gpu-and-feature-cache.md)."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from mmdg_bench.bench.data import write_epic_frames_layout
from mmdg_bench.bench.step import PAPER_STRATEGIES, bench_step
from mmdg_bench.cli import app
from mmdg_bench.config import load_config
from mmdg_bench.data.decoding import FRAME_NAME, _read_folder
from mmdg_bench.engine import train_run
from mmdg_bench.files import cache_dir
from tests.bench.test_step import TINY as TINY_BACKBONES
from tests.engine.test_acceleration import TINY

# Every test here trains on the GPU, and some start processes: the GPU tier, never the unit tier.
pytestmark = [pytest.mark.gpu, pytest.mark.e2e,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
# Gradient-Blending holds out a share of each (domain, class) group: TINY's 4 training clips per group
# keep none at its default 10%, and one at 25%.
HOLDOUT = "strategy.grad-blending.holdout_fraction=0.25"


@pytest.fixture(autouse=True, scope="module")
def _carried_synth():
    """The GPU machine has no PyAV to write the synthetic set (its wheel does not fit the 64 MiB a call
    carries): scripts/gpu-check names the sets `make gpu-wheels` generated, copied into this session's cache."""
    carried = os.environ.get("MMDG_BENCH_CARRIED_CACHE")
    for folder in Path(carried).glob("synth-*") if carried else []:
        shutil.copytree(folder, cache_dir() / folder.name, dirs_exist_ok=True)


def output_of(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


@pytest.mark.parametrize("strategy", PAPER_STRATEGIES)
def test_every_paper_strategy_trains_on_the_gpu_in_bf16(strategy, tmp_path):
    config = load_config("synth", [*TINY, HOLDOUT, "device=auto", "precision=bf16", "channels_last=true"],
                         strategy__name=strategy)
    summary = train_run(config, "toon", tmp_path).summary
    assert summary["environment"]["device"] == torch.cuda.get_device_name(0)
    assert summary["memory"]["gpu_allocated_mib"] > 0
    assert np.isfinite(summary["selection"]["last"]["val"]["fused"])


def test_a_gpu_run_is_reproducible_under_deterministic(tmp_path):
    """In fresh processes, as a user runs it: cuBLAS reads its workspace setting when it starts."""
    settings = [arg for s in [*TINY, "device=cuda", "deterministic=true"] for arg in ("--set", s)]
    selections = []
    for out in ("a", "b"):
        result = subprocess.run([sys.executable, "-m", "mmdg_bench", "run", "--strategy", "gmp", "--target", "toon",
                                 "--out", str(tmp_path / out), *settings], capture_output=True, text=True)
        assert result.returncode == 0, output_of(result)  # a failing child's stderr shown, not hidden
        summary = json.loads(next((tmp_path / out).glob("*/summary.json")).read_text())
        selections.append(summary["selection"])
    assert selections[0] == selections[1]


def test_sweep_workers_share_the_gpu(tmp_path):
    result = CliRunner().invoke(app, ["sweep", "--strategies", "baseline,gmp", "--targets", "toon", "--seeds", "0",
                                      "--jobs", "2", "--out", str(tmp_path),
                                      *[arg for s in [*TINY, "device=cuda"] for arg in ("--set", s)]])
    assert result.exit_code == 0, result.output
    summaries = [json.loads(p.read_text()) for p in Path(tmp_path).glob("*/summary.json")]
    assert len(summaries) == 2 and all(s["memory"]["gpu_allocated_mib"] > 0 for s in summaries)


def cpu_frames(folder: Path, numbers: list[int]) -> np.ndarray:
    """The CPU decoder's frames: PyAV's, as a run reads them, or Pillow's where PyAV is absent (the GPU
    machine: av's wheel is not carried)."""
    if importlib.util.find_spec("av"):
        return _read_folder(folder, numbers, grey=False)
    from PIL import Image

    return np.stack([np.asarray(Image.open(folder / FRAME_NAME.format(n)).convert("RGB")) for n in numbers])


def test_nvjpeg_decodes_as_the_cpu_does(tmp_path):
    clips = write_epic_frames_layout(tmp_path, 1)
    numbers = list(range(1, 33, 2))
    on_gpu = _read_folder(Path(clips.video_path[0]), numbers, grey=False, on_gpu=True)
    on_cpu = cpu_frames(Path(clips.video_path[0]), numbers)
    assert on_gpu.shape == on_cpu.shape
    assert np.median(np.abs(on_gpu.astype(int) - on_cpu.astype(int))) <= 4


def test_the_step_bench_runs_on_the_gpu():
    report = bench_step(Console(record=True, width=250), "hac_paper", batch=2, repeats=1,
                        overrides=[*[s for s in TINY_BACKBONES if s != "device=cpu"], "device=cuda",
                                   "precision=bf16"])
    assert report.device.startswith("cuda")
    assert all(r["error"] is None and r["peak_mib"] > 0 for r in report.rows), report.rows
