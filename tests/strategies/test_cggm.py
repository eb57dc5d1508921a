"""CGGM (mmdg_bench/strategies/cggm.py) against the official rule, written out here independently from
zrguo/CGGM at 21e428cb7e666b8640453557380bb6414b7d246f:

- src/foodtrain.py:112-119: acc2 = per-classifier batch accuracy (numpy argmax, as
  src/eval_metrics.py:66-73 `train_eval_food`), diff = acc2 - acc1, diff_sum = sum(diff) + 1e-8,
  coeff_m = (diff_sum - diff_m) / diff_sum, acc1 = acc2 (:120).
- src/foodtrain.py:122-123 with src/eval_metrics.py:165-173: l_gm = (sum|coeff| - sum coeff_m cos_m) / M,
  cos_m = F.cosine_similarity of clones of the classifier's and the fused model's `out_layer.weight`.
- src/foodtrain.py:85-88: the next step back-propagates raw_loss + lamda * l_gm (the graph of the
  clones kept across the optimizer step); :91 `cls_optimizer.zero_grad()` erases the classifiers' share.
- src/foodtrain.py:125-129: encoder m's gradient *= coeff_m * rou; :133 clip_grad_norm_(model, clip).
"""

import copy
import doctest
import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmdg_bench.config import load_config
from mmdg_bench.engine.train import step_losses
from mmdg_bench.errors import UserError
from mmdg_bench.models import build_model
from mmdg_bench.strategies import STRATEGIES, cggm
from mmdg_bench.strategies.baseline import Baseline
from mmdg_bench.strategies.cggm import (
    CGGM,
    CGGMParams,
    batch_accuracy,
    cggm_coefficients,
    direction_gradient,
    direction_loss,
)
from tests.conftest import training_batch
from tests.strategies.test_strategies import TARGET, TINY, assert_close, gradients, synth_model

# --------------------------------------------------------------------------- #
# the official rule, written out independently
# --------------------------------------------------------------------------- #


def official_coefficients(acc2: list[float], acc1: list[float], guard: float) -> list[float]:
    """foodtrain.py:113-119 in plain Python floats, plus our guard (guard=0: the official rule)."""
    diff = [a2 - a1 for a2, a1 in zip(acc2, acc1)]
    diff_sum = sum(diff) + 1e-8
    if abs(diff_sum) < guard:
        return [1.0] * len(diff)
    return [(diff_sum - d) / diff_sum for d in diff]


def numpy_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """eval_metrics.py:66-73: argmax in numpy, the fraction right."""
    return float(np.mean(np.argmax(logits.detach().numpy(), axis=1) == labels.numpy()))


def closed_form_direction_gradient(coeffs: list[float], unimodal: list[torch.Tensor], fused: torch.Tensor):
    """d/dW_f of (1/M)(sum|B| - sum B_m cos(w_m, W_f)), by hand: d cos(a, b)/db = a/(|a||b|) - cos b/|b|^2."""
    b = fused.detach().double().reshape(-1)
    grad = torch.zeros_like(b)
    for coeff, w in zip(coeffs, unimodal):
        a = w.detach().double().reshape(-1)
        cos = float(a @ b / (a.norm() * b.norm()))
        grad -= coeff * (a / (a.norm() * b.norm()) - cos * b / b.norm() ** 2) / len(coeffs)
    return grad.reshape(fused.shape).float()


def fused_out(model):
    return model.fused_head.head[-1]


def unimodal_out(model, m):
    return model.unimodal_heads[m][-1]


def strategy(model, **params) -> CGGM:
    return CGGM(CGGMParams(**params), model)


# --------------------------------------------------------------------------- #
# pure functions
# --------------------------------------------------------------------------- #


