"""Run folders -> a tidy DataFrame, one row per finished run and model-selection rule.

Runs are never pooled across configurations: each gets a `row` label, its strategy name ("method +
strategy" for an MMDG method other than erm: `simmmdg + gmp`), extended (`gmp [alpha_k=0.3]`,
`gmp [fusion=film]`) by the settings in which it differs from the other configurations of the same
method and strategy in the same preset, and by its modalities when they are not the ones most runs
use (`baseline [modalities=video]`). Settings that only say how a run executes, and the seed, never
split rows (`NOT_ROW_SETTINGS`, mmdg_bench/settings.py). Each row also carries its method, the
method's facts and its fusion; for a summary written before runs recorded their facts, the facts of
the built-in entries are read from mmdg_bench/facts.py.
"""

import copy
import dataclasses
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mmdg_bench.engine.run_folder import DONE, SUMMARY, run_folder_of
from mmdg_bench.errors import UserError
from mmdg_bench.facts import METHOD_FACTS, STRATEGY_FACTS
from mmdg_bench.settings import NOT_ROW_SETTINGS, MethodConfig, ModelConfig, drop_default_extensions, flat_settings

ID_COLUMNS = ["preset", "dataset", "strategy", "target_domain", "seed", "config_hash"]
ROW = "row"
RUN_FOLDER = "run_folder"  # the run folder's name: what a sweep plan names a run by
METHOD = "method"  # the run's MMDG method (erm for summaries written before methods existed)
FUSION = "fusion"  # the run's model.fusion (concat for summaries written before fusions existed)
METHOD_INFO = ("paper_row", "order")
CONFIG = "config"  # the run's configuration without its execution settings, as canonical JSON
ENVIRONMENT = {"torch": "env/torch", "device": "env/device", "threads": "env/threads"}
INFO = ("family", "block", "paper_row", "order", "colour", "from_text")
DEFAULT_METHOD = MethodConfig().name  # what a summary written before methods existed ran
DEFAULT_FUSION = ModelConfig().fusion  # what a summary written before fusions existed ran
SUMMARY_ERRORS = (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError,
                  AttributeError)


@dataclass(frozen=True)
class Damaged:
    """A finished run folder (it has `done`) whose files cannot be read."""

    folder: Path
    file: Path
    reason: str

    @property
    def note(self) -> str:
        return f"skipped {self.file}: {self.reason}"


@dataclass
class Collected:
    rows: list[dict] = field(default_factory=list)
    damaged: list[Damaged] = field(default_factory=list)


def run_folders(results_dir: Path) -> list[Path]:
    """Finished run folders (those with a `done` marker) anywhere under `results_dir`."""
    return sorted(p.parent for p in Path(results_dir).rglob(DONE) if p.is_file())


def read_summary(folder: Path) -> dict:
    summary = json.loads((folder / SUMMARY).read_text())
    if not isinstance(summary, dict):
        raise TypeError("not a JSON object")
    return summary


def damage_reason(err: Exception) -> str:
    if isinstance(err, FileNotFoundError):
        return "the file is missing"
    if isinstance(err, (json.JSONDecodeError, UnicodeDecodeError)):
        return f"not valid JSON, truncated or corrupt ({err})"
    if isinstance(err, KeyError):
        return f"no '{err.args[0]}' entry"
    return f"unreadable ({err})"


def config_key(summary: dict) -> str:
    """The run's configuration as its row sees it: as the config hash sees it (settings added later
    left out at their defaults, so older and newer runs of one configuration share a row), less the
    settings that never make a row (seed, threads, device...)."""
    config = copy.deepcopy(summary.get("config") or {})
    drop_default_extensions(config)
    settings = flat_settings(config)
    kept = {k: v for k, v in settings.items() if k not in NOT_ROW_SETTINGS}
    return json.dumps(kept, sort_keys=True)


def run_identity(summary: dict) -> dict:
    """What every row of a run carries: identifiers, configuration, strategy facts, environment."""
    ids = {key: summary[key] for key in ID_COLUMNS}
    ids["modalities"] = ",".join(summary["modalities"])
    ids[CONFIG] = config_key(summary)
    known = STRATEGY_FACTS.get(summary["strategy"])
    info = summary.get("strategy_info") or (known.given() if known else {})
    ids.update({f"info/{key}": info.get(key) for key in INFO})
    ids[METHOD] = summary.get(METHOD) or DEFAULT_METHOD
    method = METHOD_FACTS.get(ids[METHOD])
    facts = summary.get("method_info") or (method.given() if method else {})
    ids.update({f"method_info/{key}": facts.get(key) for key in METHOD_INFO})
    ids[FUSION] = ((summary.get("config") or {}).get("model") or {}).get(FUSION) or DEFAULT_FUSION
    environment = summary.get("environment") or {}
    ids.update({column: environment.get(key) for key, column in ENVIRONMENT.items()})
    return ids


