"""Tests of DRB (mmdg_bench/strategies/drb.py): its pure maths on hand-computed values, the re-initialisation
against the official rule re-derived by hand, the schedule, the held-out slice, its parameters and its state
through a checkpoint and a resumed run."""

import doctest
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import mmdg_bench.strategies.drb as drb
from mmdg_bench.config import load_config
from mmdg_bench.engine import train_run
from mmdg_bench.engine.run_folder import METRICS
from mmdg_bench.engine.train import NullProgress
from mmdg_bench.errors import UserError
from mmdg_bench.models import MultimodalModel
from mmdg_bench.strategies import STRATEGIES
from mmdg_bench.strategies.drb import (
    DRB,
    DRBParams,
    holdout_rows,
    kmeans,
    kmeans_plusplus,
    lloyd,
    minmax_scale,
    purity,
    reinit_epochs,
    relearning_weight,
    soft_reinit,
)

# The contract tests' small synthetic set (tests/strategies/test_contracts.py), three epochs: one re-init.
SMALL = ["threads=1", "data.synth.train_per_class=4", "data.synth.test_per_class=2", "data.synth.frames=4",
         "data.video.num_frames=4", "data.synth.seconds=0.5", "data.audio.seconds=0.5", "optim.batch_size=16",
         "optim.epochs=3"]


def test_docstring_examples_run_as_written():
    results = doctest.testmod(drb, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert results.attempted >= 10 and results.failed == 0


# --------------------------------------------------------------------------- #
# the pure maths, on hand-computed values
# --------------------------------------------------------------------------- #


def test_minmax_scale_maps_each_column_onto_minus_one_one():
    x = torch.tensor([[1.0, -2.0, 4.0], [3.0, 2.0, 4.0], [2.0, 0.0, 4.0], [1.5, 1.0, 4.0]])
    # column 0: (x - 1) / 2 * 2 - 1; column 1: (x + 2) / 4 * 2 - 1; column 2 is constant: sklearn gives -1.
    want = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, -1.0], [0.0, 0.0, -1.0], [-0.5, 0.5, -1.0]])
    torch.testing.assert_close(minmax_scale(x), want)


def test_purity_is_the_accuracy_of_each_clusters_majority_vote():
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2])
    # cluster 0 = {0, 0}: 2; cluster 1 = {0, 1, 1}: 2; cluster 2 = {1, 2, 2}: 2 -> 6 / 8.
    assert purity(labels, torch.tensor([0, 0, 1, 1, 1, 2, 2, 2])) == 0.75
    assert purity(labels, torch.zeros(8, dtype=torch.long)) == 3 / 8  # one cluster: the largest class's share
    assert purity(labels, torch.arange(8)) == 1.0  # one clip per cluster
    with pytest.raises(ValueError):
        purity(labels, torch.zeros(7, dtype=torch.long))


def test_kmeans_plusplus_draws_distinct_rows_and_one_centre_per_far_blob():
    x = torch.tensor([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [20.0, 20.0], [20.1, 20.0], [20.0, 20.1]])
    for seed in range(10):
        centres = kmeans_plusplus(x, 2, torch.Generator().manual_seed(seed))
        assert all(any(torch.equal(c, row) for row in x) for c in centres)  # centres are rows of x
        assert sorted(float(c.sum()) > 20 for c in centres) == [False, True]  # one in each blob
    same = [kmeans_plusplus(x, 3, torch.Generator().manual_seed(5)) for _ in range(2)]
    assert torch.equal(*same)  # a seeded generator draws the same centres


def test_lloyd_on_a_hand_computed_case():
    x = torch.tensor([[0.0], [1.0], [10.0], [11.0]])
    start = torch.tensor([[0.0], [1.0]])
    # Step 1: clusters {0}, {1, 10, 11} -> centres 0 and 22/3; 1 moves to the first: {0, 1}, {10, 11}.
    labels, centres, inertia = lloyd(x, start, max_iter=1)
    assert labels.tolist() == [0, 0, 1, 1]
    torch.testing.assert_close(centres, torch.tensor([[0.0], [22 / 3]]))
    assert inertia == pytest.approx(0 + 1 + (10 - 22 / 3) ** 2 + (11 - 22 / 3) ** 2, rel=1e-6)
    # Step 2: centres 0.5 and 10.5, the clusters stay: converged, inertia 4 x 0.25.
    labels, centres, inertia = lloyd(x, start)
    assert labels.tolist() == [0, 0, 1, 1] and centres.flatten().tolist() == [0.5, 10.5] and inertia == 1.0
    # A cluster that no row joins keeps its centre.
    labels, centres, _ = lloyd(torch.tensor([[0.0], [1.0]]), torch.tensor([[0.5], [100.0]]))
    assert labels.tolist() == [0, 0] and centres.flatten().tolist() == [0.5, 100.0]


