"""Sweeps as functions: `mmdg-bench sweep` and `sweep status` (mmdg_bench/cli/sweep.py) call these.

    from mmdg_bench import api
    api.sweep(strategies=["baseline", "gmp"], seeds="0-1", out="results/nb", jobs=2)
    api.sweep_status("results/nb")
"""

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from mmdg_bench.api.runs import not_a_file
from mmdg_bench.errors import UserError, check_choice
from mmdg_bench.facts import PAPER_STRATEGIES
from mmdg_bench.sweep.launchers import launch_local, launch_submitit
from mmdg_bench.sweep.plan import RunSpec, plan_sweep, save_plan, saved_plans
from mmdg_bench.sweep.status import run_state
from mmdg_bench.sweep.status import sweep_status as status_table

LAUNCHERS = ("local", "submitit")
CLUSTERS = ("slurm", "local", "debug")
Report = Callable[[RunSpec, str], None]  # (a run, its outcome): "done", "failed", "busy" or "skipped"
Announce = Callable[[list[RunSpec], list[str]], None]  # (the plan, each run's state) before anything runs


def comma_list(names: Sequence[str] | str) -> str:
    return names if isinstance(names, str) else ",".join(names)


def slurm_parameters(items: list[str]) -> dict[str, str]:
    bad = next((item for item in items if "=" not in item), None)
    if bad is not None:
        raise UserError(f"--slurm takes KEY=VALUE, e.g. slurm_partition=gpu, got '{bad}'")
    return dict(item.split("=", 1) for item in items)


def sweep(preset: str = "synth", strategies: Sequence[str] | str = PAPER_STRATEGIES,
          methods: Sequence[str] | str = "erm", targets: Sequence[str] | str = "all", seeds: str = "0-2",
          overrides: list[str] = (), out: Path | str = "results/runs", launcher: str = "local", jobs: int = 1,
          cluster: str | None = None, slurm: list[str] = (), dry_run: bool = False, loggers: list[str] = (),
          plugins: list[str] = (), vary: list[str] = (), tune: int | None = None,
          report: Report = lambda spec, outcome: None, announce: Announce = lambda plan, states: None
          ) -> pd.DataFrame:
    """Every (method, strategy, target, seed) run of the grid not yet done, `jobs` at a time here or as
    Slurm job arrays (`launcher="submitit"`): one row per planned run with its folder and what happened
    ("done"; "skipped": finished already, here or by another process; "failed": its error.txt says why).
    With `dry_run` nothing trains and the rows say each run's state. `vary` (["strategy.gmp.alpha_k=0,0.5"])
    multiplies the grid by the cartesian product of the varied settings, each combination checked first;
    `tune` (K) instead runs K draws of settings per method and strategy (draw 0 = the defaults;
    mmdg_bench/sweep/tune.py), for `compare(tuned=True)`."""
    if jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {jobs}")
    check_choice(launcher, LAUNCHERS, "--launcher")
    if cluster is not None:
        check_choice(cluster, CLUSTERS, "--cluster")
    params = slurm_parameters(list(slurm))
    out = not_a_file(out, "--out")
    trackers = [f"loggers=[{','.join(loggers)}]"] if loggers else []
    plan = plan_sweep(preset, comma_list(strategies), comma_list(targets), seeds, [*overrides, *trackers], out,
                      plugins=list(plugins), methods=comma_list(methods), vary=list(vary), tune=tune)
    states = [run_state(spec)[0] for spec in plan]
    announce(plan, states)
    if dry_run:
        return plan_frame(plan, state=states)
    save_plan(plan, out)
    todo = [spec for spec, state in zip(plan, states) if state != "done"]
    outcomes = {}

    def record(spec: RunSpec, outcome: str) -> None:
        outcomes[spec] = outcome
        report(spec, outcome)

    if launcher == "submitit":
        if todo:
            launch_submitit(todo, cluster, params, record)
    else:
        launch_local(todo, jobs, record)
    return plan_frame(plan, outcome=[outcomes.get(spec, "skipped") for spec in plan])


def plan_frame(plan: list[RunSpec], **columns: list) -> pd.DataFrame:
    return pd.DataFrame([{"method": s.method, "strategy": s.strategy, "target_domain": s.target, "seed": s.seed,
                          "label": s.label, "folder": s.folder(), **{k: v[i] for k, v in columns.items()}}
                         for i, s in enumerate(plan)])


def sweep_status(out: Path | str = "results/runs") -> pd.DataFrame:
    """done / running / failed / interrupted / pending, with a detail, for every run planned under `out`;
    for a sweep with --vary, a "varied" column tells its cells apart ("alpha_k=0.25, alpha_p=0")."""
    table = status_table(Path(out))
    cells = [spec.cell for spec in saved_plans(Path(out))]  # the status table lists the saved plans in order
    return table.assign(varied=cells) if any(cells) else table
