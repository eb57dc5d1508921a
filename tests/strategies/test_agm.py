"""Tests of AGM (mmdg_bench/strategies/agm.py) against the official code, lihong2303/AGM_ICCV2023 at
5a65542 (run/CREMAD_main.py, model/CREMAD_net.py, model/URFunny_net.py, run/URFunny_main.py): the rule
written out again here from those files, on the synth model and on small hand-made cases."""

import doctest
import io
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmdg_bench.config import load_config
from mmdg_bench.engine.train import step_losses
from mmdg_bench.errors import UserError
from mmdg_bench.losses import FUSED
from mmdg_bench.models import MultimodalModel
from mmdg_bench.strategies import agm
from mmdg_bench.strategies.agm import (
    AGM,
    AGMParams,
    agm_coefficients,
    agm_ratios,
    coalition_masks,
    output_weights,
    response_scores,
    running_mean,
    shapley_matrix,
    shapley_values,
)
from mmdg_bench.strategies.baseline import Baseline
from tests.conftest import training_batch
from tests.strategies.test_strategies import (
    TARGET,
    TINY,
    assert_close,
    encoder_update,
    gradients,
    reference_pair,
    synth_model,
    three_modality_step,
)


@pytest.fixture(scope="module")
def config():
    return load_config("synth", TINY, strategy__name="agm")


@pytest.fixture(scope="module")
def batch(config):
    return training_batch(config, TARGET)


# --------------------------------------------------------------------------- #
# the maths
# --------------------------------------------------------------------------- #


