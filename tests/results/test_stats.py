"""The paired statistics, pinned on inputs small enough to work out by hand."""

import itertools
import math

import numpy as np
import pytest

from mmdg_bench.results.stats import MIN_PAIRS, RANDOM_PATTERNS, bootstrap_ci, paired_test, sign_flip_p


@pytest.mark.parametrize("differences, p", [
    ([1, 2, 3, 4], 2 / 16),  # only all-plus and all-minus reach |sum| = 10
    ([1, 2, 3, 4, 5, 6], 2 / 64),  # the same two patterns out of 64: the fewest pairs with p < 0.05
    # |signed sum| = 7 − 2·(flipped |d|); observed 5 flips the 1. |sum| ≥ 5 when the flipped |d|
    # sum to ≤ 1 ({}, either 1) or ≥ 6 (their complements): 6 of 16 patterns.
    ([2, -1, 3, 1], 6 / 16),
    ([1, 1, 1], 2 / 8),
    ([0, 0, 0], 1.0),  # no difference at all: every pattern ties
])
def test_sign_flip_p_by_hand(differences, p):
    assert sign_flip_p(differences) == pytest.approx(p)


def brute_force_p(differences) -> float:
    """Independent reference: every sign pattern, in plain Python."""
    observed = abs(sum(differences))
    sums = [abs(sum(s * d for s, d in zip(signs, differences)))
            for signs in itertools.product((1, -1), repeat=len(differences))]
    return sum(total >= observed - 1e-9 for total in sums) / len(sums)


def test_sign_flip_p_matches_brute_force_and_is_symmetric():
    rng = np.random.default_rng(7)
    for n in (2, 5, 9):
        d = np.round(rng.normal(0.5, 1.0, n), 2)
        assert sign_flip_p(d) == pytest.approx(brute_force_p(list(d)))
        assert sign_flip_p(-d) == pytest.approx(sign_flip_p(d))
        assert sign_flip_p(d[::-1]) == pytest.approx(sign_flip_p(d))


def test_sign_flip_p_with_many_pairs_is_random_but_seeded():
    # 20 equal positive differences: only 2 of 2^20 patterns reach the observed sum, so the
    # random patterns (almost surely) hit none and p is the smallest estimate, 1 / (B + 1).
    assert sign_flip_p([1.0] * 20) == pytest.approx(1 / (RANDOM_PATTERNS + 1))
    d = np.linspace(-1, 2, 30)
    assert sign_flip_p(d) == sign_flip_p(d)


def test_fewer_than_min_pairs_never_reach_significance():
    assert MIN_PAIRS == 6
    assert not paired_test([5.0] * (MIN_PAIRS - 1)).significant
    assert paired_test([5.0] * MIN_PAIRS).significant


def test_bootstrap_ci_by_hand():
    # Resampling 4 of [1, 2, 3, 4] with replacement: 256 equally likely samples. Their means
    # are ≤ 1.25 in 5 (1.95 %) and ≤ 1.5 in 15 (5.9 %), so the 2.5 % point is 1.5; by symmetry
    # the 97.5 % point is 3.5. 10,000 seeded resamples land on the same values.
    assert bootstrap_ci([1, 2, 3, 4]) == (1.5, 3.5)
    assert bootstrap_ci([2, 2, 2]) == (2.0, 2.0)
    assert all(math.isnan(x) for x in bootstrap_ci([5.0]))


def test_bootstrap_ci_is_deterministic_and_brackets_the_mean():
    d = [0.3, -1.2, 2.5, 0.8, 1.1, -0.4, 0.9]
    low, high = bootstrap_ci(d)
    assert bootstrap_ci(d) == (low, high)
    assert low < np.mean(d) < high


def test_paired_test_fields():
    t = paired_test([1, 2, 3, 4])
    assert (t.n, t.mean, t.p) == (4, 2.5, 0.125)
    assert t.std == pytest.approx(math.sqrt(5 / 3))  # squared deviations 2.25+0.25+0.25+2.25 = 5, / 3
    assert (t.ci_low, t.ci_high) == (1.5, 3.5) and not t.significant
    empty = paired_test([])
    assert empty.n == 0 and math.isnan(empty.mean) and math.isnan(empty.p) and not empty.significant