def test_kmeans_keeps_the_lowest_inertia_of_its_restarts():
    x = torch.cat([torch.randn(30, 3, generator=torch.Generator().manual_seed(1)) + shift
                   for shift in (0.0, 2.0, 4.0)])
    got = kmeans(x, 4, torch.Generator().manual_seed(7), n_init=5)
    generator = torch.Generator().manual_seed(7)  # the same draws, one restart at a time
    runs = [lloyd(x, kmeans_plusplus(x, 4, generator)) for _ in range(5)]
    best = min(range(5), key=lambda i: runs[i][2])
    assert torch.equal(got, runs[best][0])
    assert len({round(r[2], 4) for r in runs}) > 1  # the restarts differ, so keeping the best matters
    assert torch.equal(got, kmeans(x, 4, torch.Generator().manual_seed(7), n_init=5))
    with pytest.raises(ValueError):
        kmeans(x[:3], 4, torch.Generator())


def test_relearning_weight_and_soft_reinit_by_hand():
    assert relearning_weight(0.9, 0.6, 3.0) == pytest.approx(math.tanh(0.9))
    assert relearning_weight(0.6, 0.9, 3.0) == pytest.approx(math.tanh(0.9))  # |gap|
    assert relearning_weight(0.7, 0.7, 5.0) == 0.0
    current, init = torch.tensor([1.0, -2.0]), torch.tensor([3.0, 2.0])
    torch.testing.assert_close(soft_reinit(current, init, 0.25), torch.tensor([1.5, -1.0]))
    assert torch.equal(soft_reinit(current, init, 0.0), current)
    assert torch.equal(soft_reinit(current, init, 1.0), init)


def test_reinit_epochs_rescale_the_official_schedule():
    assert reinit_epochs(90, 20 / 90, 3) == [21, 41, 61]  # ours.sh: after 0-based epochs 20, 40, 60
    assert reinit_epochs(90, 20 / 90, 5) == [21, 41, 61, 81]  # never after the last epoch
    assert reinit_epochs(12, 20 / 90, 3) == [4, 7, 10]
    assert reinit_epochs(20, 20 / 90, 3) == [5, 9, 13]
    assert reinit_epochs(20, 0.5, 3) == [11]
    assert reinit_epochs(20, 1.0, 3) == [] and reinit_epochs(3, 20 / 90, 0) == []


def test_holdout_rows_are_stratified_seeded_and_never_empty_a_group():
    train = pd.DataFrame({"domain": ["a"] * 6 + ["b"] * 30 + ["c"],
                          "label": [0, 0, 0, 1, 1, 1] + [0] * 20 + [1] * 10 + [0], "path": range(37)})
    rest, held = holdout_rows(train, 0.1, seed=3)
    # (a,0): 3 -> 1; (a,1): 3 -> 1; (b,0): 20 -> 2; (b,1): 10 -> 1; (c,0): 1 clip -> 0.
    assert held.groupby(["domain", "label"]).size().to_dict() == {("a", 0): 1, ("a", 1): 1, ("b", 0): 2, ("b", 1): 1}
    assert len(rest) + len(held) == 37 and not set(rest.path) & set(held.path)
    again = holdout_rows(train, 0.1, seed=3)[1]
    assert held.equals(again) and not held.equals(holdout_rows(train, 0.1, seed=4)[1])


# --------------------------------------------------------------------------- #
# the re-initialisation, against the official rule
# --------------------------------------------------------------------------- #

A, B = (-3.0, 0.0), (3.0, 0.0)  # two far, tight blobs: any k-means with k = 2 finds them