def test_docstring_examples_run_as_written():
    results = doctest.testmod(agm, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert results.attempted >= 10 and results.failed == 0


def test_shapley_values_are_the_official_two_and_three_modality_responses():
    """CREMAD_net.py:7-17 (two modalities) and URFunny_net.py:6-31 (three), the empty coalition dropped."""
    gen = torch.Generator().manual_seed(0)
    f = torch.randn(3, 5, 4, generator=gen, dtype=torch.float64)  # coalitions {a}, {v}, {a, v}: a is bit 0
    pad_visual_out, pad_audio_out, total_out = f  # pad_visual_out: the visual input zeroed, f({a})
    phi = shapley_values(f, shapley_matrix(2))
    assert_close(phi[0], 0.5 * (total_out - pad_audio_out + pad_visual_out))  # Modality_Audio
    assert_close(phi[1], 0.5 * (total_out - pad_visual_out + pad_audio_out))  # Modality_Visual

    # Three: v is bit 0, a bit 1, t bit 2; pad_x_out has x's input zeroed.
    f = torch.randn(7, 5, 4, generator=gen, dtype=torch.float64)
    pad_audio_text_out, pad_visual_text_out, pad_text_out, pad_visual_audio_out, pad_audio_out, pad_visual_out, \
        total_out = f  # f({v}), f({a}), f({v, a}), f({t}), f({v, t}), f({a, t}), f(all)
    visual = (total_out - pad_visual_out + pad_audio_text_out) / 3 + (
        pad_audio_out - pad_visual_text_out + pad_text_out - pad_visual_audio_out) / 6
    audio = (total_out - pad_audio_out + pad_visual_text_out) / 3 + (
        pad_visual_out - pad_audio_text_out + pad_text_out - pad_visual_audio_out) / 6
    text = (total_out - pad_text_out + pad_visual_audio_out) / 3 + (
        pad_visual_out - pad_audio_text_out + pad_audio_out - pad_visual_text_out) / 6
    phi = shapley_values(f, shapley_matrix(3))
    for got, want in zip(phi, (visual, audio, text)):
        assert_close(got, want)
    assert_close(phi.sum(0), total_out)  # efficiency: the official forward is CE(f(all))


def test_shapley_matrix_of_four_modalities_is_the_shapley_value():
    """The general formula beyond the official files: on an additive game (f(S) = sum of its members'
    values) each modality's value is its own; on a unanimity game (f = 1 only for the full set) 1 / M."""
    masks = coalition_masks(4)
    own = torch.tensor([1.0, 2.0, -3.0, 0.5], dtype=torch.float64)
    assert torch.allclose(shapley_values((masks.double() * own).sum(1), shapley_matrix(4)), own)
    unanimity = masks.all(1).double()
    assert torch.allclose(shapley_values(unanimity, shapley_matrix(4)), torch.full((4,), 0.25, dtype=torch.float64))


def test_scores_ratios_coefficients_and_running_means_on_hand_computed_values():
    # -log softmax: p = 2/3 for logits (ln 2, 0) and class 0; e^-30 / (1 + ...) is floored at 1e-8.
    responses = torch.tensor([[[math.log(2.0), 0.0]], [[0.0, 30.0]]], dtype=torch.float64)
    scores = response_scores(responses, torch.tensor([0]))
    assert scores.tolist() == pytest.approx([-math.log(2 / 3), -math.log(1e-8)])
    assert agm_ratios(torch.tensor([0.5, 1.5], dtype=torch.float64)).tolist() == pytest.approx([math.e, 1 / math.e])
    # Three: exp((mean - s_m) * 3 / 2) as URFunny_main.py:117-121 writes it.
    s = [0.2, 0.9, 1.3]
    want = [math.exp((sum(s) / 3 - x) * 3 / 2) for x in s]
    assert agm_ratios(torch.tensor(s, dtype=torch.float64)).tolist() == pytest.approx(want)
    coeffs = agm_coefficients(torch.tensor([2.0, 0.5, 40.0]), torch.tensor([1.0, 1.0, 1.0]), alpha=1.5, cap=10.0)
    assert coeffs.tolist() == pytest.approx([math.exp(1.5), math.exp(-0.75), math.exp(15.0)], rel=1e-6)
    assert agm_coefficients(torch.tensor([40.0]), torch.tensor([1.0]), 0.5, math.inf).tolist() == pytest.approx(
        [math.exp(19.5)], rel=1e-6)  # no cap (AVE, AV-MNIST, MOSEI)
    assert running_mean(torch.tensor([0.0]), torch.tensor([3.0]), 1).tolist() == [3.0]  # S starts at 0
    assert running_mean(torch.tensor([1.0]), torch.tensor([3.0]), 4).tolist() == [1.5]


# --------------------------------------------------------------------------- #
# the oracle: the official step, written out from CREMAD_main.py and CREMAD_net.py
# --------------------------------------------------------------------------- #


class ModalityOut(nn.Module):
    """CREMAD_net.py:19-23 and 42-51: an identity whose full backward hook scales the gradient."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale
        self.register_full_backward_hook(lambda module, ginp, gout: (ginp[0].clone() * self.scale,))

    def forward(self, x):
        return x


def official_step(model, batch, config, train_score: dict, alpha: float, cap: float, iteration: int) -> dict:
    """One official AGM step (CREMAD_main.py:63-69, 127-166; CREMAD_net.py:57-72) on our model, a modality
    being absent when its feature is 0: the scores, ratios, coefficients, updated running scores and the
    encoders' gradients of CE(out) + the step's other terms, out = m_a_o(m_a) + m_v_o(m_v)."""
    step = step_losses(model, batch, config)
    z = step.outputs.features

    def net(pad_audio=False, pad_visual=False):
        features = {"audio": torch.zeros_like(z["audio"]) if pad_audio else z["audio"],
                    "video": torch.zeros_like(z["video"]) if pad_visual else z["video"]}
        return model.fused_head(features, model.unimodal_heads)

    total_out, pad_visual_out, pad_audio_out = net(), net(pad_visual=True), net(pad_audio=True)
    out_a = 0.5 * (total_out - pad_audio_out + pad_visual_out)
    out_v = 0.5 * (total_out - pad_visual_out + pad_audio_out)
    softmax, label = nn.Softmax(dim=1), step.labels
    score_audio, score_visual = 0.0, 0.0
    floor = -torch.log(torch.tensor(1e-8, dtype=out_a.dtype))
    for k in range(out_a.size(0)):
        p_a, p_v = softmax(out_a)[k][label[k]], softmax(out_v)[k][label[k]]
        score_audio += floor if torch.isinf(torch.log(p_a)) or p_a < 1e-8 else -torch.log(p_a)
        score_visual += floor if torch.isinf(torch.log(p_v)) or p_v < 1e-8 else -torch.log(p_v)
    score_audio, score_visual = score_audio / out_a.size(0), score_visual / out_v.size(0)
    ratio_a = math.exp(score_visual.item() - score_audio.item())
    ratio_v = math.exp(score_audio.item() - score_visual.item())
    optimal_ratio_a = math.exp(train_score["video"] - train_score["audio"])
    optimal_ratio_v = math.exp(train_score["audio"] - train_score["video"])
    coeff_a = math.exp(alpha * (min(optimal_ratio_a - ratio_a, cap)))
    coeff_v = math.exp(alpha * (min(optimal_ratio_v - ratio_v, cap)))
    running = {"audio": train_score["audio"] * (iteration - 1) / iteration + score_audio.item() / iteration,
               "video": train_score["video"] * (iteration - 1) / iteration + score_visual.item() / iteration}
    out = ModalityOut(coeff_a)(out_a) + ModalityOut(coeff_v)(out_v)
    loss = F.cross_entropy(out, label) + sum(t.value for t in step.terms if t.head != FUSED)
    grads = {}
    for m in ("audio", "video"):
        params = model.encoder_parameters(m)
        grads[m] = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params, retain_graph=True)])
    return {"score": {"audio": score_audio.item(), "video": score_visual.item()},
            "ratio": {"audio": ratio_a, "video": ratio_v},
            "reference": {"audio": optimal_ratio_a, "video": optimal_ratio_v},
            "coeff": {"audio": coeff_a, "video": coeff_v}, "running": running, "grads": grads}


def linear_head_model(config):
    """The synth model with the official fused classifier, one linear layer on the concatenated features
    (ConcatFusion.fc_out, CREMAD_net.py:256-265): there the official hooks scale exactly encoder m's
    classification gradient by B_m (phi_m = W_m z_m + b / 2), so the official step is an oracle for ours."""
    model = synth_model(config, seed=0, strategy="agm")
    torch.manual_seed(1)
    model.fused_head.head = nn.Linear(sum(model.dims.values()), config.data.synth.classes)
    return model


def test_agm_step_equals_the_official_step_on_a_linear_fused_classifier(config, batch):
    """The official rule (CREMAD_main.py:130-166, CREMAD_net.py:42-72) written out above, against
    AGM's update: scores, ratios, reference ratios, coefficients, running means and the encoders'
    gradients; the heads get baseline's gradients."""
    model = linear_head_model(config)
    Baseline(None, model).backward(step_losses(model, batch, config))
    baseline = gradients(model)
    train_score, iteration = {"video": 0.6, "audio": 1.4}, 5  # S after 5 steps: B far from 1, one up, one down
    want = official_step(model, batch, config, train_score, alpha=1.0, cap=10.0, iteration=iteration + 1)
    model.zero_grad(set_to_none=True)

    strategy = AGM(AGMParams(clip=0.0), model)  # the clip has its own test: here it would hide the rule
    strategy.running_scores = torch.tensor([train_score[m] for m in model.modalities], dtype=torch.float64)
    strategy.iteration = iteration
    diagnostics = strategy.backward(step_losses(model, batch, config))
    grads = gradients(model)

    assert want["coeff"]["video"] > 1.5 and want["coeff"]["audio"] < 0.7
    for m in model.modalities:
        for key in ("score", "ratio", "reference", "coeff"):
            assert diagnostics[f"agm/{m}/{key}"] == pytest.approx(want[key][m], rel=1e-5), (m, key)
        assert_close(encoder_update(grads, model, m), want["grads"][m])
    assert strategy.iteration == iteration + 1
    assert strategy.running_scores.tolist() == pytest.approx([want["running"][m] for m in model.modalities])
    for name, grad in baseline.items():
        if not name.startswith("encoders."):
            assert_close(grads[name], grad)


def test_on_the_mlp_head_b_scales_the_classification_gradient_only(config, batch):
    """Our MLP fused head: encoder m's update is B_m g_c^m + g_d^m (autograd of each loss), the heads'
    baseline's (the official hooks, with an MLP head, would not be a per-encoder scalar)."""
    model = synth_model(config, strategy="agm")
    Baseline(None, model).backward(step_losses(model, batch, config))
    baseline = gradients(model)
    strategy = AGM(AGMParams(clip=0.0, alpha=2.0), model)
    strategy.running_scores, strategy.iteration = torch.tensor([1.0, 1.8], dtype=torch.float64), 3
    diagnostics = strategy.backward(step_losses(model, batch, config))
    grads = gradients(model)
    for m in model.modalities:
        g_c, g_d = reference_pair(model, batch, config, m)
        coeff = diagnostics[f"agm/{m}/coeff"]
        assert abs(math.log(coeff)) > 0.5
        assert_close(encoder_update(grads, model, m), coeff * g_c + g_d)
    for name, grad in baseline.items():
        if not name.startswith("encoders."):
            assert_close(grads[name], grad)


# --------------------------------------------------------------------------- #
# clip, window, state
# --------------------------------------------------------------------------- #


def agm_gradients(model, batch, config, params: AGMParams, epoch: int = 1) -> tuple[dict, dict]:
    strategy = AGM(params, model)
    strategy.running_scores, strategy.iteration = torch.tensor([1.0, 1.8], dtype=torch.float64), 3
    strategy.start_epoch(epoch)
    diagnostics = strategy.backward(step_losses(model, batch, config))
    return diagnostics, gradients(model)


def test_the_clip_follows_the_official_condition(config, batch):
    """CREMAD_main.py:233-238: clip_grad_norm_(max_norm=clip) only when an entry of the fused output
    layer's weight gradient is outside [-clip, clip]; here the encoders' gradients (`all`: every one)."""
    model = synth_model(config, strategy="agm")
    layer = "fused_head.head.2.weight"
    assert output_weights(model) == [model.fused_head.head[2].weight]
    diagnostics, free = agm_gradients(model, batch, config, AGMParams(clip=0.0))
    assert diagnostics["agm/clipped"] == 0
    peak = float(free[layer].abs().max())
    encoders = [name for name in free if name.startswith("encoders.")]
    norm = float(torch.stack([free[name].norm() for name in encoders]).norm())
    assert norm > peak  # so a clip at about the peak shrinks the encoders' gradients

    diagnostics, grads = agm_gradients(model, batch, config, AGMParams(clip=peak * 1.01))
    assert diagnostics["agm/clipped"] == 0
    assert all(torch.equal(grads[name], free[name]) for name in free)

    diagnostics, grads = agm_gradients(model, batch, config, AGMParams(clip=peak * 0.99))
    assert diagnostics["agm/clipped"] == 1
    factor = peak * 0.99 / (norm + 1e-6)  # torch's clip_grad_norm_ coefficient
    for name in free:
        assert_close(grads[name], factor * free[name] if name in encoders else free[name])

    diagnostics, grads = agm_gradients(model, batch, config, AGMParams(clip=peak * 0.99, clip_scope="all"))
    total = float(torch.stack([g.norm() for g in free.values()]).norm())
    for name in free:
        assert_close(grads[name], peak * 0.99 / (total + 1e-6) * free[name])


def test_output_weights_of_each_fusion():
    """The layer the clip condition reads: the fused classifier's last (not FiLM's conditioning layer,
    registered after it); late fusion has no fused parameters: the unimodal heads' last layers."""
    encoders = {m: nn.Linear(6, 5) for m in ("video", "audio")}
    for fusion in ("concat", "sum", "film", "gated"):
        model = MultimodalModel(encoders, feature_dim=5, num_classes=3, num_domains=2, head_hidden=7,
                                grl_coeff=0.3, fusion=fusion)
        assert output_weights(model) == [model.fused_head.head[2].weight], fusion
    model = MultimodalModel(encoders, 5, 3, 2, 7, 0.3, fusion="late")
    assert output_weights(model) == [model.unimodal_heads[m][2].weight for m in ("video", "audio")]
    strategy = AGM(AGMParams(), model)
    batch = {m: torch.randn(8, 6) for m in ("video", "audio")}
    batch.update(label=torch.arange(8) % 3, domain=torch.arange(8) % 2)
    losses = SimpleNamespace(loss=SimpleNamespace(classification="paper", unimodal_weight=3.0, domain_weight=0.5))
    diagnostics = strategy.backward(step_losses(model, batch, losses))
    assert all(math.isfinite(v) for v in diagnostics.values())


def test_outside_the_window_b_is_1_unless_keep_last(config, batch):
    """Epochs count from 1 (CREMAD_main.py:611, 635, 159). Outside the window the step is baseline's
    (clip off) and the running means still move; `keep_last` keeps the window's last coefficients, as
    the official hooks do (update_scale is never reset)."""
    model = synth_model(config, strategy="agm")
    Baseline(None, model).backward(step_losses(model, batch, config))
    baseline = gradients(model)
    diagnostics, grads = agm_gradients(model, batch, config, AGMParams(start_epoch=2, end_epoch=3, clip=0.0), epoch=1)
    assert diagnostics["agm/active"] == 0 and diagnostics["agm/video/coeff"] == diagnostics["agm/audio/coeff"] == 1
    assert grads.keys() == baseline.keys() and all(torch.equal(grads[n], baseline[n]) for n in grads)
    diagnostics, _ = agm_gradients(model, batch, config, AGMParams(start_epoch=2, end_epoch=3, clip=0.0), epoch=3)
    assert diagnostics["agm/active"] == 1 and diagnostics["agm/video/coeff"] != 1

    strategy = AGM(AGMParams(start_epoch=0, end_epoch=1, clip=0.0, keep_last=True), model)
    strategy.running_scores, strategy.iteration = torch.tensor([1.0, 1.8], dtype=torch.float64), 3
    strategy.start_epoch(1)
    inside = strategy.backward(step_losses(model, batch, config))
    model.zero_grad(set_to_none=True)
    strategy.start_epoch(2)
    strategy.running_scores = torch.tensor([0.2, 0.4], dtype=torch.float64)
    outside = strategy.backward(step_losses(model, batch, config))
    grads = gradients(model)
    assert outside["agm/active"] == 0 and strategy.iteration == 5
    scores = torch.tensor([outside[f"agm/{m}/score"] for m in model.modalities], dtype=torch.float64)
    assert torch.allclose(strategy.running_scores, (torch.tensor([0.2, 0.4], dtype=torch.float64) * 4 + scores) / 5)
    for m in model.modalities:
        assert outside[f"agm/{m}/coeff"] == inside[f"agm/{m}/coeff"] != 1
        g_c, g_d = reference_pair(model, batch, config, m)
        assert_close(encoder_update(grads, model, m), inside[f"agm/{m}/coeff"] * g_c + g_d)


def test_the_state_survives_a_checkpoint(config, batch):
    """S, the step count and the last coefficients come back from state_dict, through torch.save and
    torch.load(weights_only=True) as the engine's checkpoint does, and the next step is the same."""
    model = synth_model(config, strategy="agm")
    strategy = AGM(AGMParams(keep_last=True), model)
    for _ in range(2):
        strategy.backward(step_losses(model, batch, config))
        model.zero_grad(set_to_none=True)
    strategy.running_scores[0] += 0.3  # not what one batch repeated would give
    buffer = io.BytesIO()
    torch.save(strategy.state_dict(), buffer)
    buffer.seek(0)
    resumed = AGM(AGMParams(keep_last=True), model)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert resumed.iteration == 2
    assert torch.equal(resumed.running_scores, strategy.running_scores)
    assert torch.equal(resumed.last_coeffs, strategy.last_coeffs)
    want = strategy.backward(step_losses(model, batch, config))
    expected = gradients(model)
    got = resumed.backward(step_losses(model, batch, config))
    assert got == want and got["agm/video/coeff"] != 1
    assert all(torch.equal(g, expected[name]) for name, g in gradients(model).items())


def test_three_modalities_follow_urfunny():
    """URFunny_main.py:117-130: ratios exp((mean - s_m) 3/2) of the scores and of the running means."""
    model, batch, losses = three_modality_step()
    strategy = AGM(AGMParams(cap=7.0), model)
    strategy.running_scores, strategy.iteration = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64), 4
    diagnostics = strategy.backward(step_losses(model, batch, losses))
    scores = [diagnostics[f"agm/{m}/score"] for m in model.modalities]
    for m, s, train in zip(model.modalities, scores, [0.5, 1.0, 2.0]):
        ratio = math.exp((sum(scores) / 3 - s) * 3 / 2)
        reference = math.exp((3.5 / 3 - train) * 3 / 2)
        assert diagnostics[f"agm/{m}/ratio"] == pytest.approx(ratio)
        assert diagnostics[f"agm/{m}/coeff"] == pytest.approx(math.exp(min(reference - ratio, 7.0)))
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    model.zero_grad(set_to_none=True)
    strategy = AGM(AGMParams(alpha=0.1, cap=0.0), model)  # cap 0: none, as AVE_main.py:133-134
    strategy.running_scores, strategy.iteration = torch.tensor([0.0, 0.0, 9.0], dtype=torch.float64), 4
    diagnostics = strategy.backward(step_losses(model, batch, losses))
    m = model.modalities[0]
    gap = diagnostics[f"agm/{m}/reference"] - diagnostics[f"agm/{m}/ratio"]
    assert gap > 10 and diagnostics[f"agm/{m}/coeff"] == pytest.approx(math.exp(0.1 * gap))


