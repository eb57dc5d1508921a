"""The plan of a sweep: one `RunSpec` per (method, strategy, target, seed), its folder named by the hash
of its resolved config (DomainBed's pattern), so re-planning finds the same folders. A sweep saves its
plan under <out>/sweeps/ with each run's folder name and label, so that `sweep status` and `compare`
read what was planned without resolving any preset again (plans saved before folder names were
recorded still read: their folders are worked out from their presets).

`--vary KEY=V1,V2,...` (repeatable) multiplies the grid by the cartesian product of the varied settings:
each cell is one more `--set` override per varied key, so a cell's run is an ordinary run folder (its
config hash tells the cells apart) and its label names the values that vary (`gmp/toon/seed0 [alpha_k=0.25]`).

The seed of a run is the trial seed itself, shared by every strategy and target: adding a
strategy or a target never shifts another run's seed, and runs of two strategies with the same
(target, seed) start from the same initialisation and data order, which the paired tests of
`compare` rely on.
"""

import dataclasses
import hashlib
import itertools
import json
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mmdg_bench.config import load_config
from mmdg_bench.engine.run_folder import run_folder_of
from mmdg_bench.errors import UserError, UserNotice
from mmdg_bench.files import write_text_atomically
from mmdg_bench.settings import Config, overridden_strategies, run_label
from mmdg_bench.sweep.tune import check_tune, tune_cells, warn_untuned

ALL = "all"


@dataclass(frozen=True)
class RunSpec:
    preset: str
    strategy: str
    target: str
    seed: int
    overrides: tuple[str, ...]
    out: str
    plugins: tuple[str, ...] = ()  # --plugin modules (absolute paths): a worker or a job imports them first
    method: str = "erm"
    run_folder: str = field(default="", compare=False)  # its folder's name, as planned ("": not recorded)
    # A run that other planned runs read ("umt's video teacher", `Strategy.required_runs`): trained before
    # them, with its weights kept ("": an ordinary run).
    role: str = ""
    # The overrides of this run that the sweep's --vary made ("strategy.gmp.alpha_k=0.25"): its label shows
    # them ("alpha_k=0.25"), so that the cells of a grid read apart in progress lines; `overrides` already
    # holds them, so they are not part of its identity.
    varied: tuple[str, ...] = field(default=(), compare=False)
    # The draw of a `sweep --tune` this run is (None: not a tuning run); `varied` then holds the drawn
    # overrides, and the label shows the draw ("[draw=3]"); `compare --tuned` reads it from the saved plan.
    draw: int | None = field(default=None, compare=False)

    def config(self) -> Config:
        with warnings.catch_warnings():  # overrides of the grid's other strategies: plan_sweep tells once
            warnings.simplefilter("ignore", UserNotice)
            return load_config(self.preset, list(self.overrides), plugins=list(self.plugins),
                               strategy__name=self.strategy, method__name=self.method, seed=self.seed)

    def folder(self) -> Path:
        """The run's folder: as planned, or (a plan saved without folder names) from its config."""
        if self.run_folder:
            return Path(self.out) / self.run_folder
        return run_folder_of(self.config(), self.target, self.out).path

    @property
    def cell(self) -> str:
        """The --vary values of this run, "alpha_k=0.25, alpha_p=0", or its --tune draw, "draw=3" ("" when the
        sweep varied nothing)."""
        if self.draw is not None:
            return f"draw={self.draw}"
        keys = [o.partition("=")[0] for o in self.varied]
        names = short_names(keys)
        return ", ".join(f"{names[key]}={o.partition('=')[2]}" for key, o in zip(keys, self.varied))

    @property
    def label(self) -> str:
        label = f"{run_label(self.method, self.strategy)}/{self.target}/seed{self.seed}"
        label += f" [{self.cell}]" if self.cell else ""
        return f"{label} ({self.role})" if self.role else label