def blobs(which: str) -> torch.Tensor:
    """Rows near A or B, one per letter, slightly apart so that no two coincide."""
    return torch.tensor([[(A if c == "A" else B)[0] + 0.01 * i, (A if c == "A" else B)[1] - 0.02 * i]
                         for i, c in enumerate(which)])


def official_purity(labels: list[int], clusters: str) -> float:
    """ours.py:63-95 written out with numpy: each cluster's majority label, then the accuracy."""
    labels, clusters = np.array(labels), np.array(list(clusters))
    voted = np.zeros_like(labels)
    for cluster in np.unique(clusters):
        voted[clusters == cluster] = np.argmax(np.bincount(labels[clusters == cluster]))
    return float(np.mean(voted == labels))


LABELS = [0, 0, 0, 0, 1, 1, 1, 1]
# The blob of each clip's input per modality and split; the encoders below map the blobs apart.
LAYOUT = {("video", "train"): "AAAABBBB", ("video", "holdout"): "AAABBBBA",  # purity 1 and 6/8
          ("audio", "train"): "AAABBBBB", ("audio", "holdout"): "ABABABAB"}  # purity 7/8 and 4/8


def hand_model() -> MultimodalModel:
    """Two modalities, each encoder a Linear(2, 2) (identity at the start) then a BatchNorm1d."""
    torch.manual_seed(0)
    encoders = {m: nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)) for m in ("video", "audio")}
    with torch.no_grad():
        for encoder in encoders.values():
            encoder[0].weight.copy_(torch.eye(2))
            encoder[0].bias.zero_()
    return MultimodalModel(encoders, feature_dim=2, num_classes=2, num_domains=2, head_hidden=4, grl_coeff=1.0)


def hand_loaders() -> dict[str, list[dict]]:
    """The slices as lists of batches (two batches each: the features must be gathered across them)."""
    loaders = {}
    for split, name in (("train", "train_eval"), ("holdout", "holdout")):
        clips = {m: blobs(LAYOUT[m, split]) for m in ("video", "audio")}
        clips["label"] = torch.tensor(LABELS)
        loaders[name] = [{key: value[part] for key, value in clips.items()} for part in (slice(5), slice(5, None))]
    return loaders


def train_a_little(model: MultimodalModel) -> None:
    """Move every encoder parameter and BN buffer away from the start, as training would (invertible maps,
    so the blobs stay apart)."""
    with torch.no_grad():
        for i, m in enumerate(("video", "audio")):
            linear, norm = model.encoders[m]
            linear.weight.copy_(torch.tensor([[2.0, 0.5], [0.1, 1.5]]) + i)
            linear.bias.copy_(torch.tensor([0.3, -0.2]))
            norm.weight.copy_(torch.tensor([1.5, 0.8]))
            norm.bias.copy_(torch.tensor([0.1, 0.2]))
            norm.running_mean.copy_(torch.tensor([0.2, 0.1]))
            norm.running_var.copy_(torch.tensor([2.0, 3.0]))
            norm.num_batches_tracked.fill_(7)