def test_one_modality_is_refused():
    model = MultimodalModel({"audio": nn.Linear(4, 3)}, 3, 2, 2, 5, 0.3)
    with pytest.raises(UserError, match="at least two modalities"):
        AGM(AGMParams(), model)


@pytest.mark.parametrize("overrides", [
    ["strategy.agm.alpha=-0.1"], ["strategy.agm.alpha=.nan"], ["strategy.agm.alpha=.inf"],
    ["strategy.agm.start_epoch=3", "strategy.agm.end_epoch=2"], ["strategy.agm.start_epoch=-1"],
    ["strategy.agm.cap=-1"], ["strategy.agm.cap=.nan"], ["strategy.agm.clip=-1"], ["strategy.agm.clip=.inf"],
    ["strategy.agm.clip_scope=heads"],
])
def test_out_of_range_params_are_refused(overrides):
    with pytest.raises(UserError):
        load_config("synth", overrides, strategy__name="agm")


@pytest.mark.parametrize("params", [
    {"alpha": -0.1}, {"alpha": math.nan}, {"alpha": math.inf}, {"start_epoch": 3, "end_epoch": 2},
    {"start_epoch": -1}, {"cap": -1.0}, {"cap": math.nan}, {"cap": math.inf}, {"clip": -1.0}, {"clip": math.inf},
    {"clip_scope": "heads"},
])
def test_validate_refuses_in_one_sentence(params):
    with pytest.raises(UserError, match="^AGM's [a-z_]+ (must be|needs)"):
        AGMParams(**params).validate()


def test_defaults_and_in_range_params_are_accepted():
    assert load_config("synth", strategy__name="agm").strategy.params == {
        "alpha": 1.0, "start_epoch": 0, "end_epoch": 20, "cap": 10.0, "clip": 1.0, "clip_scope": "encoders",
        "keep_last": False}
    config = load_config("synth", ["strategy.agm.cap=0", "strategy.agm.clip=0", "strategy.agm.alpha=0",
                                   "strategy.agm.clip_scope=all", "strategy.agm.keep_last=true"], strategy__name="agm")
    assert config.strategy.params["cap"] == 0 and config.strategy.params["keep_last"] is True