def summary_rows(summary: dict) -> list[dict]:
    rows = []
    identity = run_identity(summary)
    for rule, chosen in summary["selection"].items():
        row = {**identity, "selection": rule, "epoch": chosen["epoch"]}
        for split in ("val", "target"):
            row.update({f"{split}/{head}": acc for head, acc in chosen[split].items() if head != "loss"})
        row.update({f"diag/{key}": value for key, value in summary.get("diagnostics", {}).items()})
        rows.append(row)
    return rows


def finished_run_rows(results_dir: Path | str, read_folder: Callable[[Path], list[dict]],
                      read_file: str = SUMMARY) -> Collected:
    """`read_folder` applied to every finished run folder under `results_dir`, rows concatenated; a
    folder it cannot read is skipped and listed as Damaged, naming `read_file` (or the file that
    failed, when the error names one)."""
    results_dir = Path(results_dir)
    if results_dir.exists() and not results_dir.is_dir():
        raise UserError(f"results path {results_dir} is a file, not a folder; give the folder of run folders")
    if not results_dir.is_dir():
        raise UserError(f"results folder {results_dir} does not exist")
    collected = Collected()
    for folder in run_folders(results_dir):
        try:
            collected.rows += read_folder(folder)
        except SUMMARY_ERRORS as err:
            file = Path(err.filename) if isinstance(err, OSError) and err.filename else folder / read_file
            collected.damaged.append(Damaged(folder, file, damage_reason(err)))
    if not collected.rows and collected.damaged:
        raise UserError(f"no readable finished runs under {results_dir}: {len(collected.damaged)} finished "
                        f"run(s) could not be read, e.g. {collected.damaged[0].note}")
    if not collected.rows:
        raise UserError(f"no finished runs under {results_dir} (a run folder counts once it has a "
                        f"'{DONE}' marker); start one with `mmdg-bench run`")
    return collected


def setting_name(path: str, paths: list[str]) -> str:
    """The shortest dotted suffix of `path` that no other differing path ends with."""
    parts = path.split(".")
    for start in range(len(parts) - 1, -1, -1):
        suffix = ".".join(parts[start:])
        if not any(other != path and (other == suffix or other.endswith("." + suffix)) for other in paths):
            return suffix
    return path


def setting_text(value) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    return value if isinstance(value, str) else json.dumps(value)


def strategy_labels(strategy: str, configs: list[str]) -> dict[str, list[str]]:
    """Config -> the settings ("alpha_k=0.3") in which it differs from the strategy's other configs."""
    if len(configs) < 2:
        return {config: [] for config in configs}
    settings = {config: json.loads(config) for config in configs}
    paths = sorted({p for s in settings.values() for p in s} - {"data.modalities"})
    differing = [p for p in paths if len({json.dumps(s.get(p, "–")) for s in settings.values()}) > 1]
    return {config: [f"{setting_name(p, differing)}={setting_text(s.get(p, '–'))}" for p in differing]
            for config, s in settings.items()}


def method_label(method: str, strategy: str) -> str:
    """"gmp" for ERM (the default method); "simmmdg + gmp" for another method."""
    return strategy if method == DEFAULT_METHOD else f"{method} + {strategy}"


def with_method(runs: pd.DataFrame) -> pd.DataFrame:
    """`runs` with a METHOD column (tidy tables built by hand may lack it: then every run is ERM's)."""
    return runs if METHOD in runs.columns else runs.assign(**{METHOD: DEFAULT_METHOD})


def unusual_fusion(config: str, usual: str | None, shown: list[str]) -> list[str]:
    """["fusion=film"] for a run whose fusion is not the one most runs use (unless already shown)."""
    fusion = json.loads(config).get(f"model.{FUSION}", DEFAULT_FUSION)
    if usual is None or fusion == usual or any(s.startswith(f"{FUSION}=") for s in shown):
        return []
    return [f"{FUSION}={fusion}"]


