"""Test-time conditions: clean, a modality missing, or one corruption at a severity 1..5.

Corruptions act on the model-input tensors (clips after normalisation: video and flow (B, C, T, H, W),
audio the (B, 1, freq, time) spectrogram), drawn from a generator seeded by the run's seed and the
condition, so an evaluation repeats exactly. Severity -> parameter:

| name           | modalities  | parameter at severity 1, 2, 3, 4, 5                          |
|----------------|-------------|--------------------------------------------------------------|
| gaussian_noise | video, flow | noise std 0.1, 0.2, 0.4, 0.7, 1.0 (normalised units)          |
| blur           | video, flow | Gaussian blur of each frame, sigma 0.5, 1, 1.5, 2, 3 pixels   |
| frame_drop     | video, flow | share of frames zeroed (the mean frame) 0.1, 0.2, 0.3, 0.5, 0.7 |
| audio_noise    | audio       | Gaussian noise on the spectrogram at SNR 20, 10, 5, 0, -5 dB  |

A missing modality (`missing:audio`) is handled as `missing_as` says: `features` (the default) sets
the modality's encoder output to zeros, so every head sees an absent modality the same way whatever
the encoder; `input` feeds zeros to the encoder instead.
"""

import math
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdg_bench.errors import UserError, did_you_mean

CLEAN = "clean"
MISSING = "missing"
MISSING_AS = ("features", "input")
SEVERITIES = range(1, 6)
FRAMES = ("video", "flow")


def gaussian_noise(x: Tensor, std: float, generator: torch.Generator) -> Tensor:
    return x + std * torch.randn(x.shape, generator=generator, dtype=x.dtype)


def blur(x: Tensor, sigma: float, generator: torch.Generator) -> Tensor:
    """A separable Gaussian blur of every frame (edges replicated)."""
    radius = math.ceil(3 * sigma)
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-taps**2 / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    frames = x.reshape(-1, 1, *x.shape[-2:])
    frames = F.conv2d(F.pad(frames, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    frames = F.conv2d(F.pad(frames, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    return frames.reshape(x.shape)


def frame_drop(x: Tensor, share: float, generator: torch.Generator) -> Tensor:
    """round(share x T) frames of each clip, chosen at random, set to zero (the dataset's mean frame)."""
    clips, frames = x.shape[0], x.shape[2]
    dropped = torch.rand(clips, frames, generator=generator).argsort(dim=1)[:, :round(share * frames)]
    keep = torch.ones(clips, frames, dtype=x.dtype).scatter_(1, dropped, 0.0)
    return x * keep[:, None, :, None, None]


def audio_noise(x: Tensor, snr_db: float, generator: torch.Generator) -> Tensor:
    """Gaussian noise whose power is each clip's spectrogram power / 10^(SNR/10)."""
    power = x.pow(2).flatten(1).mean(dim=1).clamp_min(1e-12)
    std = (power / 10 ** (snr_db / 10)).sqrt().view(-1, *[1] * (x.dim() - 1))
    return x + std * torch.randn(x.shape, generator=generator, dtype=x.dtype)


@dataclass(frozen=True)
class Corruption:
    modalities: tuple[str, ...]
    levels: tuple[float, ...]  # the parameter at severity 1..5
    apply: Callable[[Tensor, float, torch.Generator], Tensor]


CORRUPTIONS = {
    "gaussian_noise": Corruption(FRAMES, (0.1, 0.2, 0.4, 0.7, 1.0), gaussian_noise),
    "blur": Corruption(FRAMES, (0.5, 1.0, 1.5, 2.0, 3.0), blur),
    "frame_drop": Corruption(FRAMES, (0.1, 0.2, 0.3, 0.5, 0.7), frame_drop),
    "audio_noise": Corruption(("audio",), (20.0, 10.0, 5.0, 0.0, -5.0), audio_noise),
}


@dataclass(frozen=True)
class Condition:
    """clean, a missing modality, or a corruption at a severity; `name` keys robustness.json."""

    missing: str | None = None
    corruption: str | None = None
    severity: int = 0

    @property
    def name(self) -> str:
        if self.missing:
            return f"{MISSING}:{self.missing}"
        return f"{self.corruption}:{self.severity}" if self.corruption else CLEAN

    def check(self, modalities: list[str]) -> None:
        """A condition that cannot touch the run's modalities is a UserError."""
        touched = [self.missing] if self.missing else CORRUPTIONS[self.corruption].modalities if self.corruption else []
        if touched and not set(touched) & set(modalities):
            raise UserError(f"{self.name} acts on {', '.join(touched)}, which the run does not have "
                            f"(its modalities: {', '.join(modalities)})")

    def corrupt(self, batch: dict, generator: torch.Generator) -> dict:
        """The batch with this condition's corruption applied (a missing modality is the model's business)."""
        if not self.corruption:
            return batch
        spec = CORRUPTIONS[self.corruption]
        level = spec.levels[self.severity - 1]
        return {key: spec.apply(value, level, generator) if key in spec.modalities else value
                for key, value in batch.items()}

    @contextmanager
    def on_model(self, model, missing_as: str = "features"):
        """While active, the missing modality's encoder outputs zeros (`features`) or reads zeros (`input`)."""
        encoder = model.encoders[self.missing] if self.missing else None
        if encoder is None:
            hook = None
        elif missing_as == "features":
            hook = encoder.register_forward_hook(lambda _module, _inputs, out: torch.zeros_like(out))
        else:
            hook = encoder.register_forward_pre_hook(lambda _module, inputs: (torch.zeros_like(inputs[0]), *inputs[1:]))
        try:
            yield
        finally:
            if hook is not None:
                hook.remove()


def parse_corruption(text: str) -> Condition:
    name, sep, severity = text.partition(":")
    if name not in CORRUPTIONS:
        raise UserError(f"unknown corruption '{name}'{did_you_mean(name, CORRUPTIONS)}")
    if not sep or not severity.strip().isdigit() or int(severity) not in SEVERITIES:
        raise UserError(f"--corrupt takes NAME:SEVERITY with a severity from 1 to 5, e.g. {name}:3, got '{text}'")
    return Condition(corruption=name, severity=int(severity))


def parse_conditions(missing: list[str] = (), corrupt: list[str] = ()) -> list[Condition]:
    """clean first, then each missing modality, then each corruption (each once)."""
    conditions = [Condition(), *(Condition(missing=m) for m in missing), *map(parse_corruption, corrupt)]
    return list(dict.fromkeys(conditions))