MAX_SEEDS = 1000  # trial seeds of one sweep: beyond it, a grid is no longer a sweep but a mistake


def parse_seeds(text: str) -> list[int]:
    """'0-4' -> [0, 1, 2, 3, 4]; '0,3,7' -> [0, 3, 7]; ranges and lists combine: '0-2,9'."""
    seeds = set()
    shown = text if len(text) <= 60 else f"{text[:60]}…"
    try:
        for part in text.split(","):
            low, sep, high = part.strip().partition("-")
            low, high = int(low), int(high) if sep else int(low)
            if high - low + 1 + len(seeds) > MAX_SEEDS:
                raise UserError(f"--seeds names more than {MAX_SEEDS} seeds ('{shown}'); a sweep runs each of them "
                                f"for every strategy and target: name fewer")
            seeds.update(range(low, high + 1))
    except ValueError:
        raise UserError(f"--seeds must look like 0-4 or 0,2,5, got '{shown}'") from None
    if not seeds:
        raise UserError(f"--seeds names no seed: '{shown}'")
    if not all(0 <= seed < 2**32 for seed in seeds):
        raise UserError(f"--seeds must be from 0 to {2**32 - 1} (numpy's seed range), got '{shown}'")
    return sorted(seeds)


def named(text: str, kind: str) -> list[str] | None:
    """The names of a comma-separated list, None for 'all'; an empty list is refused (before the choices
    are known: a sweep refuses `--targets ,` without reading the dataset)."""
    if text.strip() == ALL:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UserError(f"no {kind} given ('{text}'): name at least one, comma-separated, or '{ALL}'")
    return names


def parse_names(text: str, choices: list[str], kind: str) -> list[str]:
    """'all' or a comma-separated list, each name checked against `choices`."""
    from mmdg_bench.errors import unknown

    names = named(text, kind)
    if names is None:
        return list(choices)
    for name in names:
        if name not in choices:
            raise unknown(kind, name, choices)
    return list(dict.fromkeys(names))


# Settings a sweep already varies through its own options: --vary of these would be overridden by them.
GRID_KEYS = {"seed": "--seeds", "strategy": "--strategies", "strategy.name": "--strategies",
             "method": "--methods", "method.name": "--methods"}


def split_values(text: str) -> list[str]:
    """'0,0.5,[video,audio]' -> ['0', '0.5', '[video,audio]']: commas inside brackets or braces belong to
    one YAML value (a list setting such as data.modalities), the others separate values."""
    values, depth, current = [], 0, ""
    for char in text:
        depth += (char in "[{") - (char in "]}")
        if char == "," and depth <= 0:
            values.append(current.strip())
            current = ""
        else:
            current += char
    return [*values, current.strip()]


def parse_vary(items: list[str], overrides: list[str] = ()) -> dict[str, list[str]]:
    """['strategy.gmp.alpha_k=0,0.5'] -> {'strategy.gmp.alpha_k': ['0', '0.5']}: each value is a `--set`
    value (YAML), checked later with its whole config; the shape of each --vary is checked here."""
    varied = {}
    fixed = {o.partition("=")[0].strip() for o in overrides}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--vary takes KEY=V1,V2,..., e.g. strategy.gmp.alpha_k=0,0.5,1, got '{item}'")
        if key in GRID_KEYS:
            raise UserError(f"--vary {key}: the sweep varies it with {GRID_KEYS[key]}; use that option instead")
        if key in varied:
            raise UserError(f"--vary {key} is given twice: list all its values in one --vary {key}=V1,V2,...")
        if key in fixed:
            raise UserError(f"{key} is both set (--set) and varied (--vary): give it once")
        if not text.strip():
            raise UserError(f"--vary {key} names no value: give its values as {key}=V1,V2,...")
        values = list(dict.fromkeys(split_values(text)))
        if any(not value for value in values):
            raise UserError(f"--vary {key} has an empty value ('{text}'): give its values as {key}=V1,V2,...")
        varied[key] = values
    return varied


