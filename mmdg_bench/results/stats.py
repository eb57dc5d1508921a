"""Is a gap between two strategies larger than seed noise? (MMDG-Bench, arXiv 2605.06643, asks it of every method.)

The inputs are paired differences d_i = strategy_i − reference_i over (target, seed) pairs: the
same held-out domain and the same seed, so target difficulty and whatever the seed shares across
strategies cancel out of each difference.

p-value: a two-sided sign-flip (permutation) test. Under "no effect" each d_i is as likely to be
+|d_i| as −|d_i|, so the observed |sum d_i| is compared with the sums under every sign pattern.
Why not a paired t-test: with 3 targets × 2-5 seeds there are 6-15 pairs, too few to check the
normality a t-test leans on, and enumerating 2^n patterns is cheap; the test is exact. Its price
is honest: the smallest attainable p is 2 / 2^n, so fewer than 6 pairs never reach p < 0.05.
Above EXACT_MAX_PAIRS pairs, seeded random patterns replace the enumeration.

Confidence interval: a percentile bootstrap of the mean difference, seeded so the same runs
always print the same interval. It is descriptive: with under ~10 pairs it is narrower than its
nominal 95 %, which is one more reason the mark rests on the p-value alone.
"""

import math
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05  # the one rule for the "beyond seed noise" mark: p < ALPHA
EXACT_MAX_PAIRS = 16  # 2^16 patterns × 16 pairs is about a million products
RANDOM_PATTERNS = 20_000
BOOTSTRAP_RESAMPLES = 10_000
SEED = 0  # fixed: a table must not change between two calls on the same runs
# The smallest exact p is 2 / 2^n (all signs +, or all −): below this many pairs, never < ALPHA.
MIN_PAIRS = math.floor(math.log2(2 / ALPHA)) + 1


@dataclass(frozen=True)
class PairedTest:
    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    p: float

    @property
    def significant(self) -> bool:
        return self.p < ALPHA  # False when p is NaN (no pairs)


def sign_patterns(n: int, rng: np.random.Generator) -> np.ndarray:
    """±1 rows: all 2^n sign patterns when n is small enough, else seeded random ones."""
    if n <= EXACT_MAX_PAIRS:
        bits = (np.arange(2 ** n)[:, None] >> np.arange(n)) & 1
        return 1 - 2 * bits
    return 1 - 2 * rng.integers(0, 2, size=(RANDOM_PATTERNS, n), dtype=np.int8)


def sign_flip_p(differences) -> float:
    """Two-sided p of the sign-flip test of "mean difference = 0"; NaN without pairs."""
    d = np.asarray(differences, dtype=float)
    if d.size == 0:
        return math.nan
    sums = np.abs(sign_patterns(d.size, np.random.default_rng(SEED)) @ d)
    # Patterns tying the observed |sum| count as at least as extreme; the tolerance keeps
    # float rounding from splitting such ties.
    tolerance = 1e-9 * max(1.0, float(np.abs(d).sum()))
    hits = int(np.count_nonzero(sums >= abs(d.sum()) - tolerance))
    if d.size <= EXACT_MAX_PAIRS:
        return hits / len(sums)
    # Random patterns: counting the observed one too keeps the estimate valid and never 0.
    return (hits + 1) / (len(sums) + 1)


def bootstrap_ci(differences, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean difference; NaNs with fewer than 2 pairs."""
    d = np.asarray(differences, dtype=float)
    if d.size < 2:
        return math.nan, math.nan
    draws = np.random.default_rng(SEED).integers(0, d.size, size=(BOOTSTRAP_RESAMPLES, d.size))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(d[draws].mean(axis=1), [tail, 100 - tail])
    return float(low), float(high)


def paired_test(differences) -> PairedTest:
    d = np.asarray(differences, dtype=float)
    mean = float(d.mean()) if d.size else math.nan
    std = float(d.std(ddof=1)) if d.size > 1 else math.nan
    return PairedTest(int(d.size), mean, std, *bootstrap_ci(d), sign_flip_p(d))
