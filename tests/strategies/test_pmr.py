"""PMR (mmdg_bench/strategies/pmr.py) against the official rule, written out here independently from
fanyunfeng-bit/Modal-Imbalance-PMR at 3615e48983555089b0e693380087617c3797a641, main_Prototype_grad.py:

- :383-433 `calculate_prototype`: model.eval(), no_grad, per clip `proto[label] += feature`, then each
  class divided by its count, over the first `len(loader) // 10` batches (at least one).
- :435-440: EMA (1 - momentum_coef) new + momentum_coef old unless `epoch <= 0`; :535-539 and :551-557
  call it before training and after each epoch, with epoch = 0 both first times.
- :69-75 `EU_dist`: d[i, k] = sqrt(dot(x_i - c_k, x_i - c_k)); :152-153 sim = -EU_dist(z, proto).
- :156-178: in the window, s = sum_i softmax(sim)[i][label_i] per modality, ratio_a_p = s_a / s_v;
  ratio > 1: visual gets alpha * CE(visual_sim, label); < 1: audio gets it; == 1: neither;
  loss = CE(fused) + beta * CE(audio_sim) + lam * CE(visual_sim), one backward.
"""

import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmdg_bench.config import load_config
from mmdg_bench.data import load_index
from mmdg_bench.engine import train_run
from mmdg_bench.engine.train import build_loaders, step_losses
from mmdg_bench.errors import UserError
from mmdg_bench.models import build_model
from mmdg_bench.strategies import STRATEGIES, pmr
from mmdg_bench.strategies.baseline import Baseline
from mmdg_bench.strategies.pmr import (
    PMR,
    PMRParams,
    batches_to_read,
    class_means,
    ema_prototypes,
    prototype_logits,
    prototype_pass,
    weak_modalities,
)
from tests.strategies.test_strategies import TARGET, TINY, assert_close, gradients, synth_model

NAN = float("nan")


# --------------------------------------------------------------------------- #
# the official rule, written out independently
# --------------------------------------------------------------------------- #


