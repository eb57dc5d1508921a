"""Training runs as functions: `mmdg-bench run` (mmdg_bench/cli/runs.py) is `resolve_runs` + `train_runs`.

    from mmdg_bench import api
    runs = api.run(strategy="gmp", targets=["day"], overrides=["optim.epochs=4"], out="results/nb")
"""

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pandas as pd

from mmdg_bench.config import load_config
from mmdg_bench.data import load_index
from mmdg_bench.data.synthetic import MANIFEST, cached_root
from mmdg_bench.engine import RunResult, train_run
from mmdg_bench.errors import UserError
from mmdg_bench.models.weights import check_weights_present
from mmdg_bench.settings import Config

Status = Callable[[str], AbstractContextManager]  # shows a message while a step works (a spinner)


def quiet(message: str) -> AbstractContextManager:
    return contextlib.nullcontext()


def not_a_file(folder: Path | str, option: str) -> Path:
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{option} {folder} is a file, not a folder; choose a folder")
    return folder


def resolve_runs(preset: str = "synth", strategy: str | None = None, method: str | None = None,
                 targets: list[str] | None = None, seed: int | None = None, overrides: list[str] = (),
                 data_root: Path | str | None = None, loggers: list[str] = (), plugins: list[str] = (),
                 status: Status = quiet) -> tuple[Config, list[str]]:
    """The config of the runs and the held-out domains to train (every domain when `targets` is None);
    the synthetic set is generated on first use, under `status`."""
    config = load_config(preset, list(overrides), plugins=list(plugins), strategy__name=strategy,
                         method__name=method, seed=seed, data__root=str(data_root) if data_root else None,
                         loggers=list(loggers) or None)
    check_weights_present(config.model, config.data.modalities)  # before the data index is read
    generating = config.data.dataset == "synth" and config.data.root is None \
        and not (cached_root(config.data.synth) / MANIFEST).is_file()
    with status(f"generating the synthetic dataset into {cached_root(config.data.synth)}") if generating \
            else contextlib.nullcontext():
        index = load_index(config.data)
    held_out = list(dict.fromkeys(index.check_domain(t) for t in targets)) if targets else index.domains
    return config, held_out


def train_runs(config: Config, targets: list[str], out: Path | str = "results/runs", force: bool = False,
               progress=None) -> list[RunResult]:
    """Train (or reuse, or resume) one run per held-out domain; `progress`: the engine's hooks."""
    return [train_run(config, target, not_a_file(out, "--out"), progress=progress, force=force) for target in targets]


def runs_frame(results: list[RunResult]) -> pd.DataFrame:
    """One row per run: its identity, folder and accuracies at the best source-validation epoch."""
    rows = []
    for result in results:
        summary = result.summary
        chosen = summary["selection"]["best-val"]
        rows.append({"strategy": summary["strategy"], "method": summary.get("method"),
                     "target_domain": summary["target_domain"], "seed": summary["seed"], "folder": result.path,
                     "reused": result.reused, "epoch": chosen["epoch"],
                     **{f"{split}/{head}": acc for split in ("val", "target")
                        for head, acc in chosen[split].items() if head != "loss"},
                     "wall_s": summary["wall_s"], "skipped_clips": len(summary["skipped_clips"])})
    return pd.DataFrame(rows)


def run(preset: str = "synth", strategy: str | None = None, method: str | None = None,
        targets: list[str] | None = None, seed: int | None = None, overrides: list[str] = (),
        data_root: Path | str | None = None, out: Path | str = "results/runs", force: bool = False,
        loggers: list[str] = (), plugins: list[str] = (), progress=None) -> pd.DataFrame:
    """Train leave-one-domain-out runs (every held-out domain when `targets` is None): one row per run
    with its folder and its accuracies at the best source-validation epoch."""
    not_a_file(out, "--out")
    config, held_out = resolve_runs(preset, strategy, method, targets, seed, overrides, data_root, loggers, plugins)
    return runs_frame(train_runs(config, held_out, out, force, progress))
