"""The benchmark as Python functions, for notebooks: the same work as the `run`, `sweep` and
`compare` commands, returning run folders and pandas DataFrames instead of printing.

    from mmdg_bench import api
    runs = api.run(strategy="gmp", targets=["day"], overrides=["optim.epochs=4"], out="results/nb")
    api.sweep(strategies=["baseline", "gmp"], seeds="0-1", out="results/nb", jobs=2)
    tables = api.compare("results/nb")       # {table title: DataFrame}, as `compare` prints them
    tables["Fused target accuracy (%) (Table 2 layout)"]
"""

from pathlib import Path

import pandas as pd

from mmdg_bench.config import load_config


def run(preset: str = "synth", strategy: str | None = None, targets: list[str] | None = None, seed: int | None = None,
        overrides: list[str] = (), out: Path | str = "results/runs", plugins: list[str] = (),
        loggers: list[str] = (), force: bool = False) -> pd.DataFrame:
    """Train leave-one-domain-out runs (every held-out domain when `targets` is None): one row per run
    with its folder and its accuracies at the best source-validation epoch."""
    from mmdg_bench.data import load_index
    from mmdg_bench.engine import train_run

    config = load_config(preset, list(overrides), plugins=list(plugins), strategy__name=strategy, seed=seed,
                         loggers=list(loggers) or None)
    index = load_index(config.data)
    rows = []
    for target in [index.check_domain(t) for t in targets] if targets else index.domains:
        result = train_run(config, target, out, force=force)
        chosen = result.summary["selection"]["best-val"]
        rows.append({"strategy": config.strategy.name, "target_domain": target, "seed": config.seed,
                     "folder": result.path, "reused": result.reused, "epoch": chosen["epoch"],
                     **{f"{split}/{head}": acc for split in ("val", "target")
                        for head, acc in chosen[split].items() if head != "loss"}})
    return pd.DataFrame(rows)


def comma_list(names: list[str] | str) -> str:
    return names if isinstance(names, str) else ",".join(names)


def sweep(preset: str = "synth", strategies: list[str] | str = "baseline,gmp", targets: list[str] | str = "all",
          seeds: str = "0-2", overrides: list[str] = (), out: Path | str = "results/runs", jobs: int = 1,
          plugins: list[str] = ()) -> pd.DataFrame:
    """Every (strategy, target, seed) run of the grid not yet done, `jobs` at a time: one row per run
    with its folder and what happened ("done", "skipped", "failed": its error.txt says why)."""
    from mmdg_bench.errors import UserError
    from mmdg_bench.sweep.launchers import launch_local
    from mmdg_bench.sweep.plan import plan_sweep, save_plan

    if jobs < 1:
        raise UserError(f"jobs must be at least 1, got {jobs}")
    plan = plan_sweep(preset, comma_list(strategies), comma_list(targets), seeds, list(overrides), out, plugins=list(plugins))
    save_plan(plan, Path(out))
    outcomes = {}
    launch_local(plan, jobs, lambda spec, outcome: outcomes.__setitem__(spec, outcome))
    return pd.DataFrame([{"strategy": s.strategy, "target_domain": s.target, "seed": s.seed, "folder": s.folder(),
                          "outcome": outcomes.get(s)} for s in plan])


def compare(results_dir: Path | str = "results/runs", selection: str = "best-val", against: str | None = None,
            robustness: bool = False, numbers: bool = False) -> dict[str, pd.DataFrame]:
    """The tables `mmdg-bench compare` prints, by title (prefixed by "<preset>/<dataset>: " when the
    folder holds several): the shown text (rows × columns), or with `numbers` the long table of
    numbers behind it (strategy, column, mean, std, n, ci_low, ci_high, p)."""
    from mmdg_bench.results.collect import collect_runs, planned_runs

    if robustness:
        from mmdg_bench.results.robustness import collect_robustness, robustness_report

        groups = robustness_report(collect_robustness(results_dir), selection, against)
    else:
        from mmdg_bench.results.tables import compare_report

        runs, damaged = collect_runs(results_dir)
        groups = compare_report(runs, selection, against, damaged=damaged, planned=planned_runs(results_dir))
    prefix = (lambda g: f"{g.preset}/{g.dataset}: ") if len(groups) > 1 else (lambda g: "")
    return {prefix(g) + table.title: table.cells if numbers else table.text for g in groups for table in g.tables}