def official_eu_dist(x: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
    """:69-75, element by element (differentiable in x)."""
    rows = []
    for i in range(x.shape[0]):
        rows.append(torch.stack([torch.sqrt(torch.dot(x[i] - protos[j], x[i] - protos[j]))
                                 for j in range(protos.shape[0])]))
    return torch.stack(rows)


@torch.no_grad()
def official_prototypes(model, batches, num_classes: int) -> dict[str, torch.Tensor]:
    """:397-433 over the given batches: eval mode, clip by clip sums, divided by the counts."""
    model.eval()
    protos = {m: torch.zeros(num_classes, model.dims[m]) for m in model.modalities}
    count = [0] * num_classes
    for batch in batches:
        features = model.encode(batch)
        for c, label in enumerate(batch["label"].tolist()):
            count[label] += 1
            for m in model.modalities:
                protos[m][label, :] += features[m][c, :]
    model.train()
    for m in model.modalities:
        for c in range(num_classes):
            protos[m][c, :] /= count[c]
    return protos


def official_step_loss(model, batch, config, protos: dict[str, torch.Tensor], alpha: float):
    """:152-178 with audio and visual: (the loss to back-propagate, the modality given the prototype CE)."""
    step = step_losses(model, batch, config)
    label = step.labels
    sim = {m: -official_eu_dist(step.outputs.features[m], protos[m]) for m in ("audio", "video")}
    score = {m: sum(F.softmax(sim[m], dim=1)[i][label[i]] for i in range(label.shape[0])) for m in sim}
    ratio_a_p = score["audio"] / score["video"]
    if ratio_a_p > 1:
        beta, lam, weak = 0.0, alpha, "video"
    elif ratio_a_p < 1:
        beta, lam, weak = alpha, 0.0, "audio"
    else:
        beta, lam, weak = 0.0, 0.0, None
    loss = step.total + beta * F.cross_entropy(sim["audio"], label) + lam * F.cross_entropy(sim["video"], label)
    return loss, weak


def encoder_gradient(grads: dict[str, torch.Tensor], m: str) -> torch.Tensor:
    return torch.cat([g.reshape(-1) for name, g in grads.items() if name.startswith(f"encoders.{m}.")])


# --------------------------------------------------------------------------- #
# oracle: one step against the official rule
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("alpha", [2.0, 0.7])
def test_step_equals_the_official_rule_for_either_weak_modality(config, batch, alpha):
    """Prototypes from the official loop over the batch; then again with the stronger modality's
    prototype rows rolled by one class (its score drops), so that both branches of :169-175 run.
    Every parameter's gradient equals autograd of the official loss; the strong encoder and every
    head keep baseline's gradient, the weak encoder's differs."""
    classes = config.data.synth.classes
    assert sorted(set(batch["label"].tolist())) == list(range(classes)), "every class must be in the batch"
    protos = official_prototypes(synth_model(config, 0, "pmr"), [batch], classes)
    seen = set()
    for roll in (None, "natural-strong"):
        if roll is not None:  # make the modality that was stronger the weaker one
            strong = next(m for m in ("audio", "video") if m not in seen)
            protos = {**protos, strong: protos[strong].roll(1, dims=0)}
        want_model = synth_model(config, 0, "pmr")
        loss, weak = official_step_loss(want_model, batch, config, protos, alpha)
        loss.backward()
        want = gradients(want_model)

        model = synth_model(config, 0, "pmr")
        strategy = PMR(PMRParams(alpha=alpha), model)
        strategy.epoch = 1
        strategy.prototypes = {m: p.clone() for m, p in protos.items()}
        diagnostics = strategy.backward(step_losses(model, batch, config))
        got = gradients(model)
        assert weak is not None and diagnostics[f"pmr/{weak}/coeff"] == alpha
        assert sum(diagnostics[f"pmr/{m}/coeff"] for m in model.modalities) == alpha
        assert got.keys() == want.keys()
        for name in want:
            assert_close(got[name], want[name])

        base_model = synth_model(config, 0, "pmr")
        step_losses(base_model, batch, config).total.backward()
        base = gradients(base_model)
        strong = next(m for m in model.modalities if m != weak)
        for name in base:
            if not name.startswith(f"encoders.{weak}."):
                torch.testing.assert_close(got[name], base[name], rtol=0, atol=0)
        assert not torch.allclose(encoder_gradient(got, weak), encoder_gradient(base, weak), rtol=1e-3, atol=1e-6)
        assert encoder_gradient(got, strong).abs().sum() > 0
        seen.add(weak)
    assert seen == {"audio", "video"}


def test_alpha_zero_and_outside_the_window_are_exactly_baseline(config, batch):
    protos = official_prototypes(synth_model(config, 0, "pmr"), [batch], config.data.synth.classes)
    base_model = synth_model(config, 0, "pmr")
    Baseline(None, base_model).backward(step_losses(base_model, batch, config))
    base = gradients(base_model)
    for params, epoch in ((PMRParams(alpha=0.0), 1), (PMRParams(start_epoch=2, end_epoch=3), 2),
                          (PMRParams(end_epoch=0), 2)):
        model = synth_model(config, 0, "pmr")
        strategy = PMR(params, model)
        strategy.epoch, strategy.prototypes = epoch, protos
        strategy.backward(step_losses(model, batch, config))
        got = gradients(model)
        for name in base:
            torch.testing.assert_close(got[name], base[name], rtol=0, atol=0)


def test_without_prototypes_the_step_is_baselines(config, batch):
    model = synth_model(config, 0, "pmr")
    strategy = PMR(PMRParams(), model)
    strategy.epoch = 1
    assert strategy.backward(step_losses(model, batch, config)) == {"pmr/active": 0.0}


def test_registry_neutral_setting():
    assert STRATEGIES.info("pmr")["neutral"] == {"alpha": 0.0}
    assert not STRATEGIES.info("pmr").get("reweighs_heads")


def test_needs_two_modalities(config):
    model = build_model(config.model, ["video"], config.data.synth.classes, 2)
    with pytest.raises(UserError, match="at least two modalities"):
        PMR(PMRParams(), model)


# --------------------------------------------------------------------------- #
# the prototype pass
# --------------------------------------------------------------------------- #


def train_loader(config):
    index = load_index(config.data)
    loaders, _, _ = build_loaders(config, {"train": index.protocol(TARGET)["train"]}, index.sources(TARGET), "cpu")
    return loaders["train"]


def test_the_pass_over_every_batch_equals_the_official_class_means(config):
    """fraction=1: the class means of the whole training split (the batches' order does not matter),
    as :397-433 computes them; the pass leaves the model in train mode, BatchNorm's statistics, the
    training order's generator and torch's global generator as they were."""
    loader = train_loader(config)
    model = synth_model(config, 0, "pmr")
    strategy = PMR(PMRParams(fraction=1.0), model, seed=3)
    strategy.attach({"train": loader})
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    global_rng, shuffle_rng = torch.get_rng_state(), loader.sampler.generator.get_state()
    strategy.start_epoch(1)
    assert model.training
    assert torch.equal(torch.get_rng_state(), global_rng)
    assert torch.equal(loader.sampler.generator.get_state(), shuffle_rng)
    for k, v in model.state_dict().items():
        assert torch.equal(v, buffers[k]), k
    # The official loop over the same clips with this epoch's augmentation, in plain order.
    dataset = loader.dataset
    items = [dataset[(i, 1)] for i in range(len(dataset))]
    batches = [torch.utils.data.default_collate(items[i:i + 8]) for i in range(0, len(items), 8)]
    want = official_prototypes(synth_model(config, 0, "pmr"), batches, config.data.synth.classes)
    for m in model.modalities:
        torch.testing.assert_close(strategy.prototypes[m], want[m], rtol=1e-5, atol=1e-5)


class FeatureModel(nn.Module):
    """A stand-in model: its feature is the batch's "x", its fused logits have `classes` columns."""

    def __init__(self, classes: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.classes = classes

    def forward(self, batch):
        x = batch["x"] * self.scale
        return type("Out", (), {"features": {"a": x}, "fused_logits": x.new_zeros(len(x), self.classes)})


def test_the_pass_reads_its_share_then_on_until_every_class_has_a_clip():
    # 10 batches of 2 clips (features i and i + 0.5 in batch i): class 0, 0, 1, 1, then 2.
    labels = [0, 0, 1, 1, 2, 2, 2, 2, 2, 2]
    loader = [{"x": torch.tensor([[float(i)], [float(i) + 0.5]]), "label": torch.tensor([c, c])}
              for i, c in enumerate(labels)]
    model = FeatureModel(classes=3)
    got = prototype_pass(model, loader, min_batches=1)["a"]  # on to batch 4, where class 2 first appears
    torch.testing.assert_close(got, torch.tensor([[0.75], [2.75], [4.25]]))
    assert model.training
    got = prototype_pass(model, loader, min_batches=7)["a"]  # every class seen by then: batches 0..6
    torch.testing.assert_close(got, torch.tensor([[0.75], [2.75], [5.25]]))
    # A fourth class with no clip at all: the whole loader is read, and class 3 has no prototype.
    got = prototype_pass(FeatureModel(classes=4), loader, min_batches=1)["a"]
    torch.testing.assert_close(got, torch.tensor([[0.75], [2.75], [6.75], [NAN]]), equal_nan=True)


def test_batches_to_read_is_the_officials_tenth():
    assert [batches_to_read(0.1, n) for n in (1, 9, 10, 19, 20, 105)] == [1, 1, 1, 1, 2, 10]
    assert batches_to_read(0.29, 100) == 29 and batches_to_read(1.0, 7) == 7


def test_prototype_schedule_follows_the_official_ema(monkeypatch):
    """Estimates A, B, C, D at epochs 1..4 (the official's before-training one and those after its
    epochs 0, 1, 2): A and B are used as they are, then C and D are folded in (:435-440)."""
    estimates = iter([torch.tensor([[float(v)]]) for v in (1.0, 2.0, 4.0, 8.0)])
    calls = []

    def fake_pass(model, loader, min_batches):
        calls.append(min_batches)
        return {"video": next(estimates), "audio": torch.zeros(1, 1)}

    monkeypatch.setattr(pmr, "prototype_pass", fake_pass)
    monkeypatch.setattr(PMR, "pass_loader", lambda self, epoch: [None] * 25)
    model = build_model(load_config("synth", TINY).model, ["video", "audio"], 1, 2)
    strategy = PMR(PMRParams(momentum=0.25), model)
    strategy.train_loader = object()
    seen = []
    for epoch in range(1, 5):
        strategy.start_epoch(epoch)
        seen.append(float(strategy.prototypes["video"]))
    assert seen == [1.0, 2.0, 0.75 * 4.0 + 0.25 * 2.0, 0.75 * 8.0 + 0.25 * 3.5]
    assert calls == [2] * 4  # 25 batches: 25 // 10


def test_passes_are_skipped_where_no_window_epoch_uses_them(monkeypatch):
    calls = []
    monkeypatch.setattr(pmr, "prototype_pass", lambda model, loader, n: calls.append(1) or {})
    monkeypatch.setattr(PMR, "pass_loader", lambda self, epoch: [None])
    model = build_model(load_config("synth", TINY).model, ["video", "audio"], 4, 2)
    strategy = PMR(PMRParams(start_epoch=2, end_epoch=3), model)
    strategy.train_loader = object()
    ran = []
    for epoch in range(1, 7):  # official epochs 0..5: the window is 2..3
        calls.clear()
        strategy.start_epoch(epoch)
        ran.append(bool(calls))
    assert ran == [False, False, True, True, False, False]
    strategy = PMR(PMRParams(start_epoch=2, end_epoch=3, momentum=0.5), model)  # history matters now
    strategy.train_loader = object()
    ran = []
    for epoch in range(1, 7):
        calls.clear()
        strategy.start_epoch(epoch)
        ran.append(bool(calls))
    assert ran == [True, True, True, True, False, False]


# --------------------------------------------------------------------------- #
# pure functions, settings, state
# --------------------------------------------------------------------------- #


def test_prototype_logits_by_hand():
    z = torch.tensor([[0.0, 0.0], [1.0, 1.0]], requires_grad=True)
    c = torch.tensor([[3.0, 4.0], [1.0, 1.0], [NAN, 0.0]])
    logits = prototype_logits(z, c)
    torch.testing.assert_close(logits[:, :2], torch.tensor([[-5.0, -2 ** 0.5], [-(13 ** 0.5), 0.0]]))
    assert torch.isinf(logits[:, 2]).all() and (logits[:, 2] < 0).all()
    # d/dz of -sum_k ||z - c_k||: zero distance contributes 0 (not NaN); the masked class nothing.
    logits[1, :2].sum().backward()
    torch.testing.assert_close(z.grad, torch.tensor([[0.0, 0.0], [2.0 / 13 ** 0.5, 3.0 / 13 ** 0.5]]))


def test_weak_modalities_by_hand():
    assert weak_modalities(torch.tensor([0.2, 0.9])).tolist() == [True, False]
    assert weak_modalities(torch.tensor([0.9, 0.2])).tolist() == [False, True]
    assert weak_modalities(torch.tensor([0.5, 0.5])).tolist() == [False, False]
    assert weak_modalities(torch.tensor([3.0, 1.0, 2.0, 2.0])).tolist() == [False, True, False, False]
    with pytest.raises(ValueError):
        weak_modalities(torch.tensor([1.0]))


def test_class_means_and_ema_by_hand():
    means = class_means(torch.tensor([[6.0, 3.0], [0.0, 0.0], [1.0, 1.0]]), torch.tensor([3, 0, 1]))
    torch.testing.assert_close(means, torch.tensor([[2.0, 1.0], [NAN, NAN], [1.0, 1.0]]), equal_nan=True)
    old = torch.tensor([[0.0, 1.0], [5.0, 5.0], [NAN, NAN]])
    torch.testing.assert_close(ema_prototypes(means, old, 0.2),
                               torch.tensor([[1.6, 1.0], [5.0, 5.0], [1.0, 1.0]]))
    assert ema_prototypes(means, None, 0.2) is means


@pytest.mark.parametrize("settings", [{"alpha": -0.1}, {"alpha": float("inf")}, {"alpha": float("nan")},
                                      {"momentum": -0.01}, {"momentum": 1.5}, {"start_epoch": -1},
                                      {"start_epoch": 5, "end_epoch": 4}, {"fraction": 0.0}, {"fraction": 1.01}])
def test_validate_refuses_out_of_range(settings):
    with pytest.raises(UserError, match="PMR's"):
        PMRParams(**settings).validate()
    PMRParams().validate()
    PMRParams(alpha=0.0, momentum=1.0, fraction=1.0, start_epoch=3, end_epoch=3).validate()


def test_state_survives_state_dict(config, batch):
    protos = official_prototypes(synth_model(config, 0, "pmr"), [batch], config.data.synth.classes)
    protos["audio"][1] = NAN  # a class without a prototype survives as one
    model = synth_model(config, 0, "pmr")
    strategy = PMR(PMRParams(), model)
    strategy.prototypes = protos
    buffer = io.BytesIO()
    torch.save(strategy.state_dict(), buffer)
    buffer.seek(0)
    resumed = PMR(PMRParams(), synth_model(config, 0, "pmr"))
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert resumed.prototypes.keys() == protos.keys()
    for m in protos:
        torch.testing.assert_close(resumed.prototypes[m], protos[m], equal_nan=True, rtol=0, atol=0)
    strategy.epoch = resumed.epoch = 1
    strategy.backward(step_losses(model, batch, config))
    resumed.backward(step_losses(resumed.model, batch, config))
    want, got = gradients(model), gradients(resumed.model)
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=0, atol=0)


@pytest.mark.slow
def test_trains_through_the_engine(tmp_path):
    result = train_run(load_config("synth", TINY, strategy__name="pmr"), TARGET, tmp_path)
    diagnostics = result.summary["diagnostics"]
    assert diagnostics["pmr/active"] == 1.0
    assert {f"pmr/{m}/{k}" for m in ("video", "audio") for k in ("score", "proto_ce", "coeff")} <= diagnostics.keys()
