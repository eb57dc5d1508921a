"""Per-epoch checkpoints, so an interrupted run (Ctrl-C, a killed job) resumes where it stopped.

The checkpoint holds everything the next epoch depends on: the model's trainable parameters and all
its buffers (a frozen pretrained trunk is rebuilt from its weight file, so it is not copied into
every run folder; its BatchNorm statistics are buffers and are kept), optimizer state, the
strategy's own state (its random generators, Gradient-Blending's weights), torch's global random
state and the training loader's shuffling generator. A resumed run therefore writes the same
metrics as one that was never interrupted (tested). It is written atomically after each epoch and
deleted once the run is done. Loaded with `weights_only=True`: a checkpoint cannot run code.
"""

import warnings
from pathlib import Path

import torch

from mmdg_bench.errors import UserNotice
from mmdg_bench.files import WEIGHTS, write_atomically

CHECKPOINT = "checkpoint.pt"


def trainable_state(model) -> dict[str, torch.Tensor]:
    """The model's state without its frozen parameters (requires_grad False), which the model's
    construction restores from their weight files."""
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    return {k: v for k, v in model.state_dict().items() if k not in frozen}


def load_trainable_state(model, state: dict) -> None:
    missing, unexpected = model.load_state_dict(state, strict=False)
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    if unexpected or set(missing) - frozen:
        raise KeyError(f"the saved model state does not match this model (missing {sorted(set(missing) - frozen)[:3]}, "
                       f"unexpected {unexpected[:3]})")


def save_weights(folder: Path, name: str, model) -> None:
    """The model's trainable state as <folder>/weights/<name>.pt, written atomically."""
    path = folder / WEIGHTS / f"{name}.pt"
    path.parent.mkdir(exist_ok=True)
    state = trainable_state(model)
    write_atomically(path, lambda tmp: torch.save(state, tmp))


def save_checkpoint(folder: Path, epoch: int, model, optimizer, strategy, shuffle: torch.Generator) -> None:
    state = {
        "epoch": epoch,
        "model": trainable_state(model),
        "optimizer": optimizer.state_dict(),
        "strategy": strategy.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "shuffle_rng": shuffle.get_state(),
        "threads": torch.get_num_threads(),  # a CPU run's numbers depend on it: a resume keeps it
    }
    write_atomically(folder / CHECKPOINT, lambda tmp: torch.save(state, tmp))


def load_checkpoint(folder: Path) -> dict | None:
    """The saved state, or None when there is none or it cannot be read (then the user is told, with
    a UserNotice warning, that the run starts over)."""
    path = folder / CHECKPOINT
    if not path.is_file():
        return None
    try:
        return torch.load(path, weights_only=True)
    except Exception as err:  # e.g. cut short by a full disk, or damaged by a copy: start over
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        warnings.warn(UserNotice(f"the checkpoint {path} is damaged ({reason}); the run starts over from "
                                 f"epoch 1"), stacklevel=2)
        return None


def restore(state: dict, model, optimizer, strategy, shuffle: torch.Generator) -> int:
    """Put the saved state back; returns the last finished epoch."""
    load_trainable_state(model, state["model"])
    optimizer.load_state_dict(state["optimizer"])
    strategy.load_state_dict(state["strategy"])
    torch.set_rng_state(state["torch_rng"])
    shuffle.set_state(state["shuffle_rng"])
    return state["epoch"]


def remove_checkpoint(folder: Path) -> None:
    (folder / CHECKPOINT).unlink(missing_ok=True)
