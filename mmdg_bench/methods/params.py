"""Range checks shared by the methods' `Params.validate()`: one sentence naming the setting."""

import math

from mmdg_bench.errors import UserError


def check_ranges(method: str, params, nonnegative=(), positive=(), fractions=(), widths=()) -> None:
    """`nonnegative` and `positive`: finite numbers >= 0 / > 0; `fractions`: in [0, 1);
    `widths`: integers >= 0 (0 = scaled to the model's feature widths)."""
    for name in nonnegative:
        _require(method, name, getattr(params, name), lambda v: v >= 0, "a finite number >= 0")
    for name in positive:
        _require(method, name, getattr(params, name), lambda v: v > 0, "a finite number > 0")
    for name in fractions:
        _require(method, name, getattr(params, name), lambda v: 0 <= v < 1, "a number in [0, 1)")
    for name in widths:
        _require(method, name, getattr(params, name), lambda v: v >= 0, "an integer >= 0 (0: scaled to the features)")


def _require(method: str, name: str, value, ok, what: str) -> None:
    if not (math.isfinite(value) and ok(value)):
        raise UserError(f"method.{method}.{name} must be {what}, got {value}")
