"""`sweep --tune K`: K draws of settings per (method, strategy), the same K for every row (DomainBed's
equal budget, Gulrajani and Lopez-Paz, ICLR 2021). A draw is a set of `--set` overrides on top of the
sweep's own: the shared settings (`search_space.SHARED`), then the strategy's and the method's registered
ranges (`SEARCH` on their Params); a key the sweep's `--set` fixes is not drawn. Draw 0 is no override at
all: the ordinary default run, whose folder a defaults sweep in the same `--out` already holds.

One departure from DomainBed, on purpose: DomainBed redraws a row's settings for every trial seed; here a
draw is one set of settings run under every seed, so selecting a draw averages its source-validation
accuracy over seeds, and the chosen draw's seeds pair with the other rows' for the sign-flip test.
"""

import warnings

from mmdg_bench.errors import UserError, UserNotice
from mmdg_bench.search_space import MAX_DRAWS, SHARED, draw_overrides, registered_ranges, tunes_nothing
from mmdg_bench.settings import Config


def check_tune(tune: int, vary: list[str]) -> None:
    """K a number of draws a sweep can run; --tune and --vary do not combine (a draw already varies)."""
    if not 1 <= tune <= MAX_DRAWS:
        raise UserError(f"--tune must be from 1 (the defaults alone) to {MAX_DRAWS} draws per row, got {tune}")
    if vary:
        raise UserError("--tune and --vary do not combine: a draw already sets the tuned keys; --set fixes a key "
                        "for every draw, or run the --vary grid as a sweep of its own")


def search_space(strategy: str, method: str) -> dict:
    """Every range one row draws from, by full dotted name: shared first, then the strategy's, the method's."""
    from mmdg_bench.methods import METHODS
    from mmdg_bench.strategies import STRATEGIES

    return {**SHARED, **registered_ranges(STRATEGIES.get(strategy).Params, f"strategy.{strategy}"),
            **registered_ranges(METHODS.get(method).Params, f"method.{method}")}


def current_value(config: Config, key: str):
    """The value of dotted `key` in `config`, or None where the path leads nowhere (a strategy's key)."""
    node = config
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else getattr(node, part, None)
    return node


def tune_cells(tune: int, strategy: str, method: str, base: Config, overrides: list[str]) -> list[tuple[str, ...]]:
    """The K draws of one row, each as its overrides (draw d at index d; draw 0 empty)."""
    fixed = {o.partition("=")[0].strip() for o in overrides}
    space = {key: d for key, d in search_space(strategy, method).items() if key not in fixed}
    defaults = {key: current_value(base, key) for key in space}
    return [draw_overrides(space, draw, defaults) for draw in range(tune)]


def warn_untuned(strategies: list[str], methods: list[str]) -> None:
    """Say once which rows have hyper-parameters but no registered ranges: their draws vary the shared
    settings alone."""
    from mmdg_bench.methods import METHODS
    from mmdg_bench.strategies import STRATEGIES

    untuned = [s for s in strategies if tunes_nothing(STRATEGIES.get(s).Params)]
    untuned += [f"method {m}" for m in methods if tunes_nothing(METHODS.get(m).Params)]
    verb = "registers" if len(untuned) == 1 else "register"
    if untuned:
        warnings.warn(UserNotice(f"{', '.join(untuned)} {verb} no search ranges: their --tune draws vary the "
                                 f"shared settings ({', '.join(SHARED)}) alone"), stacklevel=3)