def short_names(keys: list[str]) -> dict[str, str]:
    """Each dotted key by its last part ('alpha_k'), or whole where two keys share that last part."""
    last = [key.rsplit(".", 1)[-1] for key in keys]
    return {key: name if last.count(name) == 1 else key for key, name in zip(keys, last)}


def vary_cells(varied: dict[str, list[str]]) -> list[tuple[str, ...]]:
    """The cartesian product of the varied settings, each cell as its overrides ('KEY=V'); one empty
    cell when nothing varies."""
    return [tuple(f"{key}={value}" for key, value in zip(varied, values))
            for values in itertools.product(*varied.values())]


def plan_sweep(preset: str, strategies: str, targets: str, seeds: str, overrides: list[str],
               out: Path | str, plugins: list[str] = (), methods: str = "erm", vary: list[str] = (),
               tune: int | None = None) -> list[RunSpec]:
    """Every run of the grid (times every cell of `vary`, or `tune` draws per method and strategy,
    mmdg_bench/sweep/tune.py); every config is resolved now, so a typo fails before any training."""
    from mmdg_bench.data import load_index
    from mmdg_bench.methods import METHODS
    from mmdg_bench.models.weights import check_weights_present
    from mmdg_bench.strategies import STRATEGIES

    if tune is not None:
        check_tune(tune, list(vary))
    varied = parse_vary(list(vary), overrides)
    cells = vary_cells(varied)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserNotice)
        base = load_config(preset, overrides, plugins=plugins)
        for cell in cells:  # each combination checked before the data is read (a bad key or value)
            load_config(preset, [*overrides, *cell], plugins=plugins)
    chosen = parse_names(strategies, STRATEGIES.names(), "strategy")
    chosen_methods = parse_names(methods, METHODS.names(), "method")
    trial_seeds = parse_seeds(seeds)
    named(targets, "target domain")  # every mistake that needs no data is told before the data is read
    check_weights_present(base.model, base.data.modalities)
    domains = load_index(base.data).domains
    draws = {(m, s): list(enumerate(tune_cells(tune, s, m, base, overrides))) if tune is not None
             else [(None, cell) for cell in cells] for m in chosen_methods for s in chosen}
    if tune is not None:
        warn_untuned(chosen, chosen_methods)
    plan = [RunSpec(preset, s, t, seed, (*overrides, *cell), str(out), tuple(base.plugins), method, varied=cell,
                    draw=draw)
            for method in chosen_methods
            for s in chosen
            for t in parse_names(targets, domains, "target domain")
            for draw, cell in draws[method, s]
            for seed in trial_seeds]
    plan = [dataclasses.replace(spec, run_folder=run_folder_of(spec.config(), spec.target, "").path.name)
            for spec in plan]  # every config resolved: a typo fails here, before any training
    plan = with_required_runs(plan)
    for name in sorted(overridden_strategies([*overrides, *(f"{key}=" for key in varied)])
                       - set(chosen)):
        warnings.warn(UserNotice(f"the overrides of strategy.{name} have no effect: the sweep's strategies "
                                 f"are {', '.join(chosen)}"), stacklevel=2)
    return plan


def override(path: str, value) -> str:
    return f"{path}={json.dumps(value)}"


def required_specs(spec: RunSpec) -> list[RunSpec]:
    """The runs that `spec`'s strategy reads (`Strategy.required_runs`: UMT's unimodal teachers), as specs of
    the same preset, target, seed and overrides plus the changes, weights kept."""
    from mmdg_bench.strategies import STRATEGIES

    specs = []
    for role, changes in STRATEGIES.get(spec.strategy).required_runs(spec.config(), spec.target).items():
        changes = {**changes, "keep_weights": True}
        strategy, method = changes.pop("strategy", spec.strategy), changes.pop("method", spec.method)
        required = RunSpec(spec.preset, strategy, spec.target, spec.seed,
                           (*spec.overrides, *(override(k, v) for k, v in changes.items())), spec.out, spec.plugins,
                           method, role=role, varied=spec.varied)
        specs.append(dataclasses.replace(required, run_folder=run_folder_of(required.config(), spec.target,
                                                                            "").path.name))
    return specs


