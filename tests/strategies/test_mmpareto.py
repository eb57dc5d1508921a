"""MMPareto (Wei & Hu, ICML 2024) against its official rule, re-derived here from the official code
(github:GeWu-Lab/MMPareto_ICML2024 @a339db3, code/MMPareto.py and code/min_norm_solvers.py), and its
pure functions on hand-computed values."""

import doctest
import math
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import mmdg_bench.strategies.mmpareto as mmpareto
from mmdg_bench.config import load_config
from mmdg_bench.engine.train import NonFiniteGradient, check_finite, step_losses
from mmdg_bench.errors import UserError
from mmdg_bench.losses import detaches_unimodal_heads
from mmdg_bench.models import MultimodalModel
from mmdg_bench.strategies import STRATEGIES
from mmdg_bench.strategies.gradients import head_parameters
from mmdg_bench.strategies.mmpareto import (
    MMPareto,
    MMParetoParams,
    min_norm_weight,
    pareto_update,
    pareto_weights,
)
from tests.conftest import training_batch
from tests.strategies.test_strategies import TARGET, TINY, assert_close, gradients, synth_model


@pytest.fixture(scope="module")
def config():
    return load_config("synth", TINY, strategy__name="mmpareto")


@pytest.fixture(scope="module")
def batch(config):
    return training_batch(config, TARGET)


# --------------------------------------------------------------------------- #
# the official rule, written out from the official code
# --------------------------------------------------------------------------- #


def official_two_task_weights(vecs: list[list[torch.Tensor]]) -> tuple[float, float]:
    """MinNormSolver.find_min_norm_element for two tasks (min_norm_solvers.py:32-58, 92-129): inner
    products summed over each task's list of tensors (MMPareto.py:169 passes the per-tensor gradients
    AND their "concat", so every product counts twice), then `_min_norm_element_from2` (L9-30)."""
    def dp(i, j):
        return float(sum(torch.mul(a, b).sum() for a, b in zip(vecs[i], vecs[j])))

    v1v1, v1v2, v2v2 = dp(0, 0), dp(0, 1), dp(1, 1)
    if v1v2 >= v1v1:
        gamma = 0.999
    elif v1v2 >= v2v2:
        gamma = 0.001
    else:
        gamma = -1.0 * ((v1v2 - v2v2) / (v1v1 + v2v2 - 2 * v1v2))
    sol = np.zeros(2)
    sol[0], sol[1] = gamma, 1 - gamma
    return float(sol[0]), float(sol[1])


