"""The synthetic set carries what GMP addresses, measured on a short training run of the default
preset: accuracy above chance, a source-validation -> target gap, and a modality imbalance."""

import json

import pytest

from mmdg_bench.config import load_config
from mmdg_bench.engine import train_run
from mmdg_bench.engine.run_folder import METRICS


@pytest.fixture(scope="module")
def epochs(tmp_path_factory):
    config = load_config("synth", ["optim.epochs=8"])
    result = train_run(config, "toon", tmp_path_factory.mktemp("runs"))
    return [json.loads(line) for line in (result.path / METRICS).read_text().splitlines()]


@pytest.mark.slow
def test_accuracy_is_well_above_chance(epochs):
    chance = 25.0
    assert epochs[-1]["val"]["fused"] > chance + 50
    assert epochs[-1]["target"]["audio"] > chance + 30


@pytest.mark.slow
def test_source_validation_to_target_gap(epochs):
    last = epochs[-1]
    assert last["val"]["fused"] - last["target"]["fused"] > 15


@pytest.mark.slow
def test_video_is_fast_but_domain_specific(epochs):
    early = epochs[1]
    assert early["val"]["video"] > early["val"]["audio"] + 15  # video learned first
    last = epochs[-1]
    assert last["val"]["video"] - last["target"]["video"] > 40  # its cue does not transfer


@pytest.mark.slow
def test_audio_is_slow_but_domain_invariant(epochs):
    last = epochs[-1]
    assert abs(last["val"]["audio"] - last["target"]["audio"]) < 15
    assert last["val"]["video"] != last["val"]["audio"]  # unimodal accuracies differ on the sources
