"""What is registered and shipped, as functions: `mmdg-bench strategies`, `methods` and `presets`
(mmdg_bench/cli/catalogue.py) call these.

    from mmdg_bench import api
    api.strategies()                       # name, paper row, family, paper, cost, what it does
    api.presets_copy("hac", "my_hac.yaml")
"""

from pathlib import Path

import pandas as pd

from mmdg_bench.config import load_config
from mmdg_bench.device import require_device, resolve_device
from mmdg_bench.facts import EXTRA, UNORDERED
from mmdg_bench.models.determinism import require_deterministic_backward
from mmdg_bench.models.weights import check_weights_present
from mmdg_bench.plugins import load_plugins
from mmdg_bench.registry import Registry
from mmdg_bench.settings import Config, copy_preset, list_presets, preset_path


def catalogue(registry: Registry, facts: tuple[str, ...] = ("paper",)) -> pd.DataFrame:
    """The entries of a registry in their display order: name, the paper's row (or extra), the named
    `facts` ("–" where an entry states none; cost as "1.15x"), description."""
    rows = []
    for name in sorted(registry.names(), key=lambda n: (registry.info(n).get("order", UNORDERED), n)):
        info = registry.info(name)
        row = "extra, not in the paper" if info.get("block") == EXTRA else info.get("paper_row") or "–"
        shown = {fact: info.get(fact) for fact in facts}
        if shown.get("cost") is not None:
            shown["cost"] = f"{shown['cost']:g}x"
        rows.append({"name": name, "paper row": row, **{f: v if v is not None else "–" for f, v in shown.items()},
                     "what it does": registry.get(name).description})
    return pd.DataFrame(rows, columns=["name", "paper row", *facts, "what it does"])


def strategies(plugins: list[str] = ()) -> pd.DataFrame:
    """The registered gradient strategies, the `plugins`' included."""
    from mmdg_bench.strategies import STRATEGIES

    load_plugins(plugins)
    # cost: the step-time budget over baseline's that `bench --part strategies` checks
    return catalogue(STRATEGIES, ("family", "paper", "cost"))


def methods(plugins: list[str] = ()) -> pd.DataFrame:
    """The registered MMDG methods, the `plugins`' included; any combines with any strategy."""
    from mmdg_bench.methods import METHODS

    load_plugins(plugins)
    return catalogue(METHODS)


def presets() -> pd.DataFrame:
    """The shipped presets and the first line of each: what it is."""
    return pd.DataFrame([{"name": name, "what it is": preset_path(name).read_text().splitlines()[0].lstrip("# ")}
                         for name in list_presets()], columns=["name", "what it is"])


def presets_show(name: str) -> str:
    """One preset's text, comments included."""
    return preset_path(name).read_text()


def presets_copy(name: str, path: Path | str, force: bool = False) -> Path:
    """A preset, with its comments, written to `path` (a file, or a folder for NAME.yaml) as the
    starting point of your own; returns the file written."""
    return copy_preset(name, Path(path), overwrite=force)


def presets_validate(file: str, overrides: list[str] = (), plugins: list[str] = ()) -> Config:
    """Load a preset (plus overrides) and check every setting, and what `run` checks before it reads any
    data (the weight files are there, the device exists), without training: the config, or a UserError
    naming the first thing that cannot work."""
    config = load_config(file, list(overrides), plugins=list(plugins))
    check_weights_present(config.model, config.data.modalities)
    require_device(config.device)
    require_deterministic_backward(config, resolve_device(config.device))
    return config
