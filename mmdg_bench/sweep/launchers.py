"""Launchers: `local` (in this process, or a process pool with --jobs N) and `submitit` (Slurm job
arrays, one run per task; submitit's `debug`/`local` clusters run the same code path without one).

A run that another process is training (a second sweep, a requeued job) is reported and left to it;
once the rest is done the launcher comes back to it, waits for that process and trains whatever is
still unfinished."""

import ctypes
import os
import signal
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from mmdg_bench.device import PINNED_GPU
from mmdg_bench.errors import UserError
from mmdg_bench.sweep.execute import run_spec
from mmdg_bench.sweep.plan import RunSpec, phases

Report = Callable[[RunSpec, str], None]
# Runs a list of specs (waiting for other trainers or not), yielding each outcome as it comes.
Batch = Callable[[list[RunSpec], bool], Iterable[tuple[RunSpec, str]]]


def until_finished(plan: list[RunSpec], run_batch: Batch, report: Report) -> Counter:
    """Each phase of the plan (`phases`: the runs others read, such as UMT's teachers, then the rest) to
    its end before the next starts, also with several workers."""
    outcomes = Counter()
    for phase in phases(plan):
        pending, wait = phase, False
        while pending:
            busy = []
            for spec, outcome in run_batch(pending, wait):
                report(spec, outcome)
                if outcome == "busy":
                    busy.append(spec)
                else:
                    outcomes[outcome] += 1
            pending, wait = busy, True
    return outcomes


def visible_gpus(count: int, visible: str | None) -> list[str]:
    """The `count` GPUs this process sees, each as a child's CUDA_VISIBLE_DEVICES entry names it: this
    process's own entries (indices, GPU-/MIG- UUIDs; a Slurm allocation sets "2,3"), of which CUDA uses
    those before the first invalid one (torch's count); 0..count-1 when the variable is unset."""
    if visible is None:
        return [str(i) for i in range(count)]
    return [entry.strip() for entry in visible.split(",")][:count]


def gpus_for(plan: list[RunSpec]) -> list[str]:
    """The GPUs the plan's workers are pinned to (CUDA_VISIBLE_DEVICES entries): every visible one, round
    robin, for `cuda` or `auto`; the N-th visible one, for every worker, for `cuda:N`; none on the CPU.
    One device for the whole plan: a worker keeps its GPU for all the runs it trains."""
    devices = {spec.config().device for spec in {s.overrides: s for s in plan}.values()}  # one config per setting
    cuda = sorted(d for d in devices if d.startswith(("cuda", "auto")))
    if not cuda:
        return []
    if len(devices) > 1:
        raise UserError(f"the sweep's runs use different devices ({', '.join(sorted(devices))}), but `--jobs` "
                        f"gives each worker one device for all its runs: sweep each device on its own")
    import torch

    from mmdg_bench.device import require_device

    device = cuda[0]
    gpus = visible_gpus(torch.cuda.device_count(), os.environ.get("CUDA_VISIBLE_DEVICES"))
    if not gpus or ":" not in device:
        return gpus
    require_device(device)  # a cuda:N this process does not see: one sentence here, not one per run
    return [gpus[int(device.partition(":")[2])]]


PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


def die_with_parent(parent: int) -> None:
    """A worker is killed (SIGKILL) when the sweep that started it dies, however it dies (kill -9, an
    out-of-memory kill, a Slurm time limit): left alone, it would train on, holding memory and a GPU
    someone else needs. Linux only (prctl); elsewhere a worker ends after its current run."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def pin_gpu(counter, gpus: list[str]) -> None:
    """Worker i sees only gpus[i mod len(gpus)] (the sweep's own visible GPUs, `gpus_for`), before CUDA
    starts in it, so N workers on one GPU share it and on several GPUs spread over them. Its runs' `cuda:N`
    then means its one GPU, `cuda:0` there (mmdg_bench/device.py, PINNED_GPU)."""
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    os.environ["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]
    os.environ[PINNED_GPU] = "1"


def start_worker(parent: int, counter, gpus: list[str]) -> None:
    """Pool initializer: die with the sweep, and share out the GPUs."""
    die_with_parent(parent)
    if gpus:
        pin_gpu(counter, gpus)


def launch_local(plan: list[RunSpec], jobs: int, report: Report) -> Counter:
    if jobs <= 1:
        return until_finished(plan, lambda specs, wait: ((s, run_spec(s, wait=wait)) for s in specs), report)
    # Split the cores between the workers: oversubscribed torch threads slow every run many-fold.
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = get_context("spawn")
    start = {"initializer": start_worker, "initargs": (os.getpid(), context.Value("i", 0), gpus_for(plan))}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, **start) as pool:
        def run_batch(specs, wait):
            futures = [(spec, pool.submit(run_spec, spec, threads, wait)) for spec in specs]
            return ((spec, future.result()) for spec, future in futures)

        try:
            return until_finished(plan, run_batch, report)
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def launch_submitit(plan: list[RunSpec], cluster: str | None, slurm: dict, report: Report) -> Counter:
    """One Slurm job array over the plan (and one over the runs that were busy elsewhere); waits for
    the tasks and reports each outcome."""
    try:
        import submitit
    except ImportError:
        raise UserError("the submitit launcher needs the slurm extra: pip install 'mmdg-bench[slurm]'") from None
    executor = submitit.AutoExecutor(folder=Path(plan[0].out) / ".submitit" / "%j", cluster=cluster)
    try:
        executor.update_parameters(**slurm)
    except (TypeError, ValueError) as err:
        raise UserError(f"--slurm: {err}") from None

    def run_batch(specs, wait):
        jobs = executor.map_array(run_spec, specs, [0] * len(specs), [wait] * len(specs))
        return ((spec, job.result()) for spec, job in zip(specs, jobs))

    return until_finished(plan, run_batch, report)
