"""Robustness at test time: a finished run's kept weights evaluated on its held-out domain with a
modality missing or corrupted (MMDG-Bench's missing-modality and corruption settings).

    mmdg-bench evaluate results/runs/synth__gmp__day__seed0__* --missing audio --corrupt blur:3
    mmdg-bench compare results/runs --robustness
"""

from mmdg_bench.robustness.conditions import CORRUPTIONS, MISSING_AS, Condition, parse_conditions
from mmdg_bench.robustness.evaluate import ROBUSTNESS, evaluate_run

__all__ = ["CORRUPTIONS", "MISSING_AS", "ROBUSTNESS", "Condition", "evaluate_run", "parse_conditions"]