def test_reinit_follows_the_official_rule_on_a_hand_made_case():
    """The official rule, re-derived (GeWu-Lab/Diagnosing_Relearning_ECCV2024 @ 025085e, code/ours.py):
    the purity of the features of each split (ours.py:99-119, purity ours.py:63-95), alpha_m =
    tanh(move_lambda |P_train - P_val|) (ours.py:122-127), every encoder parameter to
    alpha theta_init + (1 - alpha) theta (ours.py:156-166) with theta_init the state as built (ours.py:345),
    buffers and heads untouched, after the 0-based epoch e with e % R == 0 and e > 0 (ours.py:418-420)."""
    model = hand_model()
    start = {name: p.detach().clone() for name, p in model.named_parameters()}  # theta_init, taken by the test
    strategy = DRB(DRBParams(move_lambda=3.0), model, seed=0)
    strategy.epochs = 3  # period max(1, round(3 x 20/90)) = 1: after epoch 2 (0-based e = 1) only
    strategy.attach(hand_loaders())
    train_a_little(model)
    trained = {name: p.detach().clone() for name, p in model.named_parameters()}
    buffers = {name: b.clone() for name, b in model.named_buffers()}

    model.train()
    for epoch in (1, 2):  # after no epoch, after 0-based epoch 0: nothing happens
        strategy.start_epoch(epoch)
        assert all(torch.equal(p, trained[name]) for name, p in model.named_parameters())
    strategy.start_epoch(3)

    alpha = {}
    for m in ("video", "audio"):
        p_train, p_val = (official_purity(LABELS, LAYOUT[m, split]) for split in ("train", "holdout"))
        alpha[m] = float(torch.tanh(torch.tensor(3.0 * np.abs(p_train - p_val))))
        assert strategy.diagnosis[f"drb/{m}/purity_train"] == p_train
        assert strategy.diagnosis[f"drb/{m}/purity_heldout"] == p_val
    assert (alpha["video"], alpha["audio"]) == (pytest.approx(math.tanh(0.75)), pytest.approx(math.tanh(1.125)))
    for name, p in model.named_parameters():
        if name.startswith("encoders."):
            a = alpha[name.split(".")[1]]
            torch.testing.assert_close(p.detach(), a * start[name] + (1 - a) * trained[name], rtol=1e-6, atol=1e-7)
            assert not torch.equal(p, trained[name])
        else:
            assert torch.equal(p, trained[name])  # heads, fusion, discriminators: untouched
    assert all(torch.equal(b, buffers[name]) for name, b in model.named_buffers())  # BN statistics kept
    assert model.training and strategy.reinits == 1
    diagnostics = strategy.diagnosis
    assert diagnostics["drb/video/alpha"] == pytest.approx(alpha["video"])
    assert diagnostics["drb/audio/alpha"] == pytest.approx(alpha["audio"])


def test_backward_is_baselines_and_logs_the_diagnosis_of_its_epoch():
    model = hand_model()
    strategy = DRB(DRBParams(), model, seed=0)
    strategy.epochs = 3
    strategy.attach(hand_loaders())
    batch = hand_loaders()["train_eval"][0]

    def loss_and_grads(backward):
        model.zero_grad(set_to_none=True)
        out = model({m: batch[m] for m in model.modalities})
        loss = out.fused_logits.logsumexp(1).mean() + sum(z.square().mean() for z in out.features.values())
        result = backward(loss)
        return result, [p.grad.clone() for p in model.parameters() if p.grad is not None]

    class Step:  # only what DRB.backward reads
        def __init__(self, loss):
            self.total = loss

    model.train()
    strategy.start_epoch(2)
    diagnostics, got = loss_and_grads(lambda loss: strategy.backward(Step(loss)))
    _, want = loss_and_grads(lambda loss: loss.backward())
    assert all(torch.equal(g, w) for g, w in zip(got, want, strict=True))
    assert diagnostics == {"drb/reinits": 0.0}
    strategy.start_epoch(3)
    diagnostics, _ = loss_and_grads(lambda loss: strategy.backward(Step(loss)))
    assert diagnostics["drb/reinits"] == 1.0 and set(diagnostics) == {"drb/reinits"} | {
        f"drb/{m}/{key}" for m in ("video", "audio") for key in ("purity_train", "purity_heldout", "alpha")}


def test_schedule_fires_at_the_scheduled_epochs_only(monkeypatch):
    strategy = DRB(DRBParams(), hand_model(), seed=0)
    strategy.epochs = 12
    fired = []
    monkeypatch.setattr(strategy, "relearn", lambda: fired.append(strategy.epoch))
    for epoch in range(1, 13):
        strategy.start_epoch(epoch)
    assert fired == [5, 8, 11]  # before epochs 5, 8, 11: after epochs 4, 7, 10


def test_without_the_runs_length_the_schedule_refuses_to_guess():
    strategy = DRB(DRBParams(), hand_model(), seed=0)
    with pytest.raises(RuntimeError, match="strategy.epochs"):
        strategy.start_epoch(3)


def test_a_run_that_never_reinitialises_holds_nothing_out():
    train = pd.DataFrame({"domain": ["a"] * 20, "label": [0, 1] * 10})
    never = DRB(DRBParams(reinit_num=0), hand_model(), seed=0)
    assert never.holdout_split(train) == (train, {}) and never.init == {}
    short = DRB(DRBParams(), hand_model(), seed=0)
    short.epochs = 2  # the only scheduled epoch would be the last
    assert short.holdout_split(train) == (train, {})
    long = DRB(DRBParams(), hand_model(), seed=0)
    long.epochs = 12
    rest, extra = long.holdout_split(train)
    assert len(extra["holdout"]) == 2 and extra["train_eval"].equals(rest) and len(rest) == 18
    tiny = pd.DataFrame({"domain": ["a", "a", "b", "b"], "label": [0, 0, 1, 2]})
    with pytest.raises(UserError, match="holdout_fraction"):
        long.holdout_split(tiny)  # one held-out clip for the three classes left