def with_required_runs(plan: list[RunSpec]) -> list[RunSpec]:
    """The plan with the runs its runs read (UMT's teachers) first, each once: a planned run that is also
    required is planned as required (its weights kept)."""
    required = {}
    for spec in plan:
        for teacher in required_specs(spec):
            required.setdefault(teacher.run_folder, teacher)
    return [*required.values(), *(spec for spec in plan if spec.run_folder not in required)]


def phases(plan: list[RunSpec]) -> list[list[RunSpec]]:
    """The plan in the order it must train: the required runs (teachers), then the rest; empty phases left out."""
    return [phase for phase in ([s for s in plan if s.role], [s for s in plan if not s.role]) if phase]


PLANS_FOLDER = "sweeps"  # beside the run folders of <out>: the plans of the sweeps that wrote them


def is_plans_folder(folder: Path) -> bool:
    """Whether `folder` is a sweep's plans folder (what `results/runs/*/` also matches), not a run."""
    return folder.name == PLANS_FOLDER and not (folder / "config.yaml").exists()


def save_plan(plan: list[RunSpec], out: Path) -> Path:
    """Record the plan under <out>/sweeps/, each run with its folder name and label, so that `sweep
    status` knows the pending runs too and `compare` which planned runs are missing."""
    text = json.dumps([{**asdict(spec), "label": spec.label} for spec in plan], indent=1)
    path = Path(out) / PLANS_FOLDER / f"{hashlib.sha256(text.encode()).hexdigest()[:10]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        write_text_atomically(path, text)  # never a half-written plan (a full disk used to leave 0 bytes)
    return path


def read_plan(path: Path) -> list[dict]:
    """A saved plan's runs; a damaged file is one sentence naming it and the repair."""
    try:
        raw = json.loads(path.read_text())
        if not isinstance(raw, list) or not all(isinstance(r, dict) and {"preset", "strategy", "target", "seed",
                                                                          "overrides", "out"} <= set(r) for r in raw):
            raise ValueError("not a list of planned runs")
    except (OSError, ValueError) as err:
        reason = "it is empty" if isinstance(err, ValueError) and not path.stat().st_size else str(err)
        raise UserError(f"the sweep plan {path} is damaged ({reason}): delete it, then run the sweep again "
                        f"with the same options to write it anew") from None
    return raw


def plan_records(results_dir: Path | str) -> Iterator[dict]:
    """Every planned run, as saved, of every sweep plan under `results_dir` at any depth
    (`<out>/sweeps/*.json`), plan by plan in name order; a damaged plan is read_plan's one sentence."""
    for plans in sorted(Path(results_dir).rglob(PLANS_FOLDER)):
        for path in sorted(plans.glob("*.json")) if plans.is_dir() else ():
            yield from read_plan(path)


def saved_plans(out: Path) -> list[RunSpec]:
    """The runs of every plan saved under <out>/sweeps/, each once, with its folder name where a plan
    recorded one."""
    names = {f.name for f in dataclasses.fields(RunSpec)}  # a plan's "label" is derived, not read
    specs = {}
    for path in sorted((Path(out) / PLANS_FOLDER).glob("*.json")):
        for raw in read_plan(path):
            spec = RunSpec(**{**{k: v for k, v in raw.items() if k in names}, "overrides": tuple(raw["overrides"]),
                              "plugins": tuple(raw.get("plugins", ())),
                              "varied": tuple(raw.get("varied", ()))})
            if spec.run_folder or spec not in specs:
                specs[spec] = spec
    return list(specs.values())
