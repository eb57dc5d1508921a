"""Tests for mmdg_bench.strategies.functional.

Two kinds: properties that must hold for every input (checked over several
seeds and shapes), and values pinned on small inputs computed by hand.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from mmdg_bench.strategies.functional import (
    cagp,
    cagp_choice,
    dominance_ratios,
    gradient_blending_weights,
    pcgrad,
    project_out,
    tanh_modulation,
)

SEEDS = [0, 1, 2, 3, 4]
DIMS = [1, 2, 7, 100]
NUM_MODALITIES = [2, 3, 5]


def _t(values: list[float] | list[list[float]]) -> Tensor:
    return torch.tensor(values, dtype=torch.float64)


def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _conflicting_pair(seed: int, dim: int) -> tuple[Tensor, Tensor]:
    """Random pair with a < 0 dot product (dim >= 1)."""
    gen = _rng(seed)
    a = torch.randn(dim, generator=gen, dtype=torch.float64)
    b = torch.randn(dim, generator=gen, dtype=torch.float64)
    if torch.dot(a, b) >= 0:
        b = b - 2 * (torch.dot(a, b) / torch.dot(a, a)) * a - 0.1 * a  # reflect, then push
    assert torch.dot(a, b) < 0
    return a, b


def _no_conflict(projected: Tensor, against: Tensor) -> bool:
    return float(projected @ against) >= -1e-6 * float(projected.norm() * against.norm())


# --------------------------------------------------------------------------- #
# dominance_ratios
# --------------------------------------------------------------------------- #


def test_dominance_ratios_pinned_three_modalities() -> None:
    # [2, 1, 1]: 2 / mean(1, 1) = 2;  1 / mean(2, 1) = 1 / 1.5 = 2/3 (twice).
    out = dominance_ratios(_t([2.0, 1.0, 1.0]))
    assert torch.allclose(out, _t([2.0, 2 / 3, 2 / 3]))


def test_dominance_ratios_pinned_two_modalities_is_ogm_ratio() -> None:
    # M = 2: mean of the others is the other score, so [3, 1] -> [3/1, 1/3].
    out = dominance_ratios(_t([3.0, 1.0]))
    assert torch.allclose(out, _t([3.0, 1 / 3]))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("m", NUM_MODALITIES)
def test_dominance_ratios_matches_definition(seed: int, m: int) -> None:
    scores = torch.rand(m, generator=_rng(seed), dtype=torch.float64) + 0.1
    out = dominance_ratios(scores)
    expected = torch.stack(
        [scores[k] / torch.cat([scores[:k], scores[k + 1 :]]).mean() for k in range(m)]
    )
    assert out.shape == (m,)
    assert torch.isfinite(out).all()
    assert torch.allclose(out, expected)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("m", NUM_MODALITIES)
def test_dominance_ratios_permutation_equivariant(seed: int, m: int) -> None:
    gen = _rng(seed)
    scores = torch.rand(m, generator=gen, dtype=torch.float64) * 10
    perm = torch.randperm(m, generator=gen)
    assert torch.allclose(dominance_ratios(scores[perm]), dominance_ratios(scores)[perm])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("m", NUM_MODALITIES)
def test_dominance_ratios_scale_invariant(seed: int, m: int) -> None:
    scores = torch.rand(m, generator=_rng(seed), dtype=torch.float64) + 0.1
    assert torch.allclose(dominance_ratios(7.5 * scores), dominance_ratios(scores))


def test_dominance_ratios_two_modalities_are_reciprocal() -> None:
    out = dominance_ratios(_t([0.3, 4.2]))
    assert math.isclose(float(out[0] * out[1]), 1.0, rel_tol=1e-12)


@pytest.mark.parametrize("scores", [[5.0, 0.0, 0.0], [0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0]])
def test_dominance_ratios_zero_others_stay_finite(scores: list[float]) -> None:
    for dtype in (torch.float32, torch.float64):
        out = dominance_ratios(torch.tensor(scores, dtype=dtype))
        assert torch.isfinite(out).all()
    out = dominance_ratios(torch.tensor(scores))
    # A single non-zero score dominates hugely; zero scores get ratio 0.
    assert bool((out[torch.tensor(scores) == 0] == 0).all())
    if max(scores) > 0:
        assert float(out.max()) > 1e6


def test_dominance_ratios_accepts_integer_counts() -> None:
    out = dominance_ratios(torch.tensor([2, 1, 1]))
    assert out.is_floating_point()
    assert torch.allclose(out, torch.tensor([2.0, 2 / 3, 2 / 3]))


@pytest.mark.parametrize("bad", [torch.tensor([1.0]), torch.tensor([]), torch.ones(2, 2)])
def test_dominance_ratios_rejects_fewer_than_two(bad: Tensor) -> None:
    with pytest.raises(ValueError):
        dominance_ratios(bad)


# --------------------------------------------------------------------------- #
# tanh_modulation
# --------------------------------------------------------------------------- #


def test_tanh_modulation_pinned() -> None:
    # ratio 2 > 1: 1 - tanh(0.5 * 2) = 1 - tanh(1) ~= 0.238406;  ratio 0.5 <= 1: 1.
    out = tanh_modulation(_t([2.0, 0.5]), 0.5)
    assert torch.allclose(out, _t([1 - math.tanh(1.0), 1.0]))
    assert out[1].item() == 1.0


def test_tanh_modulation_pinned_three_modalities_boundary() -> None:
    # [1, 3, 0.9] with alpha 0.1: ratio exactly 1 is not dominant -> 1;
    # 3 -> 1 - tanh(0.3) ~= 0.708687;  0.9 -> 1.
    out = tanh_modulation(_t([1.0, 3.0, 0.9]), 0.1)
    assert torch.equal(out[[0, 2]], _t([1.0, 1.0]))
    assert math.isclose(out[1].item(), 1 - math.tanh(0.3), rel_tol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("m", NUM_MODALITIES)
@pytest.mark.parametrize("alpha", [0.1, 0.5, 2.0])
def test_tanh_modulation_properties(seed: int, m: int, alpha: float) -> None:
    ratio = torch.rand(m, generator=_rng(seed)) * 4  # both sides of 1
    ratio[0] = 1.0  # always include the boundary
    out = tanh_modulation(ratio, alpha)
    assert out.shape == ratio.shape
    assert bool(((out > 0) & (out <= 1)).all())
    low = ratio <= 1
    assert torch.equal(out[low], torch.ones_like(out[low]))
    assert bool((out[~low] < 1).all())
    # Reference in float64: in float32, 1 - tanh(x) itself loses digits to cancellation.
    expected = 1 - torch.tanh(alpha * ratio[~low].double())
    assert torch.allclose(out[~low].double(), expected, rtol=1e-5, atol=0)


def test_tanh_modulation_decreases_with_dominance() -> None:
    out = tanh_modulation(torch.linspace(1.01, 10.0, 50, dtype=torch.float64), 0.3)
    assert bool((out[1:] < out[:-1]).all())


def test_tanh_modulation_stays_positive_for_large_arguments() -> None:
    # float32 1 - tanh(20) rounds to 0; the coefficient must stay in (0, 1].
    out = tanh_modulation(torch.tensor([20.0, 40.0]), 1.0)
    assert bool((out > 0).all())
    assert math.isclose(out[0].item(), 2 / (1 + math.exp(40.0)), rel_tol=1e-5)


def test_tanh_modulation_alpha_zero_disables() -> None:
    assert torch.equal(tanh_modulation(_t([0.5, 3.0, 9.0]), 0.0), _t([1.0, 1.0, 1.0]))


@pytest.mark.parametrize("alpha", [-0.1, float("nan")])
def test_tanh_modulation_rejects_bad_alpha(alpha: float) -> None:
    with pytest.raises(ValueError):
        tanh_modulation(_t([2.0, 0.5]), alpha)


# --------------------------------------------------------------------------- #
# project_out
# --------------------------------------------------------------------------- #


def test_project_out_pinned() -> None:
    # [1,0] - ((1*-1 + 0*1) / 2) [-1,1] = [1,0] + 0.5 [-1,1] = [0.5, 0.5]
    assert torch.allclose(project_out(_t([1.0, 0.0]), _t([-1.0, 1.0])), _t([0.5, 0.5]))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dim", DIMS)
def test_project_out_is_orthogonal_and_idempotent(seed: int, dim: int) -> None:
    gen = _rng(seed)
    g = torch.randn(dim, generator=gen, dtype=torch.float64)
    onto = torch.randn(dim, generator=gen, dtype=torch.float64)
    out = project_out(g, onto)
    assert abs(float(out @ onto)) <= 1e-9 * float(g.norm() * onto.norm())
    assert torch.allclose(project_out(out, onto), out)
    # What was removed is parallel to onto: g - out = c * onto.
    assert torch.allclose(g - out, ((g - out) @ onto / (onto @ onto)) * onto)


def test_project_out_zero_onto_is_safe() -> None:
    g = _t([1.0, -2.0, 3.0])
    out = project_out(g, torch.zeros(3, dtype=torch.float64))
    assert torch.equal(out, g)


def test_project_out_shape_mismatch() -> None:
    with pytest.raises(ValueError):
        project_out(torch.ones(3), torch.ones(2))


# --------------------------------------------------------------------------- #
# cagp / cagp_choice
# --------------------------------------------------------------------------- #


def test_cagp_pinned_classification_dominant() -> None:
    # g_c.g_d = -1 < 0, Gamma = 2/1 >= 1 -> project g_c:
    # [1,0] - (-1 / 2) [-1,1] = [0.5, 0.5]; g_d untouched.
    g_c, g_d = _t([1.0, 0.0]), _t([-1.0, 1.0])
    new_c, new_d = cagp(g_c, g_d, rho=2.0, sigma=1.0)
    assert torch.allclose(new_c, _t([0.5, 0.5]))
    assert new_d is g_d


def test_cagp_pinned_domain_dominant() -> None:
    # Gamma = 1/2 < 1 -> project g_d: [-1,1] - (-1 / 1) [1,0] = [0, 1]; g_c untouched.
    g_c, g_d = _t([1.0, 0.0]), _t([-1.0, 1.0])
    new_c, new_d = cagp(g_c, g_d, rho=1.0, sigma=2.0)
    assert torch.allclose(new_d, _t([0.0, 1.0]))
    assert new_c is g_c


def test_cagp_gamma_exactly_one_projects_classification() -> None:
    g_c, g_d = _t([1.0, 0.0]), _t([-1.0, 1.0])
    new_c, new_d = cagp(g_c, g_d, rho=0.7, sigma=0.7)
    assert torch.allclose(new_c, _t([0.5, 0.5]))
    assert new_d is g_d


def test_cagp_choice_pinned() -> None:
    assert cagp_choice(-1.0, 2.0, 1.0) == "cls"
    assert cagp_choice(-1.0, 1.0, 2.0) == "dom"
    assert cagp_choice(-1e-12, 1.0, 1.0) == "cls"
    assert cagp_choice(0.0, 1.0, 2.0) == "none"  # orthogonal is not a conflict
    assert cagp_choice(3.0, 2.0, 1.0) == "none"
    assert cagp_choice(-1.0, 0.0, 0.0) == "cls"  # Gamma = 0/0: no NaN-driven choice
    assert cagp_choice(-1.0, 1.0, 0.0) == "cls"  # Gamma = inf
    assert cagp_choice(-1.0, 1.0, math.inf) == "dom"  # Gamma = 0


@pytest.mark.parametrize("rho, sigma", [(-1.0, 1.0), (1.0, -1.0), (math.nan, 1.0)])
def test_cagp_choice_rejects_bad_strengths(rho: float, sigma: float) -> None:
    with pytest.raises(ValueError):
        cagp_choice(-1.0, rho, sigma)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dim", DIMS)
@pytest.mark.parametrize("rho, sigma", [(2.0, 1.0), (1.0, 2.0), (1.3, 1.3)])
def test_cagp_conflict_properties(seed: int, dim: int, rho: float, sigma: float) -> None:
    g_c, g_d = _conflicting_pair(seed, dim)
    keep_c, keep_d = g_c.clone(), g_d.clone()
    new_c, new_d = cagp(g_c, g_d, rho, sigma)
    assert new_c.shape == new_d.shape == (dim,)
    assert torch.isfinite(new_c).all() and torch.isfinite(new_d).all()
    if rho / sigma >= 1:
        assert torch.equal(new_d, keep_d) and new_d is g_d
        assert not torch.equal(new_c, keep_c)
        assert _no_conflict(new_c, g_d)
    else:
        assert torch.equal(new_c, keep_c) and new_c is g_c
        assert not torch.equal(new_d, keep_d)
        assert _no_conflict(new_d, g_c)
    # Inputs are never modified in place.
    assert torch.equal(g_c, keep_c) and torch.equal(g_d, keep_d)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dim", DIMS)
def test_cagp_no_conflict_returns_inputs(seed: int, dim: int) -> None:
    g_c, g_d = _conflicting_pair(seed, dim)
    g_d = -g_d  # now dot > 0
    for rho, sigma in [(2.0, 1.0), (1.0, 2.0)]:
        new_c, new_d = cagp(g_c, g_d, rho, sigma)
        assert new_c is g_c and new_d is g_d


@pytest.mark.parametrize("which", ["c", "d", "both"])
def test_cagp_zero_gradients_no_nan(which: str) -> None:
    g = _t([1.0, -2.0, 0.5])
    zero = torch.zeros(3, dtype=torch.float64)
    g_c = zero if which in ("c", "both") else g
    g_d = zero if which in ("d", "both") else g
    for rho, sigma in [(2.0, 1.0), (1.0, 2.0)]:
        new_c, new_d = cagp(g_c, g_d, rho, sigma)
        assert new_c is g_c and new_d is g_d


def test_cagp_three_modalities_with_dominance_ratios() -> None:
    # Semantic sums [4, 2, 2] -> rho = [4/2, 2/3, 2/3] = [2, 2/3, 2/3].
    # Domain sums [1, 1, 4]  -> ratio = [1/2.5, 1/2.5, 4/1] -> sigma = 1/ratio = [2.5, 2.5, 0.25].
    # Gamma = rho / sigma = [0.8, 4/15, 8/3] -> choices dom, dom, cls.
    rho = dominance_ratios(_t([4.0, 2.0, 2.0]))
    sigma = 1 / dominance_ratios(_t([1.0, 1.0, 4.0]))
    assert torch.allclose(rho, _t([2.0, 2 / 3, 2 / 3]))
    assert torch.allclose(sigma, _t([2.5, 2.5, 0.25]))
    g_c, g_d = _t([1.0, 0.0]), _t([-1.0, 1.0])
    choices = [cagp_choice(float(g_c @ g_d), float(r), float(s)) for r, s in zip(rho, sigma)]
    assert choices == ["dom", "dom", "cls"]
    new_c, new_d = cagp(g_c, g_d, float(rho[2]), float(sigma[2]))
    assert torch.allclose(new_c, _t([0.5, 0.5])) and new_d is g_d


# --------------------------------------------------------------------------- #
# pcgrad
# --------------------------------------------------------------------------- #


def test_pcgrad_pinned_2x2_uses_original_gradients() -> None:
    # g1 = [1,0], g2 = [-1,1], g1.g2 = -1.
    # g1' = g1 - (-1/|g2|^2) g2 = [1,0] + 0.5[-1,1] = [0.5, 0.5]
    # g2' = g2 - (-1/|g1|^2) g1 = [-1,1] + [1,0]    = [0, 1]
    # sum = [0.5, 1.5].  (Projecting g2 against the already projected g1' = [0.5,0.5]
    # would see dot 0 and keep g2, giving [-0.5, 1.5] instead.)
    out = pcgrad(_t([[1.0, 0.0], [-1.0, 1.0]]), generator=_rng(0))
    assert torch.allclose(out, _t([0.5, 1.5]))


def test_pcgrad_pinned_2x3() -> None:
    # g1 = [1,1,0], g2 = [-1,0,1], g1.g2 = -1, |g1|^2 = |g2|^2 = 2.
    # g1' = [1,1,0] + 0.5[-1,0,1] = [0.5, 1, 0.5];  g2' = [-1,0,1] + 0.5[1,1,0] = [-0.5, 0.5, 1]
    # sum = [0, 1.5, 1.5]
    out = pcgrad(_t([[1.0, 1.0, 0.0], [-1.0, 0.0, 1.0]]), generator=_rng(0))
    assert torch.allclose(out, _t([0.0, 1.5, 1.5]))


def test_pcgrad_pinned_three_tasks_order_comes_from_generator() -> None:
    # g1 = [1,0], g2 = [-1,-2], g3 = [1,1]; g1.g2 = -1, g2.g3 = -3, g1.g3 = 1 (no conflict).
    # g1' = [1,0] + (1/5)[-1,-2] = [0.8, -0.4];  g3' = [1,1] + (3/5)[-1,-2] = [0.4, -0.2]
    # g2 visits g1 then g3: [-1,-2] + [1,0] = [0,-2]; dot with g3 = -2 -> + (2/2)[1,1] = [1,-1]
    # g2 visits g3 then g1: [-1,-2] + 1.5[1,1] = [0.5,-0.5]; dot with g1 = 0.5 >= 0 -> stays
    # totals: [2.2, -1.6] or [1.7, -1.1]; both orders must occur across seeds.
    grads = _t([[1.0, 0.0], [-1.0, -2.0], [1.0, 1.0]])
    expected = [_t([2.2, -1.6]), _t([1.7, -1.1])]
    seen = set()
    for seed in range(40):
        out = pcgrad(grads, generator=_rng(seed))
        hits = [k for k, e in enumerate(expected) if torch.allclose(out, e)]
        assert len(hits) == 1, out
        seen.add(hits[0])
    assert seen == {0, 1}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("tasks", [2, 3, 5])
@pytest.mark.parametrize("dim", [3, 50])
def test_pcgrad_reproducible_and_independent_of_global_rng(seed: int, tasks: int, dim: int) -> None:
    grads = torch.randn(tasks, dim, generator=_rng(seed + 100), dtype=torch.float64)
    torch.manual_seed(1)
    a = pcgrad(grads, generator=_rng(seed))
    torch.manual_seed(2)
    b = pcgrad(grads, generator=_rng(seed))
    assert torch.equal(a, b)
    assert a.shape == (dim,) and torch.isfinite(a).all()


def test_pcgrad_without_generator_uses_global_rng() -> None:
    grads = _t([[1.0, 0.0], [-1.0, -2.0], [1.0, 1.0]])
    torch.manual_seed(5)
    a = pcgrad(grads)
    torch.manual_seed(5)
    assert torch.equal(pcgrad(grads), a)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("tasks", [1, 2, 4])
@pytest.mark.parametrize("dim", DIMS)
def test_pcgrad_without_conflict_is_plain_sum(seed: int, tasks: int, dim: int) -> None:
    # Non-negative entries: every pairwise dot product is >= 0.
    grads = torch.rand(tasks, dim, generator=_rng(seed), dtype=torch.float64)
    assert torch.allclose(pcgrad(grads, generator=_rng(seed)), grads.sum(dim=0), rtol=0, atol=1e-12)


def test_pcgrad_single_task_returns_it() -> None:
    g = _t([[0.3, -1.0, 2.0]])
    assert torch.equal(pcgrad(g), g[0])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dim", DIMS)
def test_pcgrad_two_tasks_result_conflicts_with_neither(seed: int, dim: int) -> None:
    # With T = 2: g1' is orthogonal to g2 and g2' to g1, so
    # (g1' + g2').g1 = |g1'|^2 >= 0 and likewise for g2.
    g1, g2 = _conflicting_pair(seed, dim)
    out = pcgrad(torch.stack([g1, g2]), generator=_rng(seed))
    tol = 1e-9 * float(g1.norm() * g2.norm())  # out may be ~0 (e.g. dim 1)
    assert float(out @ g1) >= -tol and float(out @ g2) >= -tol
    assert not torch.allclose(out, g1 + g2)


def test_pcgrad_zero_rows_no_nan() -> None:
    grads = _t([[0.0, 0.0], [1.0, -1.0], [-1.0, 0.0]])
    out = pcgrad(grads, generator=_rng(0))
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("bad", [torch.ones(3), torch.ones(0, 3), torch.ones(2, 2, 2)])
def test_pcgrad_rejects_bad_shapes(bad: Tensor) -> None:
    with pytest.raises(ValueError):
        pcgrad(bad)


# --------------------------------------------------------------------------- #
# gradient_blending_weights
# --------------------------------------------------------------------------- #


def test_gradient_blending_pinned_two_heads() -> None:
    # head a: L_T 1.0 -> 0.5, L_V 1.5 -> 1.2: O 0.5 -> 0.7, dO = 0.2, dG = 0.3 -> 0.3/0.04 = 7.5
    # head b: L_T 1.0 -> 0.8, L_V 1.3 -> 1.2: O 0.3 -> 0.4, dO = 0.1, dG = 0.1 -> 0.1/0.01 = 10
    # normalised: 7.5/17.5 = 3/7, 10/17.5 = 4/7
    w = gradient_blending_weights(_t([1.0, 1.0]), _t([0.5, 0.8]), _t([1.5, 1.3]), _t([1.2, 1.2]))
    assert torch.allclose(w, _t([3 / 7, 4 / 7]))


def test_gradient_blending_pinned_three_heads_with_a_loser() -> None:
    # heads a, b as above (7.5, 10); head c: L_V 1.0 -> 1.1, dG = -0.1 <= 0 -> eps = 1e-6.
    w = gradient_blending_weights(
        _t([1.0, 1.0, 1.0]), _t([0.5, 0.8, 0.9]), _t([1.5, 1.3, 1.0]), _t([1.2, 1.2, 1.1])
    )
    z = 7.5 + 10 + 1e-6
    assert torch.allclose(w, _t([7.5 / z, 10 / z, 1e-6 / z]), rtol=1e-9, atol=0)


def test_gradient_blending_no_gain_is_uniform() -> None:
    # Every dG <= 0 -> every w = eps -> 1/K each.
    w = gradient_blending_weights(
        _t([1.0, 1.0, 1.0]), _t([0.9, 0.5, 0.7]), _t([1.0, 1.2, 0.8]), _t([1.0, 1.3, 1.1])
    )
    assert torch.allclose(w, torch.full((3,), 1 / 3, dtype=torch.float64))


def test_gradient_blending_constant_overfitting_is_finite() -> None:
    # head a: dO = 0 (O 0.2 -> 0.2), dG = 0.2 -> 0.2 / eps = 2e5; head b: 0.3/0.04 = 7.5.
    w = gradient_blending_weights(_t([1.0, 1.0]), _t([0.8, 0.5]), _t([1.2, 1.5]), _t([1.0, 1.2]))
    assert torch.isfinite(w).all()
    assert torch.allclose(w, _t([2e5, 7.5]) / (2e5 + 7.5))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [1, 2, 3, 6])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradient_blending_properties(seed: int, k: int, dtype: torch.dtype) -> None:
    gen = _rng(seed)
    losses = [torch.rand(k, generator=gen, dtype=dtype) * 3 for _ in range(4)]
    w = gradient_blending_weights(*losses)
    assert w.shape == (k,)
    assert torch.isfinite(w).all() and bool((w > 0).all())
    assert math.isclose(float(w.sum()), 1.0, rel_tol=1e-5)


@pytest.mark.parametrize("seed", SEEDS)
def test_gradient_blending_scale_and_permutation(seed: int) -> None:
    # dG scales by c and dO^2 by c^2, so raw weights scale by 1/c: normalised unchanged.
    gen = _rng(seed)
    t_prev, t_now, v_prev = (torch.rand(4, generator=gen, dtype=torch.float64) for _ in range(3))
    v_now = v_prev - 0.1 - torch.rand(4, generator=gen, dtype=torch.float64)  # dG > 0
    w = gradient_blending_weights(t_prev, t_now, v_prev, v_now)
    assert torch.allclose(gradient_blending_weights(3 * t_prev, 3 * t_now, 3 * v_prev, 3 * v_now), w)
    perm = torch.randperm(4, generator=gen)
    assert torch.allclose(
        gradient_blending_weights(t_prev[perm], t_now[perm], v_prev[perm], v_now[perm]), w[perm]
    )


@pytest.mark.parametrize(
    "args",
    [
        (torch.ones(2), torch.ones(2), torch.ones(2), torch.ones(3)),
        (torch.ones(2, 1), torch.ones(2, 1), torch.ones(2, 1), torch.ones(2, 1)),
        (torch.ones(2), torch.ones(2), torch.tensor([1.0, float("nan")]), torch.ones(2)),
    ],
)
def test_gradient_blending_rejects_bad_input(args: tuple[Tensor, ...]) -> None:
    with pytest.raises(ValueError):
        gradient_blending_weights(*args)