def official_update(model, step, gamma: float = 1.5) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The gradient of every trainable parameter after one official MMPareto step (MMPareto.py:99-207),
    with the benchmark's differences: the task losses are the step's head terms with their weights
    (fused 1, unimodal loss.unimodal_weight: the official's L_mm, L_a, L_v have weight 1), every other
    term (the domain loss) is added unchanged, and any number of modalities. Also returns, per encoder
    tensor, which branch of the magnitude rescale (L194-197) it took. Graph kept: the strategy may run after."""
    heads = {t.head: t.value for t in step.head_terms()}
    named = {m: list(model.encoders[m].named_parameters()) for m in model.modalities}
    every = [p for m in model.modalities for _, p in named[m]]

    def grads_of(loss) -> dict[int, torch.Tensor]:
        got = torch.autograd.grad(loss, every, retain_graph=True, allow_unused=True)
        return {id(p): g if g is not None else torch.zeros_like(p) for p, g in zip(every, got)}

    # L110-147: one backward per loss, the encoders' gradients recorded per tensor, zero_grad between.
    both = grads_of(heads["fused"])
    own = {m: grads_of(heads[m]) for m in model.modalities}
    # L180-181: the backward of the summed task losses, whose per-tensor norm is `three_norm`.
    three = grads_of(sum(heads.values()))
    rest = grads_of(sum(t.value for t in step.terms if t.head is None))
    expected, branches = {}, {}
    for m in model.modalities:
        g_both = {name: both[id(p)] for name, p in named[m]}
        g_own = {name: own[m][id(p)] for name, p in named[m]}
        g_both["concat"] = torch.cat([g.flatten() for g in g_both.values()])
        g_own["concat"] = torch.cat([g.flatten() for name, g in g_own.items()])
        # L149-174: equal weights when the cosine is positive, the min-norm weights otherwise.
        if F.cosine_similarity(g_both["concat"], g_own["concat"], dim=0) > 0:
            k = (0.5, 0.5)
        else:
            k = official_two_task_weights([list(g_both.values()), list(g_own.values())])
        for name, p in named[m]:
            # L189-207, per parameter tensor.
            three_norm = torch.norm(three[id(p)])
            new_grad = 2 * k[0] * g_both[name] + 2 * k[1] * g_own[name]
            diff = three_norm / torch.norm(new_grad)
            grad = diff * new_grad * gamma if diff > 1 else new_grad * gamma
            branches[f"encoders.{m}.{name}"] = "raised" if diff > 1 else "kept"
            expected[f"encoders.{m}.{name}"] = grad + rest[id(p)]
    # L181, 187: the heads keep the summed loss's gradient.
    in_encoders = {id(p) for p in every}
    names = {id(p): name for name, p in model.named_parameters()}
    heads_grads = torch.autograd.grad(step.total, head_parameters(model), retain_graph=True, allow_unused=True)
    for p, g in zip(head_parameters(model), heads_grads):
        assert id(p) not in in_encoders
        expected[names[id(p)]] = g if g is not None else torch.zeros_like(p)
    return expected, branches


def strategy_update(model, step, gamma: float = 1.5) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    model.zero_grad(set_to_none=True)
    diagnostics = MMPareto(MMParetoParams(gamma=gamma), model).backward(step)
    return gradients(model), diagnostics


def assert_same_update(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert set(got) == set(want)
    for name in want:
        assert_close(got[name], want[name])


def shift_unimodal_labels(step, num_classes: int):
    """A hand-made case: the unimodal heads' CE against the next class, so that their gradients pull
    the encoders away from the fused CE's (a conflict on the video encoder for seed 0)."""
    for t in step.terms:
        if t.head not in (None, "fused"):
            t.loss = F.cross_entropy(step.outputs.unimodal_logits[t.head], (step.labels + 1) % num_classes)
    return step


def tiny_model(names: list[str], seed: int = 0):
    torch.manual_seed(seed)
    encoders = {m: nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 5)) for m in names}
    model = MultimodalModel(encoders, feature_dim=5, num_classes=3, num_domains=2, head_hidden=7, grl_coeff=0.3)
    batch = {m: torch.randn(12, 6) for m in names}
    batch.update(label=torch.arange(12) % 3, domain=torch.arange(12) % 2)
    losses = SimpleNamespace(loss=SimpleNamespace(classification="both", unimodal_weight=3.0, domain_weight=0.5))
    return model, batch, losses


def case(name: str, config, batch):
    """(model, step) of one oracle case."""
    if name == "synth":  # seed 1: the video encoder's pair agrees, the audio encoder's conflicts
        model = synth_model(config, 1, "mmpareto")
        return model, step_losses(model, batch, config)
    if name == "synth-shifted":
        model = synth_model(config, 0, "mmpareto")
        return model, shift_unimodal_labels(step_losses(model, batch, config), config.data.synth.classes)
    modalities = {"three": ["video", "audio", "flow"], "one": ["audio"]}[name]
    model, tiny_batch, losses = tiny_model(modalities)
    return model, shift_unimodal_labels(step_losses(model, tiny_batch, losses), 3)


# --------------------------------------------------------------------------- #
# the oracle
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("name", ["synth", "synth-shifted", "three", "one"])
def test_the_update_is_the_official_rule(name, config, batch):
    """Every parameter's gradient equals the official step re-derived from MMPareto.py:99-207 and
    min_norm_solvers.py:9-30 (see `official_update`): encoders by the Pareto weights and the magnitude
    rescale x gamma plus the domain gradient, heads the summed loss's."""
    model, step = case(name, config, batch)
    want, branches = official_update(model, step)
    got, diagnostics = strategy_update(model, step)
    assert_same_update(got, want)
    conflicts = {m: diagnostics[f"mmpareto/{m}/conflict"] for m in model.modalities}
    if name == "synth":  # the case exercises both weightings
        assert conflicts == {"video": 0.0, "audio": 1.0}
        assert diagnostics["mmpareto/video/k_mm"] == 0.5 and 0.001 < diagnostics["mmpareto/audio/k_mm"] < 0.999
    if name == "three":  # and both branches of the rescale
        assert set(branches.values()) == {"raised", "kept"}
    for m in model.modalities:
        assert (diagnostics[f"mmpareto/{m}/cos"] > 0) == (conflicts[m] == 0.0)