def test_the_docstring_examples_run_as_written():
    results = doctest.testmod(cggm, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert results.attempted >= 6 and results.failed == 0


@pytest.mark.parametrize("d", [[0.25, 0.125], [0.5, -0.25, 0.125], [-0.1875, 0.0625], [0.0, 0.0, 0.0]])
def test_coefficients_are_the_official_formula(d):
    got, guarded = cggm_coefficients(torch.tensor(d, dtype=torch.float64))
    want = official_coefficients(d, [0.0] * len(d), guard=0.0)
    assert got.tolist() == pytest.approx(want, rel=1e-12) and not guarded
    if any(d):  # sum_m B_m = M - 1 up to the 1e-8 (all zero: every B_m = 1)
        assert float(got.sum()) == pytest.approx(len(d) - 1)


def test_coefficients_by_hand():
    # d = (0.25, 0.125): D = 0.375 (+1e-8); B_1 = 0.125/0.375 = 1/3, B_2 = 0.25/0.375 = 2/3
    got, _ = cggm_coefficients(torch.tensor([0.25, 0.125], dtype=torch.float64))
    assert got.tolist() == pytest.approx([1 / 3, 2 / 3], rel=1e-7)
    # mixed signs: d = (0.25, -0.125): D = 0.125; B_1 = -0.125/0.125 = -1, B_2 = 0.25/0.125 = 2
    got, _ = cggm_coefficients(torch.tensor([0.25, -0.125], dtype=torch.float64), guard=1e-6)
    assert got.tolist() == pytest.approx([-1.0, 2.0], rel=1e-6)


def test_the_guard_acts_only_where_the_changes_cancel():
    cancel = torch.tensor([0.0625, -0.0625], dtype=torch.float64)
    official, guarded = cggm_coefficients(cancel, guard=0.0)
    assert official.tolist() == pytest.approx([-6249999.0, 6250001.0]) and not guarded
    got, guarded = cggm_coefficients(cancel, guard=1e-6)
    assert got.tolist() == [1.0, 1.0] and guarded
    # a guard of M or more turns the modulation off whatever the changes
    assert cggm_coefficients(torch.tensor([1.0, 0.0], dtype=torch.float64), guard=2.5)[0].tolist() == [1.0, 1.0]


def test_direction_loss_and_gradient_by_hand():
    # B = (1, 2), cos = (0.5, -1): L_gm = (3 - (0.5 - 2)) / 2 = 2.25
    assert float(direction_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.5, -1.0]))) == pytest.approx(2.25)
    # w_1 = (1, 0), w_2 = (1, 1), W_f = (0, 1), B = (1, 0.5):
    # cos_1 = 0, cos_2 = 1/sqrt2; dcos_1/dW_f = (1, 0); dcos_2/dW_f = (1,1)/sqrt2 - (0, 1)/sqrt2 = (1/sqrt2, 0)
    # dL/dW_f = -(1/2)(1 (1, 0) + 0.5 (1/sqrt2, 0)) = (-(1 + 0.5/sqrt2)/2, 0)
    grad, cos = direction_gradient(torch.tensor([1.0, 0.5]), [torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])],
                                   torch.tensor([0.0, 1.0]))
    assert cos.tolist() == pytest.approx([0.0, 1 / math.sqrt(2)], abs=1e-7)
    assert grad.tolist() == pytest.approx([-(1 + 0.5 / math.sqrt(2)) / 2, 0.0], abs=1e-7)


def test_batch_accuracy():
    logits = torch.tensor([[3.0, 0.0, 1.0], [0.0, 2.0, 1.0], [0.0, 0.0, 5.0], [1.0, 0.0, 0.0]])
    assert float(batch_accuracy(logits, torch.tensor([0, 1, 1, 2]))) == 0.5


# --------------------------------------------------------------------------- #
# settings
# --------------------------------------------------------------------------- #


def test_the_defaults_are_the_official_food101_run_and_valid():
    params = CGGMParams()
    params.validate()
    assert (params.rho, params.lamda, params.clip) == (1.3, 0.05, 0.8)  # run/food_run.py:51,63,64