@pytest.mark.parametrize("settings", [{"move_lambda": -1.0}, {"move_lambda": math.inf}, {"reinit_every": 0.0},
                                      {"reinit_every": 1.5}, {"reinit_num": -1}, {"holdout_fraction": 0.0},
                                      {"holdout_fraction": 1.0}, {"n_init": 0}])
def test_validate_refuses_out_of_range_params(settings):
    with pytest.raises(UserError, match="DRB's"):
        DRBParams(**settings).validate()


def test_params_from_the_command_line():
    config = load_config("synth", ["strategy.drb.move_lambda=1", "strategy.drb.reinit_every=0.25"],
                         strategy__name="drb")
    assert config.strategy.params["move_lambda"] == 1.0 and config.strategy.params["reinit_every"] == 0.25
    with pytest.raises(UserError, match="reinit_every"):
        load_config("synth", ["strategy.drb.reinit_every=2"], strategy__name="drb")
    assert STRATEGIES.info("drb")["neutral"] == {"reinit_num": 0}


def test_state_survives_state_dict_and_load_state_dict():
    model = hand_model()
    first = DRB(DRBParams(), model, seed=0)
    first.epochs = 3
    first.attach(hand_loaders())
    train_a_little(model)
    first.start_epoch(3)  # one re-init done
    saved = torch.load(_roundtrip(first.state_dict()), weights_only=True)  # as a checkpoint stores it

    other = hand_model()
    with torch.no_grad():
        for p in other.parameters():
            p.add_(1.0)  # a different start: its own snapshot must be replaced
    second = DRB(DRBParams(), other, seed=0)
    second.load_state_dict(saved)
    assert second.reinits == 1
    for m in ("video", "audio"):
        assert all(torch.equal(a, b) for a, b in zip(second.init[m], first.init[m], strict=True))
    # The restored snapshot is what the next re-init pulls toward.
    other.load_state_dict(model.state_dict())
    second.epochs, first.epochs = 6, 6
    second.attach(hand_loaders())
    first.start_epoch(4)
    second.start_epoch(4)  # 6 epochs: period 1, after epoch 3
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), other.parameters(), strict=True))
    assert first.reinits == second.reinits == 2


def _roundtrip(state: dict):
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return buffer


# --------------------------------------------------------------------------- #
# through the engine
# --------------------------------------------------------------------------- #


class StopAfterEpoch(NullProgress):
    def __init__(self, epoch: int):
        self.epoch = epoch

    def end_epoch(self, line):
        if line["epoch"] == self.epoch:
            raise KeyboardInterrupt


def metric_lines(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / METRICS).read_text().splitlines()]


@pytest.mark.slow
def test_a_run_reinitialises_once_and_resumes_across_it(tmp_path):
    config = load_config("synth", SMALL, strategy__name="drb")
    whole = train_run(config, "day", tmp_path / "whole")
    lines = metric_lines(whole.path)
    assert [line["strategy"]["drb/reinits"] for line in lines] == [0.0, 0.0, 1.0]
    assert "drb/video/alpha" in lines[2]["strategy"] and "drb/video/alpha" not in lines[1]["strategy"]
    assert all(0 <= lines[2]["strategy"][f"drb/{m}/alpha"] < 1 for m in ("video", "audio"))
    clips = whole.summary["clips"]
    assert clips["holdout"] == 8 and clips["train"] == clips["train_eval"] == 24  # 1 of each 4-clip group
    # Cut after epoch 2, before the re-init that starts epoch 3: the resumed run re-initialises the same way.
    with pytest.raises(KeyboardInterrupt):
        train_run(config, "day", tmp_path / "cut", progress=StopAfterEpoch(2))
    resumed = train_run(config, "day", tmp_path / "cut")
    assert metric_lines(resumed.path) == lines
