"""BalGrad (Kwon et al., NAACL 2025, arXiv 2503.13834), implemented from the paper's text (no official code):
its pure functions on hand-computed values, its settings, and an oracle that writes the rule out again
from the paper's Figure 3 (reweighted KL gradient, PCGrad-form projection of g_T on a conflict) with plain
autograd at the encoder parameters, compared with the gradients the strategy writes."""

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from mmdg_bench.config import load_config
from mmdg_bench.engine.train import step_losses
from mmdg_bench.errors import UserError
from mmdg_bench.strategies import STRATEGIES
from mmdg_bench.strategies.balgrad import (
    BalGrad,
    BalGradParams,
    learning_status_weights,
    pairwise_kl,
    project_task_gradient,
    symmetric_kl,
)
from mmdg_bench.strategies.gradients import head_parameters
from tests.conftest import training_batch
from tests.strategies.test_strategies import TARGET, TINY, assert_close, gradients, synth_model


@pytest.fixture(scope="module")
def batch():
    return training_batch(load_config("synth", TINY), TARGET)


def config_with(classification: str = "paper"):
    return load_config("synth", [*TINY, f"loss.classification={classification}"], strategy__name="balgrad")


# --------------------------------------------------------------------------- #
# pure functions
# --------------------------------------------------------------------------- #


def test_learning_status_weights_by_hand():
    # M L_m / sum L: losses 2, 1, 1 (sum 4) -> 1.5, 0.75, 0.75; the lagging modality weighs most
    assert torch.allclose(learning_status_weights(torch.tensor([2.0, 1.0, 1.0])), torch.tensor([1.5, 0.75, 0.75]))
    assert torch.equal(learning_status_weights(torch.tensor([0.7, 0.7])), torch.ones(2))
    assert torch.equal(learning_status_weights(torch.zeros(3)), torch.ones(3))
    with pytest.raises(ValueError):
        learning_status_weights(torch.tensor([1.0]))


def test_symmetric_kl_by_hand():
    # p_a = (1/2, 1/2), p_b = (3/4, 1/4): KL(a||b) = 1/2 ln(2/3) + 1/2 ln 2, KL(b||a) = 3/4 ln(3/2) + 1/4 ln(1/2)
    a, b = torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(3.0), 0.0]])
    want = 0.5 * ((0.5 * math.log(2 / 3) + 0.5 * math.log(2)) + (0.75 * math.log(1.5) + 0.25 * math.log(0.5)))
    assert symmetric_kl(a, b).item() == pytest.approx(want, rel=1e-6)
    assert symmetric_kl(b, a).item() == pytest.approx(want, rel=1e-6)
    # a batch is averaged over its clips; identical predictions have no divergence
    two = symmetric_kl(torch.cat([a, a]), torch.cat([b, a]))
    assert two.item() == pytest.approx(want / 2, rel=1e-6)
    # three modalities: the mean over the three pairs, of which only (a, b) and (b, c) differ
    assert pairwise_kl([a, b, a]).item() == pytest.approx(2 * want / 3, rel=1e-6)
    assert pairwise_kl([a, b]).item() == pytest.approx(want, rel=1e-6)


def test_project_task_gradient_by_hand():
    # g = (3, 1), g_kl = (-1, 1): dot -2 < 0, so g - (-2 / 2) g_kl = (2, 2), orthogonal to g_kl
    got, conflict = project_task_gradient(torch.tensor([3.0, 1.0]), torch.tensor([-1.0, 1.0]))
    assert conflict and torch.allclose(got, torch.tensor([2.0, 2.0]))
    # no conflict (dot 2 > 0), or no KL gradient at all (dot 0): g unchanged
    for g_kl in (torch.tensor([1.0, -1.0]), torch.zeros(2)):
        got, conflict = project_task_gradient(torch.tensor([3.0, 1.0]), g_kl)
        assert not conflict and torch.equal(got, torch.tensor([3.0, 1.0]))


# --------------------------------------------------------------------------- #
# settings and state
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("value", [-0.1, math.nan, math.inf])
def test_validate_refuses_a_bad_kl_weight(value):
    with pytest.raises(UserError, match="kl_weight"):
        BalGradParams(kl_weight=value).validate()