@pytest.mark.parametrize("bad", [{"rho": 0.0}, {"rho": -1.0}, {"rho": math.nan}, {"rho": math.inf},
                                 {"lamda": -0.1}, {"lamda": math.nan}, {"clip": -1.0}, {"clip": math.inf},
                                 {"guard": -1e-6}, {"guard": math.nan}])
def test_validate_refuses_out_of_range_params(bad):
    with pytest.raises(UserError, match="CGGM's") as error:
        CGGMParams(**bad).validate()
    assert "\n" not in str(error.value)


def test_one_modality_and_a_fusion_without_an_output_layer_are_refused(config):
    one = build_model(config.model, ["video"], config.data.synth.classes, 2, True)
    with pytest.raises(UserError, match="at least two modalities"):
        strategy(one)
    late = load_config("synth", [*TINY, "model.fusion=late"])
    model = build_model(late.model, late.data.modalities, late.data.synth.classes, 2, True)
    with pytest.raises(UserError, match="lamda=0"):
        strategy(model)
    assert strategy(model, lamda=0.0).fused_layer is None


@pytest.mark.parametrize("fusion", ["concat", "sum", "film", "gated"])
def test_the_fused_output_layer_is_the_classifier_mlp_last_linear(fusion):
    cfg = load_config("synth", [*TINY, f"model.fusion={fusion}"])
    model = build_model(cfg.model, cfg.data.modalities, cfg.data.synth.classes, 2, True)
    assert strategy(model).fused_layer is model.fused_head.head[-1]


# --------------------------------------------------------------------------- #
# one step by the formulas, and the official loop step by step
# --------------------------------------------------------------------------- #


def test_one_step_by_the_formulas(config, batch):
    """Hand-set state (previous accuracies, a previous L_gm gradient), clip off: each gradient the
    strategy writes, and the state it leaves, against the formulas."""
    model = synth_model(config, 0, "cggm")
    reference = copy.deepcopy(model)
    rho, lamda = 1.3, 0.5
    s = strategy(model, rho=rho, lamda=lamda, clip=0.0)
    previous = [0.75, 0.0625]
    s.previous_accuracy = torch.tensor(previous, dtype=torch.float64)
    pending = torch.randn(fused_out(model).weight.shape, generator=torch.Generator().manual_seed(1))
    s.pending = pending.clone()
    step = step_losses(model, batch, config)
    acc = [numpy_accuracy(step.outputs.unimodal_logits[m], batch["label"]) for m in model.modalities]
    coeffs = official_coefficients(acc, previous, guard=1e-6)
    assert all(abs(c - 1) > 1e-3 for c in coeffs), coeffs  # the check below is not the trivial B = 1
    unimodal_weights = [unimodal_out(model, m).weight.detach().clone() for m in model.modalities]
    fused_weight = fused_out(model).weight.detach().clone()
    diagnostics = s.backward(step)
    got = gradients(model)

    Baseline(None, reference).backward(step_losses(reference, batch, config))
    want = gradients(reference)
    step_ref = step_losses(reference, batch, config)
    for i, m in enumerate(model.modalities):
        params = dict(reference.encoders[m].named_parameters())
        g_c = torch.autograd.grad(step_ref.classification, list(params.values()), retain_graph=True)
        g_d = torch.autograd.grad(step_ref.domain, list(params.values()), retain_graph=True)
        for (name, _), c, d in zip(params.items(), g_c, g_d):
            want[f"encoders.{m}.{name}"] = rho * coeffs[i] * c + d
    want["fused_head.head.2.weight"] = want["fused_head.head.2.weight"] + lamda * pending
    assert set(got) == set(want)
    for name in want:
        assert_close(got[name], want[name])

    assert s.previous_accuracy.tolist() == acc
    assert_close(s.pending, closed_form_direction_gradient(coeffs, unimodal_weights, fused_weight))
    cos = [float(F.cosine_similarity(w.reshape(-1), fused_weight.reshape(-1), dim=0)) for w in unimodal_weights]
    for i, m in enumerate(model.modalities):
        assert diagnostics[f"cggm/{m}/acc"] == acc[i]
        assert diagnostics[f"cggm/{m}/coeff"] == pytest.approx(coeffs[i], rel=1e-9)
        assert diagnostics[f"cggm/{m}/cos"] == pytest.approx(cos[i], abs=1e-6)
    l_gm = (sum(abs(c) for c in coeffs) - sum(c * k for c, k in zip(coeffs, cos))) / len(coeffs)
    assert diagnostics["cggm/l_gm"] == pytest.approx(l_gm, rel=1e-5)
    assert diagnostics["cggm/guarded"] == 0.0


