"""Host synchronisations per training step (issue 21): on a GPU every `.item()`, `.tolist()`, `float()`,
`int()` or `bool()` of a device tensor waits for the GPU. The loop logs from sums kept on the device and
read once per epoch; what remains per step is what control flow needs (the non-finite check; GMP's
per-modality conflict test and its coefficients; BalGrad's projection; AGM's scales)."""

import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

import mmdg_bench
from mmdg_bench.engine import train as engine_train
from mmdg_bench.engine import train_run
from mmdg_bench.strategies import STRATEGIES

PACKAGE = str(Path(mmdg_bench.__file__).parent)
READS = ("item", "tolist", "__float__", "__int__", "__bool__", "__index__", "cpu", "numpy")


class Steps(engine_train.NullProgress):
    def __init__(self):
        self.count = 0

    def advance(self) -> None:
        self.count += 1


def count_reads(monkeypatch) -> Counter:
    """Tensor reads made by the package's own code (not torch's: Adam's step counters live on the CPU)
    while `train_epoch` runs, by the calling file and line."""
    reads, inside = Counter(), [False]
    for name in READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if inside[0] and caller.startswith(PACKAGE):
                reads[f"{Path(caller).name}:{sys._getframe(1).f_lineno} {_name}"] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    epoch = engine_train.train_epoch

    def counting_epoch(*args, **kwargs):
        inside[0] = True
        try:
            return epoch(*args, **kwargs)
        finally:
            inside[0] = False

    monkeypatch.setattr(engine_train, "train_epoch", counting_epoch)
    return reads


# Beyond the non-finite check every strategy has: gmp with two modalities, its coefficients (one read) and
# each modality's conflict test; balgrad its projection's conflict test; agm its scores, brought to the CPU
# where its running scores live (the rest of its reads are of CPU tensors: whether to scale, the scales, and
# the conditional clip's test). cggm, mmpareto, umt and pcgrad (two tasks: its order needs no read, its
# conflict test is a select) read nothing more.
PER_STEP = [("baseline", 1), ("gmp", 4), ("agm", 5), ("balgrad", 2), ("cggm", 1), ("mmpareto", 1), ("umt", 1),
            ("pcgrad", 1)]


@pytest.mark.slow
@pytest.mark.parametrize(("strategy", "per_step"), PER_STEP)
def test_a_step_reads_the_device_only_where_control_flow_needs_it(strategy, per_step, tiny_config, tmp_path,
                                                                  monkeypatch):
    # Per epoch: the sampler's order and the logged sums, one read each.
    if strategy == "umt":  # untrained stand-in teachers: the same work per step, no teacher runs to train
        monkeypatch.setattr(STRATEGIES.get("umt"), "prepare_run", lambda self, *args: self.use_stand_ins())
    reads = count_reads(monkeypatch)
    steps = Steps()
    train_run(tiny_config("optim.epochs=1", strategy__name=strategy), "day", tmp_path, progress=steps)
    assert steps.count >= 2
    assert sum(reads.values()) <= per_step * steps.count + 2, reads
