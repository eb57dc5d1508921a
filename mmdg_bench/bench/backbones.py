"""Seconds per clip of a forward + backward through each full-size backbone at the paper's input size,
on this machine's CPU, batch 1, under each training regime (`mmdg-bench bench --part backbones`).
Random weights: the cost does not depend on them. A failure (e.g. out of memory) becomes an error row.

    mmdg-bench bench --part backbones --repeats 3
"""

import os

import torch
from rich.console import Console
from rich.table import Table

from mmdg_bench.bench.timing import median_seconds
from mmdg_bench.models.backbones.regime import REGIMES
from mmdg_bench.models.encoders import build_encoder

# The reference inputs (SimMMDG's pre-processing, mmaction2 configs): RGB 32x224x224, flow 8x224x224,
# spectrogram 257x1004.
PAPER_INPUTS = {"slowfast_r101_8x8": (3, 32, 224, 224), "slowonly_r50_flow": (2, 8, 224, 224),
                "vggsound_r18": (1, 257, 1004)}


def training_step(encoder, clip: torch.Tensor):
    def step():
        encoder.zero_grad(set_to_none=True)
        features = encoder(clip)
        if features.requires_grad:
            features.sum().backward()

    return step


def time_backbone(name: str, regime: str, repeats: int) -> tuple[int, float]:
    """(trainable parameters, median seconds of one forward + backward)."""
    shape = PAPER_INPUTS[name]
    encoder = build_encoder({"name": name, "regime": regime}, name, shape[0], 256).train()
    clip = torch.randn(1, *shape)
    step = training_step(encoder, clip)
    step()  # warm-up: first-call allocations
    trainable = sum(p.numel() for p in encoder.parameters() if p.requires_grad)
    return trainable, median_seconds(step, repeats)


def bench_backbones(console: Console, repeats: int) -> None:
    table = Table(title=f"Backbones: forward + backward, batch 1, paper input size, CPU "
                        f"({torch.get_num_threads()} threads, {os.cpu_count()} CPUs, median of {repeats})")
    for column in ("backbone", "input", "regime", "trainable params", "s / clip"):
        table.add_column(column, justify="left" if column in ("backbone", "input", "regime") else "right")
    for name, shape in PAPER_INPUTS.items():
        for regime in REGIMES:
            try:
                trainable, seconds = time_backbone(name, regime, repeats)
                row = (f"{trainable / 1e6:.2f}M", f"{seconds:.2f}")
            except (RuntimeError, MemoryError) as err:
                row = ("error", str(err).splitlines()[0][:60])
            table.add_row(name, "x".join(map(str, shape)), regime, *row)
            console.print(f"timed {name} ({regime})", highlight=False)
    console.print(table)