@pytest.fixture(scope="module")
def two_batches(config):
    whole = training_batch(config, TARGET, size=32)
    return [{k: v[:16] if torch.is_tensor(v) else v for k, v in whole.items()},
            {k: v[16:] if torch.is_tensor(v) else v for k, v in whole.items()}]


def test_matches_the_official_loop(config, two_batches):
    """Three SGD steps (batches 1, 2, 1): the strategy on one copy of the model, on the other the
    official train loop (foodtrain.py:85-135) re-enacted literally: l_gm kept as a graph on clones of
    the weights and added to the next step's loss, classifier grads reset to their CE, encoder grads
    scaled (the classification part, the house convention), the clip, then the step; the strategy's
    copy takes the official copy's weights after each step, its own state (pending L_gm gradient,
    previous accuracies) carries over."""
    rho, lamda, clip, guard, lr = 1.3, 0.5, 0.8, 1e-6, 0.5
    model = synth_model(config, 0, "cggm")
    official = copy.deepcopy(model)
    s = strategy(model, rho=rho, lamda=lamda, clip=clip, guard=guard)
    acc1 = [0.5, 0.0]  # a non-trivial start (the official one is [0] * num_mod: foodtrain.py:54)
    s.previous_accuracy = torch.tensor(acc1, dtype=torch.float64)
    l_gm = None
    unimodal_params = list(official.unimodal_heads.parameters())
    seen_coeffs = []
    for clips in [two_batches[0], two_batches[1], two_batches[0]]:
        diagnostics = s.backward(step_losses(model, clips, config))
        got = gradients(model)

        official.zero_grad(set_to_none=True)
        step = step_losses(official, clips, config)
        step.total.backward(retain_graph=True)  # raw_loss.backward() (foodtrain.py:88) ...
        head_ce = [p.grad.clone() for p in unimodal_params]  # cls_loss.backward() after the zero_grad (:91-104)
        if l_gm is not None:
            (lamda * l_gm).backward()  # ... with + lamda * l_gm of the previous step (:86-87)
        for p, g in zip(unimodal_params, head_ce):
            p.grad = g
        acc2 = [numpy_accuracy(step.outputs.unimodal_logits[m], clips["label"]) for m in official.modalities]
        coeff = official_coefficients(acc2, acc1, guard)
        acc1 = acc2
        fusion = fused_out(official).weight.clone().view(-1)  # cal_cos (eval_metrics.py:165-173)
        llist = [F.cosine_similarity(unimodal_out(official, m).weight.clone().view(-1), fusion, dim=0)
                 for m in official.modalities]
        l_gm = (np.sum(np.abs(coeff)) - sum(c * k for c, k in zip(coeff, llist))) / len(coeff)
        for i, m in enumerate(official.modalities):  # params.grad *= coeff * rou, on g_c (:125-129)
            params = official.encoder_parameters(m)
            g_c = torch.autograd.grad(step.classification, params, retain_graph=True)
            g_d = torch.autograd.grad(step.domain, params, retain_graph=True)
            for p, c, d in zip(params, g_c, g_d):
                p.grad = coeff[i] * rho * c + d  # (g_c + g_d) - (1 - B rho) g_c would cancel when B ~ 0
        unimodal_ids = {id(p) for p in unimodal_params}
        torch.nn.utils.clip_grad_norm_([p for p in official.parameters() if id(p) not in unimodal_ids], clip)
        want = {name: p.grad.clone() for name, p in official.named_parameters() if p.grad is not None}

        assert set(got) == set(want)
        for name in want:
            assert_close(got[name], want[name])
        seen_coeffs.append(coeff)
        assert [diagnostics[f"cggm/{m}/coeff"] for m in model.modalities] == pytest.approx(coeff, rel=1e-9)
        with torch.no_grad():
            for name, p in official.named_parameters():
                if name in want:
                    p -= lr * want[name]
        # The same weights for the next step: BatchNorm on the synthetic clips turns float rounding
        # (1e-7 apart after one step) into 0.3% gradient differences a step later.
        model.load_state_dict(official.state_dict())
    assert any(abs(c - 1) > 1e-3 for coeff in seen_coeffs for c in coeff), seen_coeffs  # not all trivial