def test_defaults_validate_and_the_registry_says_from_the_papers_text():
    BalGradParams().validate()
    assert STRATEGIES.get("balgrad") is BalGrad
    assert "from the paper's text" in BalGrad.description and "\n" not in BalGrad.description


def test_needs_two_modalities():
    with pytest.raises(UserError, match="two modalities"):
        BalGrad(BalGradParams(), SimpleNamespace(modalities=["video"]))


def test_stateless_so_a_resumed_strategy_writes_the_same_update(batch):
    """BalGrad keeps nothing between steps (its weights are the step's losses): the state is empty, and a
    strategy loaded from it writes bitwise the same gradients as the one it came from."""
    config = config_with()
    model = synth_model(config, 0, "balgrad")
    first = BalGrad(BalGradParams(), model)
    first.backward(step_losses(model, batch, config))
    want = gradients(model)
    assert first.state_dict() == {}
    second = BalGrad(BalGradParams(), model)
    second.load_state_dict(first.state_dict())
    second.backward(step_losses(model, batch, config))
    got = gradients(model)
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)


# --------------------------------------------------------------------------- #
# the oracle
# --------------------------------------------------------------------------- #


def cross_entropy(logits, targets):
    return -(logits - logits.exp().sum(1, keepdim=True).log()).gather(1, targets[:, None]).mean()


def kl(p, q):
    return (p * (p.log() - q.log())).sum(1).mean()


def oracle_encoder_gradients(model, batch, config, kl_weight=1.0, reweight=True, project=True):
    """The paper's rule written out again (Fig. 3 of arXiv 2503.13834), on a fresh forward pass:
    g_kl = sum_m w_m d KL / d h_m with KL = 1/2 [KL(p_v||p_a) + KL(p_a||p_v)] of the unimodal heads'
    softmax and w_m = 2 L_m / (L_v + L_a) from their CE; g_T = d CE(f_T) / d h, projected as
    g_T - (g_T.g_kl / |g_kl|^2) g_kl when g_T.g_kl < 0; each encoder then gets g_T^perp + its unimodal
    CE's gradient (x unimodal_weight) + w_m g_kl^m, plus the domain-adversarial gradient, as it is.
    Taken at the encoder outputs h_m (the strategy's documented level) and sent through the encoders by
    torch.autograd.grad. Returns ({modality: [encoder parameter gradients]}, whether it projected)."""
    out = model(batch)
    labels, domains = batch["label"], batch["domain"]
    mods = model.modalities
    h = [out.features[m] for m in mods]
    fused = cross_entropy(out.fused_logits, labels)
    if config.loss.classification == "author":  # the fused CE is plain: it passes, never projected
        task, plain = 0 * fused, fused
    else:
        task, plain = fused, 0 * fused
    domain = config.loss.domain_weight * sum(cross_entropy(out.domain_logits[m], domains) for m in mods)
    passing = [a + b for a, b in zip(torch.autograd.grad(domain, h, retain_graph=True),
                                     torch.autograd.grad(plain, h, retain_graph=True, allow_unused=True)
                                     if plain.requires_grad else [torch.zeros_like(x) for x in h])]
    g_task = list(torch.autograd.grad(task, h, retain_graph=True)) if task.requires_grad else \
        [torch.zeros_like(x) for x in h]
    unimodal = [model.unimodal_heads[m](x) for m, x in zip(mods, h)]  # on h itself, whatever the detach
    ce = [cross_entropy(u, labels) for u in unimodal]
    g_ce = torch.autograd.grad(config.loss.unimodal_weight * sum(ce), h, retain_graph=True)
    p_v, p_a = (F.softmax(u, dim=1) for u in unimodal)
    divergence = 0.5 * (kl(p_v, p_a) + kl(p_a, p_v))
    g_kl = torch.autograd.grad(divergence, h, retain_graph=True)
    losses = [c.item() for c in ce]
    w = [2 * loss / sum(losses) for loss in losses] if reweight else [1.0, 1.0]
    g_kl = [kl_weight * w_m * g for w_m, g in zip(w, g_kl)]
    dot = sum((a * b).sum() for a, b in zip(g_task, g_kl))
    square = sum((b * b).sum() for b in g_kl)
    projected = bool(project and dot < 0)
    if projected:
        g_task = [a - dot / square * b for a, b in zip(g_task, g_kl)]
    want = {}
    for i, m in enumerate(mods):
        feature_grad = g_task[i] + g_ce[i] + g_kl[i] + passing[i]
        want[m] = torch.autograd.grad(h[i], model.encoder_parameters(m), feature_grad, retain_graph=True)
    model.zero_grad(set_to_none=True)
    return want, projected


