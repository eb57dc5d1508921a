"""The search ranges of `sweep --tune` and their seeded draws: each key on its own stream (adding a key
never shifts another's values), draw 0 the defaults, log-uniform spread over decades, and every built-in
range registered beside a setting it can set. Pure functions: no training."""

import math
from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np
import pytest

from mmdg_bench.errors import UserError
from mmdg_bench.methods import METHODS
from mmdg_bench.search_space import (
    SHARED,
    Choice,
    LogAround,
    LogUniform,
    Uniform,
    draw_overrides,
    draw_value,
    registered_ranges,
    shown_value,
)
from mmdg_bench.strategies import STRATEGIES

SPACE = {"optim.lr": LogAround(0.5), "strategy.gmp.alpha_k": Uniform(0.0, 1.0),
         "strategy.ogm-ge.alpha": LogUniform(0.1, 10**0.5)}
DEFAULTS = {"optim.lr": 1e-3}


def as_dict(overrides) -> dict[str, str]:
    return dict(o.split("=", 1) for o in overrides)


def test_adding_a_key_anywhere_never_shifts_another_keys_draws():
    before = [as_dict(draw_overrides(SPACE, draw, DEFAULTS)) for draw in range(1, 30)]
    extra = {"strategy.aaa.first": Uniform(0.0, 1.0)}  # drawn before the others, and after
    for space in ({**extra, **SPACE}, {**SPACE, "strategy.zzz.last": Choice((1, 2, 4))}):
        after = [as_dict(draw_overrides(space, draw, DEFAULTS)) for draw in range(1, 30)]
        assert [{k: v for k, v in a.items() if k in SPACE} for a in after] == before


def test_each_key_has_its_own_stream_and_each_draw_its_own_values():
    # Two keys with the same range must not draw the same numbers (one stream shared by name would).
    same = {"strategy.gmp.alpha_k": Uniform(0.0, 1.0), "strategy.gmp.alpha_p": Uniform(0.0, 1.0)}
    values = [as_dict(draw_overrides(same, draw, {})) for draw in range(1, 20)]
    assert all(v["strategy.gmp.alpha_k"] != v["strategy.gmp.alpha_p"] for v in values)
    assert len({v["strategy.gmp.alpha_k"] for v in values}) == len(values)
    # A draw is a pure function of (draw, key): asked twice, the same value.
    assert draw_value(SPACE["optim.lr"], "optim.lr", 7, 1e-3) == draw_value(SPACE["optim.lr"], "optim.lr", 7, 1e-3)


def test_draw_0_is_the_defaults_with_no_override():
    assert draw_overrides(SPACE, 0, DEFAULTS) == ()
    assert draw_value(Uniform(0.0, 1.0), "strategy.gmp.alpha_k", 0, 0.5) == 0.5
    assert draw_overrides(SPACE, 1, DEFAULTS) != ()


def test_log_uniform_draws_lie_in_range_and_spread_evenly_over_decades():
    lo, hi = 1e-5, 1e-1
    draws = np.array([draw_value(LogUniform(lo, hi), "optim.lr", d, None) for d in range(1, 2001)])
    assert draws.min() >= lo and draws.max() <= hi
    # Each of the four decades holds about a quarter (a linear uniform would put 90% in the last one).
    per_decade = np.histogram(np.log10(draws), bins=[-5, -4, -3, -2, -1])[0] / len(draws)
    assert np.all(np.abs(per_decade - 0.25) < 0.05), per_decade


def test_log_around_scales_the_preset_value_and_the_others_keep_their_range():
    lr = [draw_value(LogAround(0.5), "optim.lr", d, 1e-4) for d in range(1, 500)]
    assert min(lr) >= 1e-4 / 10**0.5 and max(lr) <= 1e-4 * 10**0.5  # 10^U(-4.5, -3.5) around 1e-4
    assert np.mean(np.log10(lr)) == pytest.approx(-4, abs=0.05)
    uniform = [draw_value(Uniform(0.05, 0.2), "strategy.cggm.lamda", d, None) for d in range(1, 500)]
    assert 0.05 <= min(uniform) and max(uniform) <= 0.2
    chosen = {draw_value(Choice((1, 2, 4)), "strategy.grad-blending.super_epoch", d, None) for d in range(1, 100)}
    assert chosen == {1, 2, 4}


def test_drawn_values_read_back_as_set_values():
    assert shown_value(0.000316227766) == "0.0003162" and shown_value(2) == "2" and shown_value(True) == "true"


def test_a_range_for_a_setting_the_params_lack_is_refused_at_once():
    @dataclass
    class Params:
        alpha: float = 1.0
        SEARCH: ClassVar[dict] = {"alpah": Uniform(0.0, 1.0)}

    with pytest.raises(UserError, match="Params.SEARCH names 'alpah', which is not one of its settings"):
        registered_ranges(Params, "strategy.mine")


def in_range(distribution, value) -> bool:
    if isinstance(distribution, Choice):
        return value in distribution.values
    return distribution.lo <= value <= distribution.hi


@pytest.mark.parametrize(("registry", "section"), [(STRATEGIES, "strategy"), (METHODS, "method")])
def test_every_registered_range_names_a_setting_whose_default_it_holds(registry, section):
    for name in registry.names():
        params = registry.get(name).Params
        for key, distribution in registered_ranges(params, f"{section}.{name}").items():
            default = {f.name: f.default for f in fields(params)}[key.rsplit(".", 1)[-1]]
            assert in_range(distribution, default), (key, default, distribution)


def test_the_paper_rows_of_the_study_register_their_ranges():
    ranges = {name: registered_ranges(STRATEGIES.get(name).Params, f"strategy.{name}")
              for name in ("baseline", "ogm-ge", "grad-blending", "pcgrad", "gmp")}
    assert ranges["baseline"] == {} and ranges["pcgrad"] == {}  # no hyper-parameter: the shared keys alone
    assert ranges["gmp"] == {"strategy.gmp.alpha_k": Uniform(0.0, 1.0), "strategy.gmp.alpha_p": Uniform(0.0, 1.0)}
    assert ranges["ogm-ge"] == {"strategy.ogm-ge.alpha": LogUniform(0.1, 10**0.5)}
    assert set(ranges["grad-blending"]) == {"strategy.grad-blending.super_epoch"}
    assert set(SHARED) == {"optim.lr", "loss.domain_weight"} and math.isclose(SHARED["optim.lr"].decades, 0.5)