def label_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """`runs` with its ROW column: one label per (method, strategy, configuration), per preset and dataset."""
    runs = with_method(runs)
    keys = ["preset", "dataset", METHOD, "strategy", CONFIG, "modalities"]
    labels = {}
    for (preset, dataset), group in runs.groupby(["preset", "dataset"], sort=False):
        distinct = group.drop_duplicates([METHOD, "strategy", "target_domain", "seed", CONFIG])
        counts = distinct.modalities.value_counts()
        usual = max(counts.index, key=lambda m: (counts[m], m.count(",")))
        usual_fusion = distinct[FUSION].value_counts().idxmax() if FUSION in distinct.columns else None
        for (method, strategy), runs_of in group.groupby([METHOD, "strategy"], sort=False):
            settings = strategy_labels(strategy, list(dict.fromkeys(runs_of[CONFIG])))
            name = method_label(method, strategy)
            for config, modalities in runs_of[[CONFIG, "modalities"]].drop_duplicates().itertuples(index=False):
                shown = settings[config] + ([f"modalities={modalities}"] if modalities != usual else [])
                shown += unusual_fusion(config, usual_fusion, shown)
                labels[preset, dataset, method, strategy, config, modalities] = \
                    f"{name} [{', '.join(shown)}]" if shown else name
    return runs.assign(**{ROW: [labels[key] for key in zip(*(runs[c] for c in keys))]})


def runs_frame(collected: Collected) -> pd.DataFrame:
    return label_rows(pd.DataFrame(collected.rows))


def collect_runs(results_dir: Path | str) -> tuple[pd.DataFrame, list[Damaged]]:
    """One row per finished run and model-selection rule, and the finished runs that could not be read."""
    collected = finished_run_rows(results_dir, lambda folder: [{**row, RUN_FOLDER: folder.name}
                                                               for row in summary_rows(read_summary(folder))])
    return runs_frame(collected), collected.damaged


UNRESOLVED = " (planned by an older sweep whose preset or plugins no longer load)"


def planned_folder(spec, configs: dict) -> str | None:
    """The folder name the plan recorded for `spec`; for a plan saved before plans recorded folder
    names, worked out from its preset (one load per configuration in `configs`), or None when it no
    longer loads."""
    if spec.run_folder:
        return spec.run_folder
    key = (spec.preset, spec.overrides, spec.plugins, spec.method, spec.strategy)
    if key not in configs:  # the seed is a plain field
        try:
            configs[key] = spec.config()
        except (UserError, OSError):
            configs[key] = None
    if configs[key] is None:
        return None
    return run_folder_of(dataclasses.replace(configs[key], seed=spec.seed), spec.target, "").path.name


def planned_runs(results_dir: Path | str) -> dict[str, dict[str, str]]:
    """{preset: {run folder name: label}} of every run that a `sweep` planned into `results_dir`
    (it saves its plan under `<out>/sweeps/`, with each run's folder name), so that `compare` can say
    which planned runs are missing rather than guess from the grid of rows x targets x seeds it sees
    (a table run on fewer seeds on purpose is not missing its other seeds). A run of an older plan
    (saved without folder names) whose preset or plugins no longer load is listed as missing, and says so."""
    from mmdg_bench.sweep.plan import saved_plans

    how = set(NOT_ROW_SETTINGS)
    specs, configs = defaultdict(dict), {}
    for sweeps in sorted(Path(results_dir).rglob("sweeps")):
        for spec in saved_plans(sweeps.parent) if sweeps.is_dir() else ():
            name = planned_folder(spec, configs)
            if name is None:
                specs[Path(spec.preset).stem][f"?{spec.label}"] = spec  # no folder can have this name
            else:
                specs[name.split("__")[0]][name] = spec  # a run folder's name starts with its preset's
    planned = {}
    for preset, named in specs.items():  # a label shows the overrides its preset's sweeps do not share
        shared = set.intersection(*(set(spec.overrides) for spec in named.values()))
        shown = {name: [o for o in spec.overrides if o not in shared and o.partition("=")[0].strip() not in how
                        and o not in spec.varied]  # a grid cell's label shows its values already
                 for name, spec in named.items()}
        planned[preset] = {name: spec.label + (f" [{', '.join(shown[name])}]" if shown[name] else "")
                           + (UNRESOLVED if name.startswith("?") else "") for name, spec in named.items()}
    return planned


def collect(results_dir: Path | str) -> pd.DataFrame:
    """`collect_runs` for callers that report nothing about damaged folders (benchmarks, tests)."""
    return collect_runs(results_dir)[0]
