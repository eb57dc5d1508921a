"""`compile: true` on the CPU (torch's inductor with the machine's C compiler): `compile` is not part of
a run's identity, so a run interrupted compiled resumes plain and the other way round, and `evaluate`
reads its kept weights either way (a compiled encoder's tensors are saved under their plain names).
Inductor's first compilation of the tiny encoders takes about a minute on 2 cores (later runs reuse its
on-disk cache)."""

import shutil
import time

import pytest
import torch

from mmdg_bench.engine import train_run
from mmdg_bench.engine.checkpoint import CHECKPOINT
from mmdg_bench.engine.train import NullProgress
from mmdg_bench.robustness.conditions import parse_conditions
from mmdg_bench.robustness.evaluate import evaluate_run

# Inductor compiles C++ on the CPU: without a C compiler `compile: true` cannot run here at all.
pytestmark = pytest.mark.skipif(not (shutil.which("gcc") or shutil.which("cc") or shutil.which("g++")),
                                reason="torch's inductor needs a C/C++ compiler on the CPU, and this machine has none")

ONE_STEP = ["optim.epochs=2", "data.synth.train_per_class=2", "data.synth.test_per_class=1"]


class InterruptAfterFirstEpoch(NullProgress):
    def end_epoch(self, line):
        raise KeyboardInterrupt


class Resumes(NullProgress):
    def resume(self, finished_epochs):
        self.finished = finished_epochs


def interrupted_then_resumed(tiny_config, tmp_path, first: str, then: str, *overrides: str):
    """Epoch 1 with compile=`first`, interrupted; epoch 2 resumed with compile=`then`; the finished run."""
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        train_run(tiny_config(*ONE_STEP, *overrides, f"compile={first}"), "day", tmp_path,
                  progress=InterruptAfterFirstEpoch())
    print(f"epoch 1 with compile={first}: {time.perf_counter() - started:.1f} s")
    (folder,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    saved = torch.load(folder / CHECKPOINT, weights_only=True)
    assert not [key for key in saved["model"] if "_orig_mod" in key]
    progress = Resumes()
    started = time.perf_counter()
    result = train_run(tiny_config(*ONE_STEP, *overrides, f"compile={then}"), "day", tmp_path, progress=progress)
    print(f"epoch 2 with compile={then}: {time.perf_counter() - started:.1f} s")
    assert progress.finished == 1 and result.path == folder and result.summary["config"]["compile"] == (then == "true")
    return result


@pytest.mark.slow
@pytest.mark.e2e  # inductor starts compiler processes
def test_a_compiled_gmp_run_resumes_plain_and_evaluates(tiny_config, tmp_path):
    result = interrupted_then_resumed(tiny_config, tmp_path, "true", "false", "strategy.name=gmp")
    assert set(evaluate_run(result.path, parse_conditions())) == {"clean"}


@pytest.mark.slow
@pytest.mark.e2e  # inductor starts compiler processes
def test_a_plain_cmrf_run_resumes_compiled_and_evaluates(tiny_config, tmp_path):
    result = interrupted_then_resumed(tiny_config, tmp_path, "false", "true", "method.name=cmrf",
                                      "method.cmrf.sma_start_step=0")
    assert set(evaluate_run(result.path, parse_conditions())) == {"clean"}
