"""Per-epoch checkpoints, so an interrupted run (Ctrl-C, a killed job) resumes where it stopped.

The checkpoint holds everything the next epoch depends on: the model's trainable parameters and all
its buffers (a frozen pretrained trunk is rebuilt from its weight file, so it is not copied into
every run folder; its BatchNorm statistics are buffers and are kept), optimizer state, the
strategy's own state (its random generators, Gradient-Blending's weights), torch's global random
state and the training loader's shuffling generator. A resumed run therefore writes the same
metrics as one that was never interrupted (tested). It is written atomically after each epoch and
deleted once the run is done. Loaded with `weights_only=True`: a checkpoint cannot run code.

Devices: CUDA's random state (every GPU's) is saved when CUDA is in use. A checkpoint is loaded onto
the run's device (`map_location`), so a run started on a GPU resumes on the CPU and the other way
round; what crosses devices and what restarts is in docs/run-folders.md#resuming. A compiled run's
tensors are saved under their plain names (mmdg_bench/models/compiled.py), so `compile` can change
between an interruption and its resume.
"""

import warnings
from pathlib import Path

import torch

from mmdg_bench.errors import UserError, UserNotice
from mmdg_bench.files import WEIGHTS, write_atomically
from mmdg_bench.models.compiled import own_names, plain_state
from mmdg_bench.seeding import set_generator_state

CHECKPOINT = "checkpoint.pt"


def trainable_state(model) -> dict[str, torch.Tensor]:
    """The model's state without its frozen parameters (requires_grad False), which the model's
    construction restores from their weight files; under plain names, compiled encoders or not."""
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    return plain_state({k: v for k, v in model.state_dict().items() if k not in frozen})


def load_trainable_state(model, state: dict) -> None:
    """Load a trainable state saved by a compiled or a plain model into `model`, compiled or not."""
    missing, unexpected = model.load_state_dict(own_names(model, state), strict=False)
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
    if torch.cuda.is_initialized():  # dropout on a GPU draws from CUDA's generators, one per GPU
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    write_atomically(folder / CHECKPOINT, lambda tmp: torch.save(state, tmp))


def first_line(err: Exception) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def load_checkpoint(folder: Path, device: str = "cpu") -> dict | None:
    """The saved state with its tensors on `device` (the run's), or None when there is none or it is
    damaged (then the user is told, with a UserNotice warning, that the run starts over). A checkpoint
    that reads on the CPU but not onto `device` is not damaged: that is one sentence, and the checkpoint
    is left as it is for a device that can take it."""
    path = folder / CHECKPOINT
    if not path.is_file():
        return None
    try:
        return torch.load(path, weights_only=True, map_location=device)
    except Exception as err:
        reason = first_line(err)
    try:  # every device can read a sound checkpoint onto the CPU: a failure there is the file's
        torch.load(path, weights_only=True, map_location="cpu")
    except Exception:  # e.g. cut short by a full disk, or damaged by a copy: start over
        warnings.warn(UserNotice(f"the checkpoint {path} is damaged ({reason}); the run starts over from "
                                 f"epoch 1"), stacklevel=2)
        return None
    raise UserError(f"the checkpoint {path} cannot be loaded onto the device {device} ({reason[:200]}): resume "
                    f"the run with a device that can hold it (--set device=...), or delete the checkpoint to "
                    f"start the run over")


def restore_cuda_rng(states: list | None, device: str) -> None:
    """Put every GPU's saved random state back when the run is on CUDA and sees as many GPUs as saved them;
    otherwise CUDA's draws (dropout) go on from the run's seed, and the user is told."""
    if not device.startswith("cuda"):
        return  # a CPU run draws nothing from CUDA's generators
    count = torch.cuda.device_count()
    if states is not None and len(states) == count:
        torch.cuda.set_rng_state_all([s.to("cpu") for s in states])  # set_rng_state takes CPU byte tensors
        return
    saved = "no GPU's random state" if states is None else f"the random state of {len(states)} GPU(s)"
    warnings.warn(UserNotice(f"the checkpoint holds {saved} and this run sees {count} GPU(s): CUDA's random draws "
                             f"(dropout) start again from the run's seed, so the resumed epochs are not draw for "
                             f"draw those of an uninterrupted run"), stacklevel=2)


def restore(state: dict, model, optimizer, strategy, shuffle: torch.Generator, device: str = "cpu") -> int:
    """Put the saved state (loaded onto the run's `device`) back; returns the last finished epoch."""
    load_trainable_state(model, state["model"])
    optimizer.load_state_dict(state["optimizer"])
    strategy.load_state_dict(state["strategy"])
    torch.set_rng_state(state["torch_rng"].to("cpu"))  # the global state is a CPU byte tensor on any device
    set_generator_state(shuffle, state["shuffle_rng"])
    restore_cuda_rng(state.get("cuda_rng"), device)
    return state["epoch"]


def remove_checkpoint(folder: Path) -> None:
    (folder / CHECKPOINT).unlink(missing_ok=True)