def seed_with(config, batch, conflict: bool) -> int:
    """The first model seed whose g_T and g_kl conflict (or not), so both branches of the rule are checked."""
    for seed in range(20):
        if oracle_encoder_gradients(synth_model(config, seed, "balgrad"), batch, config)[1] == conflict:
            return seed
    raise AssertionError(f"no seed in 0..19 with conflict={conflict}")


@pytest.mark.parametrize("classification", ["paper", "both", "author"])
@pytest.mark.parametrize("conflict", [True, False])
def test_oracle_the_papers_rule_written_out_again(batch, classification, conflict):
    config = config_with(classification)
    if classification == "author" and conflict:
        pytest.skip("under loss.classification=author the fused CE is plain: g_T is 0, nothing conflicts")
    seed = seed_with(config, batch, conflict)
    want, projected = oracle_encoder_gradients(synth_model(config, seed, "balgrad"), batch, config)
    assert projected == conflict
    model = synth_model(config, seed, "balgrad")
    diagnostics = BalGrad(BalGradParams(), model).backward(step_losses(model, batch, config))
    assert diagnostics["balgrad/projected"] == float(conflict)
    got = gradients(model)
    for m in model.modalities:
        names = [f"encoders.{m}.{name}" for name, p in model.encoders[m].named_parameters() if p.requires_grad]
        for name, w in zip(names, want[m], strict=True):
            assert_close(got[name], w)


def test_oracle_settings_reweight_and_project_off(batch):
    """Table 2's ablations: without reweighting every w_m is 1; without projection g_T passes unchanged
    (checked on a seed where the rule would project)."""
    config = config_with()
    seed = seed_with(config, batch, conflict=True)
    for reweight, project in ((False, True), (True, False)):
        want, _ = oracle_encoder_gradients(synth_model(config, seed, "balgrad"), batch, config, kl_weight=0.5,
                                           reweight=reweight, project=project)
        model = synth_model(config, seed, "balgrad")
        BalGrad(BalGradParams(kl_weight=0.5, reweight=reweight, project=project), model).backward(
            step_losses(model, batch, config))
        got = gradients(model)
        for m in model.modalities:
            names = [f"encoders.{m}.{name}" for name, p in model.encoders[m].named_parameters() if p.requires_grad]
            for name, w in zip(names, want[m], strict=True):
                assert_close(got[name], w)


def test_heads_get_baselines_gradients_and_the_weights_follow_the_losses(batch):
    config = config_with()
    model = synth_model(config, 0, "balgrad")
    diagnostics = BalGrad(BalGradParams(), model).backward(step_losses(model, batch, config))
    diagnostics = {k: float(v) for k, v in diagnostics.items()}  # device tensors, which the engine reads per epoch
    got = gradients(model)
    reference = synth_model(config, 0, "balgrad")
    step_losses(reference, batch, config).total.backward()
    want = gradients(reference)
    in_heads = {id(p) for p in head_parameters(model)}
    for name, p in model.named_parameters():
        if id(p) in in_heads:
            assert_close(got[name], want[name])
    video, audio = diagnostics["balgrad/video/loss"], diagnostics["balgrad/audio/loss"]
    assert diagnostics["balgrad/video/weight"] == pytest.approx(2 * video / (video + audio), rel=1e-5)
    assert diagnostics["balgrad/video/weight"] + diagnostics["balgrad/audio/weight"] == pytest.approx(2.0)