def test_the_guard_in_the_strategy(config, batch):
    """Previous accuracies set so that the changes cancel: the guard gives B = 1 (baseline's encoder
    gradients, under the clip and lamda off); guard 0 gives the official, exploding coefficients."""
    model = synth_model(config, 0, "cggm")
    step = step_losses(model, batch, config)
    acc = [numpy_accuracy(step.outputs.unimodal_logits[m], batch["label"]) for m in model.modalities]
    cancel = torch.tensor([acc[0] - 0.125, acc[1] + 0.125], dtype=torch.float64)
    s = strategy(model, rho=1.0, lamda=0.0, clip=0.0)
    s.previous_accuracy = cancel.clone()
    diagnostics = s.backward(step)
    got = gradients(model)
    reference = copy.deepcopy(model)
    Baseline(None, reference).backward(step_losses(reference, batch, config))
    want = gradients(reference)
    assert diagnostics["cggm/guarded"] == 1.0
    for name in want:
        assert_close(got[name], want[name])
    s = strategy(model, guard=0.0)
    s.previous_accuracy = cancel.clone()
    diagnostics = s.backward(step_losses(model, batch, config))
    assert diagnostics["cggm/guarded"] == 0.0 and abs(diagnostics[f"cggm/{model.modalities[0]}/coeff"]) > 1e6


def test_the_state_survives_a_checkpoint(config, two_batches):
    """state_dict -> torch.save -> torch.load(weights_only) -> a fresh strategy: the next step is the same."""
    model = synth_model(config, 0, "cggm")
    s = strategy(model)
    s.backward(step_losses(model, two_batches[0], config))
    model.zero_grad(set_to_none=True)
    buffer = io.BytesIO()
    torch.save(s.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert set(state) == {"previous_accuracy", "pending"} and state["pending"] is not None
    twin_model = copy.deepcopy(model)
    twin = strategy(twin_model)
    twin.load_state_dict(state)
    assert torch.equal(twin.previous_accuracy, s.previous_accuracy) and torch.equal(twin.pending, s.pending)
    fresh = strategy(copy.deepcopy(model))  # without the state the step differs (the test can fail)
    results = []
    for strat, net in ((s, model), (twin, twin_model), (fresh, fresh.model)):
        diagnostics = strat.backward(step_losses(net, two_batches[1], config))
        results.append((diagnostics, gradients(net)))
    (d1, g1), (d2, g2), (d3, g3) = results
    assert d1 == d2 and all(torch.equal(g1[name], g2[name]) for name in g1)
    assert d1 != d3


def test_registered_with_its_facts():
    info = STRATEGIES.info("cggm")
    assert info["reweighs_heads"] is True  # L_gm's gradient lands on the fused head's output layer
    CGGMParams(**info["neutral"]).validate()
