"""Per-epoch checkpoints, so an interrupted run (Ctrl-C, a killed job) resumes where it stopped.

The checkpoint holds everything the next epoch depends on: model and optimizer state, the
strategy's own state (its random generators, Gradient-Blending's weights), torch's global random
state and the training loader's shuffling generator. A resumed run therefore writes the same
metrics as one that was never interrupted (tested). It is written atomically after each epoch and
deleted once the run is done. Loaded with `weights_only=True`: a checkpoint cannot run code.
"""

import os
from pathlib import Path

import torch

CHECKPOINT = "checkpoint.pt"


def save_checkpoint(folder: Path, epoch: int, model, optimizer, strategy, shuffle: torch.Generator) -> None:
    state = {
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "strategy": strategy.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "shuffle_rng": shuffle.get_state(),
    }
    tmp = folder / f".{CHECKPOINT}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, folder / CHECKPOINT)


def load_checkpoint(folder: Path) -> dict | None:
    path = folder / CHECKPOINT
    if not path.is_file():
        return None
    try:
        return torch.load(path, weights_only=True)
    except Exception:  # a checkpoint cut short by a kill mid-write of an older torch: start over
        return None


def restore(state: dict, model, optimizer, strategy, shuffle: torch.Generator) -> int:
    """Put the saved state back; returns the last finished epoch."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    strategy.load_state_dict(state["strategy"])
    torch.set_rng_state(state["torch_rng"])
    shuffle.set_state(state["shuffle_rng"])
    return state["epoch"]


def remove_checkpoint(folder: Path) -> None:
    (folder / CHECKPOINT).unlink(missing_ok=True)
