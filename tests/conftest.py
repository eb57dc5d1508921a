"""Shared fixtures: a tiny synthetic set generated once per session into a temporary cache."""

import pytest
import torch

from mmdg_bench.config import load_config
from mmdg_bench.data import ClipDataset, load_index

# A few clips per class and two epochs: a whole run takes about a second on 2 CPU cores.
TINY = ["data.synth.train_per_class=4", "data.synth.test_per_class=2", "optim.epochs=2",
        "optim.batch_size=8"]


@pytest.fixture(autouse=True, scope="session")
def _cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("MMDG_BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.fixture
def tiny_config():
    def make(*overrides: str, **values):
        return load_config("synth", [*TINY, *overrides], **values)

    return make


def training_batch(config, target: str, size: int = 16) -> dict:
    """The first shuffled batch of `config`'s training split with `target` held out (seeded)."""
    index = load_index(config.data)
    dataset = ClipDataset(index.protocol(target)["train"], config.data.modalities, config.data, index.sources(target))
    return next(iter(torch.utils.data.DataLoader(dataset, batch_size=size, shuffle=True,
                                                 generator=torch.Generator().manual_seed(0))))


# --- Tiers: a test that trains or starts processes says so -------------------------------------
# `slow`: it trains (the engine's epoch loop, or a benchmark's timed training steps, runs while it,
# or a fixture it needs, is set up or runs); `e2e`: it starts a process (a subprocess, a sweep
# worker, a loader worker). An e2e test is slow too, so `pytest -m "not slow"` is the unit tier. A
# test that does either unmarked fails, so the unit tier stays free of them (pyproject.toml declares
# the markers).
TIER_EVIDENCE = {"slow": "trains a model", "e2e": "starts a process"}
_running: list = [None]  # the test item whose setup, call or teardown is running
_seen: dict[str, set[str]] = {}


def _observe(kind: str) -> None:
    if _running[0] is not None:
        _seen.setdefault(_running[0].nodeid, set()).add(kind)


def _wrap(owner, name: str, kind: str) -> None:
    original = getattr(owner, name)

    def observed(*args, **kwargs):
        _observe(kind)
        return original(*args, **kwargs)

    setattr(owner, name, observed)


def pytest_configure(config):
    import multiprocessing.process
    import subprocess

    import mmdg_bench.bench.step
    import mmdg_bench.bench.strategies
    import mmdg_bench.engine.train

    for module, training in ((mmdg_bench.engine.train, "train_epoch"), (mmdg_bench.bench.step, "time_step"),
                             (mmdg_bench.bench.strategies, "time_step")):
        _wrap(module, training, "slow")
    _wrap(subprocess.Popen, "__init__", "e2e")
    _wrap(multiprocessing.process.BaseProcess, "start", "e2e")


def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("e2e") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _running[0] = item
    yield
    _running[0] = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    unmarked = sorted(kind for kind in _seen.get(item.nodeid, ()) if not item.get_closest_marker(kind))
    if report.when == "call" and unmarked and report.passed:
        report.outcome = "failed"
        evidence = " and ".join(TIER_EVIDENCE[kind] for kind in unmarked)
        report.longrepr = (f"{item.nodeid} {evidence} but is not marked {' or '.join(unmarked)}: mark it "
                           f"(pytest.mark.{unmarked[0]}), or keep it out of the unit tier")
