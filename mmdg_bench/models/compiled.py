"""Names of a model's tensors and modules whether or not its encoders are compiled.

`torch.compile(encoder)` wraps the encoder in a module that holds it as `_orig_mod`, so a compiled
run's state-dict keys and module names gain a `_orig_mod.` level (`encoders.video._orig_mod.conv.weight`).
`compile` only changes speed and is not part of a run's identity (its config hash), so everything
saved is written under the plain names and everything loaded is matched by them: a compiled and a
plain run share checkpoints, kept weights and `evaluate`.

    >>> plain_name("encoders.video._orig_mod.conv.weight")
    'encoders.video.conv.weight'
    >>> plain_name("encoders.video._orig_mod")
    'encoders.video'
"""

from torch import nn

WRAPPED = "_orig_mod"  # the attribute under which torch.compile's wrapper holds the original module


def plain_name(name: str) -> str:
    """`name` without the compile wrapper's `_orig_mod` levels."""
    return ".".join(part for part in name.split(".") if part != WRAPPED)


def plain_state(state: dict) -> dict:
    """A state dict under plain names (what a checkpoint or a kept weights file holds)."""
    return {plain_name(key): value for key, value in state.items()}


def own_names(model: nn.Module, state: dict) -> dict:
    """`state`, saved compiled or not, under `model`'s own names (compiled or not); keys the model does
    not have are kept as they are, for the caller's check to name them."""
    own = {plain_name(key): key for key in model.state_dict()}
    return {own.get(plain_name(key), key): value for key, value in state.items()}


def plain_modules(module: nn.Module) -> dict[str, nn.Module]:
    """`module`'s submodules by plain name, the compile wrappers left out (a wrapper has no tensors of its
    own: the module it wraps is listed under the same plain name)."""
    return {plain_name(name): sub for name, sub in module.named_modules() if not hasattr(sub, WRAPPED)}