def _flipped_weights(dot, sq_mm, sq_uni):
    return pareto_weights(dot, sq_mm, sq_uni).flip(0)


def _never_raised(g_mm, g_uni, k_mm, k_uni, gamma):
    return [gamma * 2 * (k_mm * a + k_uni * b) for a, b in zip(g_mm, g_uni)]


def _rescaled_down_too(g_mm, g_uni, k_mm, k_uni, gamma):
    new = [2 * (k_mm * a + k_uni * b) for a, b in zip(g_mm, g_uni)]
    return [gamma * x * (a + b).norm() / x.norm() for x, a, b in zip(new, g_mm, g_uni)]


@pytest.mark.parametrize("mutant", ["flipped weights", "never raised", "rescaled down too", "gamma 1"])
def test_the_oracle_catches_a_broken_rule(mutant, config, batch, monkeypatch):
    """The oracle can fail: each way of breaking the rule makes the update differ from the official one."""
    model, step = case("synth" if mutant != "rescaled down too" else "three", config, batch)
    want, _ = official_update(model, step)
    if mutant == "flipped weights":
        monkeypatch.setattr(mmpareto, "pareto_weights", _flipped_weights)
    elif mutant == "never raised":
        monkeypatch.setattr(mmpareto, "pareto_update", _never_raised)
    elif mutant == "rescaled down too":
        monkeypatch.setattr(mmpareto, "pareto_update", _rescaled_down_too)
    got, _ = strategy_update(model, step, gamma=1.0 if mutant == "gamma 1" else 1.5)
    with pytest.raises(AssertionError):
        assert_same_update(got, want)


def test_the_authors_loss_gives_the_same_update(batch):
    """Under loss.classification=author the fused CE is a `plain` term, but it is still the fused head's
    CE, MMPareto's multimodal task: the update is the same as under `both` (the same loss)."""
    updates = []
    for loss in ("author", "both"):
        config = load_config("synth", [*TINY, f"loss.classification={loss}"], strategy__name="mmpareto")
        model = synth_model(config, 1, "mmpareto")
        updates.append(strategy_update(model, step_losses(model, batch, config))[0])
    assert_same_update(*updates)


def test_the_unimodal_heads_train_the_encoders(config):
    assert not detaches_unimodal_heads("paper", MMPareto)
    assert not synth_model(config, 0, "mmpareto").detach_unimodal


def test_an_encoder_tensor_no_loss_reaches_keeps_no_gradient(config, batch):
    model = synth_model(config, 0, "mmpareto")
    spare = nn.Parameter(torch.ones(3))
    model.encoders["video"].register_parameter("spare", spare)  # in the encoder, outside its forward
    grads, _ = strategy_update(model, step_losses(model, batch, config))
    assert "encoders.video.spare" not in grads and "encoders.video.proj.weight" in grads


def test_a_nan_reaches_the_gradients_for_the_engine_to_stop(config, batch):
    """A NaN must not be hidden by the branches (a NaN cosine fails `> 0`, the min-norm weight is NaN)."""
    model = synth_model(config, 0, "mmpareto")
    with torch.no_grad():
        model.encoders["video"].proj.weight[0, 0] = float("nan")
    MMPareto(MMParetoParams(), model).backward(step_losses(model, batch, config))
    with pytest.raises(NonFiniteGradient):
        check_finite(model, epoch=1)


# --------------------------------------------------------------------------- #
# the pure functions, hand-computed
# --------------------------------------------------------------------------- #


