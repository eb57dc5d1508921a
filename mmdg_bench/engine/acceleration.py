"""How a run uses its device, none of which changes what it computes beyond rounding (the device
itself and the bf16 autocast are in `mmdg_bench/device.py`):

- cuDNN autotuning (`cudnn.benchmark`) unless `deterministic`.
- `channels_last`: encoders and their input clips in channels-last memory order on a GPU (faster
  convolutions with cuDNN); a no-op on the CPU.
- `compile`: `torch.compile` of each encoder (the backbones dominate a step).
- loaders: pinned memory and non-blocking copies on a GPU, persistent workers with prefetching.

    mmdg-bench run --preset hac_paper --set precision=bf16 --set compile=true
"""

import os

import torch

from mmdg_bench.device import memory_format, usable_workers


def configure_backends(deterministic: bool) -> None:
    """torch's deterministic algorithms and the cuDNN/cuBLAS settings they need (a run that uses an
    operation without a deterministic version then stops naming it); cuDNN autotuning otherwise."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic


def prepare_encoders(model, device: str, channels_last: bool, compile_encoders: bool) -> None:
    """Channels-last weights (GPU only) and compiled encoders, in place."""
    if compile_encoders:
        # Strategies back-propagate one forward several times (GMP's g_c and g_d, PCGrad's tasks) with
        # retain_graph; a compiled backward that donates its saved buffers refuses that (torch 2.5+).
        torch._functorch.config.donated_buffer = False
    for name, encoder in model.encoders.items():
        if channels_last and device.startswith("cuda"):
            weight_dims = max((p.dim() for p in encoder.parameters()), default=2)
            if weight_dims >= 4:
                encoder.to(memory_format=memory_format(weight_dims))
        if compile_encoders:
            model.encoders[name] = torch.compile(encoder)


def loader_options(device: str, num_workers: int, prefetch: int, start_method: str | None = None) -> dict:
    """DataLoader keywords for the device: pinned memory on a GPU; workers (at most the CPUs) that
    persist across epochs (each keeps its decoded cache) and prefetch `prefetch` batches each, started
    by `start_method` (None: the platform's default; "spawn" for GPU decoding, `worker_start_method`)."""
    num_workers = usable_workers(num_workers)
    options = {"num_workers": num_workers, "pin_memory": device.startswith("cuda")}
    if num_workers > 0:
        options.update(persistent_workers=True, prefetch_factor=prefetch)
        if start_method:
            options.update(multiprocessing_context=start_method)
    return options
