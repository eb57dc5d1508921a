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