def test_docstring_examples_run_as_written():
    results = doctest.testmod(mmpareto, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert results.attempted >= 6 and results.failed == 0


@pytest.mark.parametrize(("x1", "x2", "want"), [
    ([2.0, 0.0], [-0.5, 0.75 ** 0.5], 2 / 7),  # |x1|^2 4, x1.x2 -1, |x2|^2 1: (1 + 1) / (4 + 1 + 2)
    ([1.0, 0.0], [-1.0, 0.0], 0.5),  # opposite, equal norms: the midpoint cancels them
    ([3.0, 0.0], [0.0, 1.0], 0.1),  # orthogonal: c = |x2|^2 / (|x1|^2 + |x2|^2)
    ([0.0, 0.0], [0.0, 0.0], 0.999),  # both zero: the first test (v1v2 >= v1v1) wins
    ([1.0, 0.0], [2.0, 0.0], 0.999),  # x2 = 2 x1: x1 is the shorter end
    ([2.0, 0.0], [1.0, 0.0], 0.001),  # x1 = 2 x2: x2 is the shorter end
])
def test_min_norm_weight_by_hand(x1, x2, want):
    x1, x2 = torch.tensor(x1), torch.tensor(x2)
    got = min_norm_weight(x1 @ x1, x1 @ x2, x2 @ x2)
    assert float(got) == pytest.approx(want, rel=1e-6)
    assert float(got) == pytest.approx(official_two_task_weights([[x1], [x2]])[0], rel=1e-6)


def test_pareto_weights_by_hand():
    # No conflict: equal weights whatever the norms (MMPareto.py:165-167).
    assert pareto_weights(torch.tensor(1e-6), torch.tensor(100.0), torch.tensor(0.01)).tolist() == [0.5, 0.5]
    # Orthogonal counts as conflict (`cos > 0` fails): min-norm weights 1/10, 9/10 for |x1|^2 = 9, |x2|^2 = 1.
    assert pareto_weights(torch.tensor(0.0), torch.tensor(9.0), torch.tensor(1.0)).tolist() == pytest.approx([0.1, 0.9])
    # A zero unimodal gradient: the solver's low end.
    assert pareto_weights(torch.tensor(0.0), torch.tensor(1.0), torch.tensor(0.0)).tolist() == pytest.approx(
        [0.001, 0.999])


def test_pareto_update_by_hand():
    g_mm = [torch.tensor([3.0, 0.0]), torch.tensor([1.0]), torch.tensor([0.0, 0.0])]
    g_uni = [torch.tensor([-1.0, 1.0]), torch.tensor([-3.0]), torch.tensor([0.0, 0.0])]
    got = pareto_update(g_mm, g_uni, torch.tensor(0.25), torch.tensor(0.75), gamma=2.0)
    # Tensor 1: new = 2 (0.75 - 0.75, 0.75) = (0, 1.5), raised to |(2, 1)| = sqrt 5, x 2.
    torch.testing.assert_close(got[0], torch.tensor([0.0, 2 * math.sqrt(5)]))
    # Tensor 2: new = 2 (0.25 - 2.25) = -4, longer than |1 - 3| = 2: kept, x 2.
    torch.testing.assert_close(got[1], torch.tensor([-8.0]))
    # Tensor 3: nothing to scale, zero stays zero (no 0/0).
    torch.testing.assert_close(got[2], torch.zeros(2))


# --------------------------------------------------------------------------- #
# settings and state
# --------------------------------------------------------------------------- #


def test_defaults_are_the_official():
    assert MMParetoParams().gamma == 1.5  # MMPareto.py:178
    MMParetoParams().validate()
    assert STRATEGIES.get("mmpareto") is MMPareto


@pytest.mark.parametrize("gamma", [0.0, -1.5, float("nan"), float("inf")])
def test_validate_refuses_a_gamma_out_of_range(gamma):
    with pytest.raises(UserError, match=re.escape("MMPareto's gamma must be a finite number > 0")):
        MMParetoParams(gamma=gamma).validate()


def test_it_keeps_no_state_so_a_resumed_strategy_steps_alike(config, batch):
    """MMPareto's step depends on that step's gradients alone: nothing to save, and a strategy restored
    from the (empty) state gives the same update as the one that saved it."""
    model = synth_model(config, 1, "mmpareto")
    first = MMPareto(MMParetoParams(), model)
    first.backward(step_losses(model, batch, config))
    gradients(model)
    state = first.state_dict()
    assert state == {}
    restored = MMPareto(MMParetoParams(), model)
    restored.load_state_dict(state)
    first.backward(step_losses(model, batch, config))
    want = gradients(model)
    restored.backward(step_losses(model, batch, config))
    assert_same_update(gradients(model), want)
