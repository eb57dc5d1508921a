"""Which device a run uses, the forward-pass precision on it, and how many loader workers this machine
runs: the facts that the engine and the feature-cache builder share.

- `device: auto` is the GPU when torch sees one, else the CPU; a CUDA device this machine does not
  have is refused in one sentence where a run starts (not where it is planned: a Slurm sweep is
  planned on a login node without GPUs).
- `precision: bf16` runs forward passes and losses under bfloat16 autocast (CPU or GPU); parameters,
  gradients and every strategy's arithmetic on them stay float32, so no gradient scaling is needed
  and no strategy ever sees a scaled gradient. fp16 is not offered for that reason: its GradScaler
  would hand strategies gradients multiplied by the loss scale.
- `data.num_workers` beyond the CPUs this process may use is capped to them, with one line saying so.
- A batch moves to the device with `to_device` (non-blocking from pinned memory on a GPU), which the
  engine, the benches and a strategy reading its own loader (PMR's prototype pass) share.
"""

import contextlib
import os
import warnings

import torch

from mmdg_bench.errors import UserError, UserNotice

DTYPES = {"fp32": None, "bf16": torch.bfloat16}  # precision -> autocast dtype (None: no autocast)


def require_device(device: str) -> None:
    """Refuse a CUDA device this machine does not have."""
    if not device.startswith("cuda"):
        return
    if not torch.cuda.is_available():
        raise UserError(f"'device' is {device} but CUDA is not available on this machine; "
                        f"use --set device=cpu or device=auto")
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise UserError(f"'device' is {device} but this machine has {torch.cuda.device_count()} CUDA device(s)")


# Set in a `sweep --jobs N` worker, which sees only the one GPU the sweep pinned it to (the parent's N-th for
# a run's `cuda:N`, mmdg_bench/sweep/launchers.py): there `cuda:N` is that GPU, cuda:0. The run's config, and
# so its folder, keeps the `cuda:N` it was planned with.
PINNED_GPU = "MMDG_BENCH_PINNED_GPU"


def resolve_device(device: str) -> str:
    """`auto`: the GPU when torch sees one, else the CPU; `cuda:N` in a pinned sweep worker: its one GPU."""
    if device.startswith("cuda:") and os.environ.get(PINNED_GPU):
        device = "cuda"
    require_device(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def autocast(device: str, precision: str):
    """The forward-pass context of `precision` on `device`."""
    dtype = DTYPES[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda" if device.startswith("cuda") else "cpu", dtype=dtype)


def usable_workers(requested: int) -> int:
    """`data.num_workers`, at most the CPUs this process may use (a preset's 8 on a 2-core machine made
    torch warn in every loader): the clips do not depend on it, so capping it changes no result."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if requested > cpus:
        warnings.warn(UserNotice(f"data.num_workers={requested} is more than the {cpus} CPUs here: "
                                 f"{cpus} loader workers"), stacklevel=2)
        return cpus
    return requested


def memory_format(tensor_or_dims) -> torch.memory_format:
    dims = tensor_or_dims if isinstance(tensor_or_dims, int) else tensor_or_dims.dim()
    return torch.channels_last_3d if dims == 5 else torch.channels_last


def to_device(batch: dict, device: str, channels_last: bool = False) -> dict:
    """A batch on `device`: non-blocking copies from pinned memory on a GPU, clips in channels-last
    order where asked."""
    cuda = device.startswith("cuda")
    moved = {}
    for key, value in batch.items():
        if torch.is_tensor(value):
            value = value.to(device, non_blocking=cuda)
            if channels_last and cuda and value.dim() in (4, 5):
                value = value.contiguous(memory_format=memory_format(value))
        moved[key] = value
    return moved
