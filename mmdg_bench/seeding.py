"""Seeds derived from the trial seed, one stream per random consumer (DomainBed's `seed_hash`).

Each consumer (a clip's augmentation in one epoch, OGM-GE's noise, PCGrad's task order,
Gradient-Blending's held-out slice, ...) draws from its own generator, seeded by hashing the trial
seed with the consumer's name. Adding a consumer, or drawing more numbers in one, never shifts the
numbers another one draws, and a stream seeded by (seed, "augment", epoch, clip) needs no state to
be saved for a resumed run to repeat an uninterrupted one.

    generator = stream(seed, "ogm-ge/noise", device=model_device)
"""

import hashlib

import torch


def derive_seed(seed: int, *names) -> int:
    """A 63-bit seed from the trial seed and the consumer's names (strings or numbers)."""
    text = "/".join(str(part) for part in (seed, *names))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def stream(seed: int, *names, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch Generator on `device` seeded with `derive_seed(seed, *names)`."""
    return torch.Generator(device=device).manual_seed(derive_seed(seed, *names))


def set_generator_state(generator: torch.Generator, state: torch.Tensor) -> None:
    """Put a saved `generator.get_state()` back, whatever device the state was saved or loaded on.

    A state is a CPU byte tensor (`set_state` takes no other, even for a CUDA generator), and its size
    is the generator kind's: a CPU generator's (Mersenne Twister) and a CUDA one's (Philox seed and
    offset) cannot stand for each other. A state saved by the other kind (a run resumed on another
    device) reseeds the generator from a hash of that state instead: the draws go on, reproducibly from
    the checkpoint, but are not those an uninterrupted run would make (no run on another device could be)."""
    state = state.detach().to("cpu", torch.uint8)
    if state.numel() == generator.get_state().numel():
        generator.set_state(state)
    else:
        digest = hashlib.sha256(state.numpy().tobytes()).digest()
        generator.manual_seed(int.from_bytes(digest[:8], "big") >> 1)
