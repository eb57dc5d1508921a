"""Range checks shared by the strategies' `Params.validate()`: one sentence naming the strategy and the
setting (the methods' counterpart is mmdg_bench/methods/params.py)."""

import math

from mmdg_bench.errors import UserError


def check_finite(strategy: str, name: str, value: float, above_zero: bool = False, note: str = "") -> None:
    """`value` a finite number >= 0 (> 0 with `above_zero`); `note` says what a bound value means."""
    if not (math.isfinite(value) and (value > 0 if above_zero else value >= 0)):
        raise UserError(f"{strategy}'s {name} must be a finite number {'>' if above_zero else '>='} 0"
                        f"{f' ({note})' if note else ''}, got {value}")


def check_window(strategy: str, start_epoch: int, end_epoch: int) -> None:
    """A modulation window of epochs [start_epoch, end_epoch], counted from 0."""
    if not 0 <= start_epoch <= end_epoch:
        raise UserError(f"{strategy}'s window needs 0 <= start_epoch <= end_epoch, "
                        f"got start_epoch={start_epoch}, end_epoch={end_epoch}")
