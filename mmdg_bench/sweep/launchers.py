"""Launchers: `local` (in this process, or a process pool with --jobs N) and `submitit` (Slurm job
arrays, one run per task; submitit's `debug`/`local` clusters run the same code path without one)."""

import os
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from mmdg_bench.errors import UserError
from mmdg_bench.sweep.execute import run_spec
from mmdg_bench.sweep.plan import RunSpec

Report = Callable[[RunSpec, str], None]


def launch_local(plan: list[RunSpec], jobs: int, report: Report) -> Counter:
    outcomes = Counter()
    if jobs <= 1:
        for spec in plan:
            outcome = run_spec(spec)
            outcomes[outcome] += 1
            report(spec, outcome)
        return outcomes
    # Split the cores between the workers: oversubscribed torch threads slow every run many-fold.
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        futures = {spec: pool.submit(run_spec, spec, threads) for spec in plan}
        try:
            for spec, future in futures.items():
                outcome = future.result()
                outcomes[outcome] += 1
                report(spec, outcome)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return outcomes


def launch_submitit(plan: list[RunSpec], cluster: str | None, slurm: dict, report: Report) -> Counter:
    """One Slurm job array over the plan; waits for the tasks and reports each outcome."""
    try:
        import submitit
    except ImportError:
        raise UserError("the submitit launcher needs the slurm extra: pip install 'mmdg-bench[slurm]'") from None
    executor = submitit.AutoExecutor(folder=Path(plan[0].out) / ".submitit" / "%j", cluster=cluster)
    executor.update_parameters(**slurm)
    jobs = executor.map_array(run_spec, plan)
    outcomes = Counter()
    for spec, job in zip(plan, jobs):
        outcome = job.result()
        outcomes[outcome] += 1
        report(spec, outcome)
    return outcomes
