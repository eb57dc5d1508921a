"""The search ranges of equal-budget tuning (`sweep --tune K`) and their seeded draws (DomainBed's
hparams registry, Gulrajani and Lopez-Paz, ICLR 2021).

A strategy or method registers the ranges of its hyper-parameters beside their defaults, as a `SEARCH`
mapping on its `Params` dataclass (`SEARCH: ClassVar[dict] = {"alpha": LogUniform(0.1, 3.16)}`); a plugin
does the same. The settings every row shares (`SHARED`: learning rate, domain weight) are drawn for every
row alike, baseline included, so no row gets a larger budget than another.

Each key has its own random stream, seeded by hashing the draw index with the key's full dotted name
(`optim.lr`, `strategy.gmp.alpha_k`): adding a strategy, a key, or a draw never shifts another key's
values, and a shared key takes the same value in every row of one draw. Draw 0 is the defaults: no
override at all, so its runs are the ordinary default runs (same config hash, same run folder).
"""

import hashlib
import math
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

import numpy as np

from mmdg_bench.errors import UserError

MAX_DRAWS = 1000  # draws per row of one sweep: beyond it a tuning budget is a mistake, not a study


@dataclass(frozen=True)
class Uniform:
    """U[lo, hi]."""

    lo: float
    hi: float

    def sample(self, rng: np.random.Generator, default: Any) -> float:
        return float(rng.uniform(self.lo, self.hi))

    def __str__(self) -> str:
        return f"U[{self.lo:g}, {self.hi:g}]"


@dataclass(frozen=True)
class LogUniform:
    """10^U(log10 lo, log10 hi): spread evenly over orders of magnitude (the convention for rates and
    strengths whose scale is unknown)."""

    lo: float
    hi: float

    def sample(self, rng: np.random.Generator, default: Any) -> float:
        return float(10 ** rng.uniform(math.log10(self.lo), math.log10(self.hi)))

    def __str__(self) -> str:
        return f"10^U({math.log10(self.lo):.3g}, {math.log10(self.hi):.3g})"


@dataclass(frozen=True)
class LogAround:
    """default × 10^U(-decades, decades): log-uniform around the preset's own value, for a setting whose
    scale is the preset's (the learning rate is 1e-3 on synth, 1e-4 on the paper's backbones)."""

    decades: float

    def sample(self, rng: np.random.Generator, default: Any) -> float:
        return float(default * 10 ** rng.uniform(-self.decades, self.decades))

    def __str__(self) -> str:
        return f"default × 10^U(-{self.decades:g}, {self.decades:g})"


@dataclass(frozen=True)
class Choice:
    """One of `values`, each equally likely."""

    values: tuple

    def sample(self, rng: np.random.Generator, default: Any) -> Any:
        return self.values[int(rng.integers(len(self.values)))]

    def __str__(self) -> str:
        return "{" + ", ".join(map(str, self.values)) + "}"


Distribution = Uniform | LogUniform | LogAround | Choice

# The settings every row shares, drawn alike for each (the proposal of DomainBed-style tuning for this
# benchmark: lr 10^U(-4.5, -3.5), one decade around the paper's 1e-4, here around each preset's own;
# lambda U[0, 1], where GMP tunes it: "tuned in [0,1] using validation data"). The models have no shared
# dropout setting (only the paper's backbones' heads have one, per encoder), so none is drawn.
SHARED: dict[str, Distribution] = {
    "optim.lr": LogAround(0.5),
    "loss.domain_weight": Uniform(0.0, 1.0),
}


def key_stream(draw: int, key: str) -> np.random.Generator:
    """The random stream of `key` (its full dotted name) in draw `draw`: its own, whatever else is drawn."""
    digest = hashlib.sha256(f"{draw}:{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def draw_value(distribution: Distribution, key: str, draw: int, default: Any) -> Any:
    """The value of `key` in draw `draw`: its default in draw 0, else a draw from its own stream."""
    if draw == 0:
        return default
    return distribution.sample(key_stream(draw, key), default)


def registered_ranges(params_cls: type, prefix: str) -> dict[str, Distribution]:
    """The ranges a Params dataclass registers (its `SEARCH`), by full dotted name (`prefix.key`); a key
    that is not one of its settings (a plugin's typo) is one sentence, before anything is planned."""
    search = getattr(params_cls, "SEARCH", None) or {}
    names = {f.name for f in fields(params_cls)} if is_dataclass(params_cls) else set()
    for key in search:
        if key not in names:
            raise UserError(f"{params_cls.__name__}.SEARCH names '{key}', which is not one of its settings "
                            f"({prefix}.*)")
    return {f"{prefix}.{key}": distribution for key, distribution in search.items()}


def tunes_nothing(params_cls: type) -> bool:
    """Whether a Params dataclass has hyper-parameters but registers no range for any of them."""
    return bool(is_dataclass(params_cls) and fields(params_cls)) and not getattr(params_cls, "SEARCH", None)


def shown_value(value: Any) -> str:
    """A drawn value as a `--set` value: 4 significant digits for a float (a label and a config stay
    readable; tuning never needs more), YAML's spelling for the rest."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def draw_overrides(space: dict[str, Distribution], draw: int, defaults: dict[str, Any]) -> tuple[str, ...]:
    """Draw `draw` of `space` as `--set` overrides ("optim.lr=0.0003162", ...), in the space's order;
    none for draw 0. `defaults` holds the current value of each key a `LogAround` scales."""
    if draw == 0:
        return ()
    return tuple(f"{key}={shown_value(draw_value(d, key, draw, defaults.get(key)))}" for key, d in space.items())
