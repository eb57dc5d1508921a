"""Tensor transforms from decoded media to model inputs: frames (RGB or flow) and audio features.

Deterministic transforms (resize, centre crop, normalisation, spectrograms) are what a cache may
keep; the train-time random ones (random-resized crop, flip, spectrogram noise and band mask,
SimMMDG's augmentation) take a `torch.Generator` so a run is repeatable for its seed.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio


def frames_tensor(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, C) uint8 array -> (T, C, H, W) uint8 tensor, a channels-last view without a copy:
    torch's uint8 channels-last bilinear resize is two orders of magnitude faster than float's."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2)


def resize(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resize of (T, C, H, W) frames (as mmcv's cv2 resize in SimMMDG: on uint8, no
    antialiasing); a no-op at the same size."""
    if frames.shape[-2:] == (height, width):
        return frames
    return F.interpolate(frames, size=(height, width), mode="bilinear", align_corners=False)


def resize_short_side(frames: torch.Tensor, short: int) -> torch.Tensor:
    """Resize so that the shorter side is `short`, keeping the aspect ratio (SimMMDG: 256)."""
    height, width = frames.shape[-2:]
    scale = short / min(height, width)
    return resize(frames, max(short, round(height * scale)), max(short, round(width * scale)))


def centre_crop(frames: torch.Tensor, size: int) -> torch.Tensor:
    """The central size x size window; a frame smaller than that is resized up first."""
    height, width = frames.shape[-2:]
    if min(height, width) < size:
        frames = resize_short_side(frames, size)
        height, width = frames.shape[-2:]
    top, left = (height - size) // 2, (width - size) // 2
    return frames[..., top:top + size, left:left + size]


def model_input(frames: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    """(T, C, H, W) frames on the 0..255 scale -> (C, T, H, W) float, normalised per channel."""
    channels = (len(mean), 1, 1, 1)
    clip = frames.permute(1, 0, 2, 3).contiguous().float()  # permute the 1-byte pixels, then convert
    return clip.sub_(torch.tensor(mean).view(channels)).div_(torch.tensor(std).view(channels))


def _uniform(low: float, high: float, generator: torch.Generator) -> float:
    return low + (high - low) * torch.rand((), generator=generator).item()


def randint(high: int, generator: torch.Generator) -> int:
    """Uniform integer in [0, high]."""
    return int(torch.randint(high + 1, (), generator=generator))


def crop_box(height: int, width: int, scale: list[float], ratio: list[float],
             generator: torch.Generator) -> tuple[int, int, int, int]:
    """(top, left, h, w) of an Inception-style random crop: an area share drawn from `scale` and an
    aspect ratio drawn log-uniformly from `ratio`; after 10 misses, the largest centred crop whose
    ratio is in range."""
    area = height * width
    for _ in range(10):
        target = area * _uniform(scale[0], scale[1], generator)
        aspect = math.exp(_uniform(math.log(ratio[0]), math.log(ratio[1]), generator))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return randint(height - h, generator), randint(width - w, generator), h, w
    aspect = min(max(width / height, ratio[0]), ratio[1])
    w, h = (width, round(width / aspect)) if width / height <= aspect else (round(height * aspect), height)
    return (height - h) // 2, (width - w) // 2, h, w


def random_resized_crop(frames: torch.Tensor, size: int, scale: list[float], ratio: list[float],
                        generator: torch.Generator) -> torch.Tensor:
    """One random crop box for all frames of the clip (motion stays coherent), resized to size x size."""
    top, left, h, w = crop_box(*frames.shape[-2:], scale, ratio, generator)
    return resize(frames[..., top:top + h, left:left + w], size, size)


def random_flip(frames: torch.Tensor, generator: torch.Generator, invert_channel: int | None = None) -> torch.Tensor:
    """Horizontal flip of uint8 (T, C, H, W) frames with probability 1/2. Flipping optical flow
    reverses its horizontal motion: mmaction's flow flip (used by SimMMDG) inverts the u image,
    255 - u; pass `invert_channel` = the u channel."""
    if torch.rand((), generator=generator).item() >= 0.5:
        return frames
    flipped = frames.flip(-1)
    if invert_channel is not None:
        flipped[:, invert_channel] = 255 - flipped[:, invert_channel]
    return flipped


class LogMel:
    """Waveform -> (1, n_mels, frames) log-mel spectrogram, z-normalised per sample (as SimMMDG's
    log spectrogram is); a cheaper CPU stand-in for the 257x1004 reference spectrogram."""

    def __init__(self, sample_rate: int, n_fft: int, hop_length: int, n_mels: int):
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels)

    def __call__(self, samples: np.ndarray) -> torch.Tensor:
        spec = torch.log(self.mel(torch.from_numpy(samples)) + 1e-7)
        spec = (spec - spec.mean()) / (spec.std() + 1e-8)
        return spec.unsqueeze(0)


def tukey_window(length: int, alpha: float = 0.25) -> torch.Tensor:
    """Periodic Tukey window (cosine tapers over alpha/2 of each end): the default window of the
    scipy spectrogram that SimMMDG uses."""
    x = torch.arange(length, dtype=torch.float64) / length
    rise = 0.5 * (1 + torch.cos(math.pi * (2 * x / alpha - 1)))
    fall = 0.5 * (1 + torch.cos(math.pi * (2 * x / alpha - 2 / alpha + 1)))
    flat = torch.ones_like(x)
    return torch.where(x < alpha / 2, rise, torch.where(x > 1 - alpha / 2, fall, flat))


class LogSpectrogram:
    """SimMMDG's audio input (its audio loader): a one-sided power spectral density per window (Tukey
    window, each segment's mean removed, density scaling: scipy.signal.spectrogram's defaults, in
    single precision as scipy computes for float32 samples), log(S + 1e-7), z-normalised per sample.
    Window 512 and hop 159 (overlap 353) on 10 s at 16 kHz give (1, 257, 1004)."""

    def __init__(self, sample_rate: int, window: int, hop: int):
        self.window_length, self.hop = window, hop
        window_values = tukey_window(window)
        self.window = window_values.float()
        self.density = 1.0 / (sample_rate * float((window_values ** 2).sum()))

    def __call__(self, samples: np.ndarray) -> torch.Tensor:
        signal = torch.from_numpy(samples).float()
        if signal.numel() < self.window_length:
            signal = signal.repeat(-(-self.window_length // signal.numel()))[:self.window_length]
        segments = signal.unfold(0, self.window_length, self.hop)
        segments = segments - segments.mean(dim=1, keepdim=True)
        power = torch.view_as_real(torch.fft.rfft(segments * self.window)).pow(2).sum(-1) * self.density
        power[:, 1:] *= 2  # one-sided: fold the negative frequencies in, except DC ...
        if self.window_length % 2 == 0:
            power[:, -1] /= 2  # ... and the Nyquist bin of an even window
        spec = torch.log(power.T + 1e-7)
        spec = (spec - spec.mean()) / (spec.std(correction=0) + 1e-9)
        return spec.unsqueeze(0)


def add_uniform_noise(spec: torch.Tensor, amplitude: float, generator: torch.Generator) -> torch.Tensor:
    """SimMMDG's train-time audio noise: U(-amplitude, amplitude) per bin (SimMMDG: 0.05)."""
    return spec + (torch.rand(spec.shape, generator=generator) * 2 - 1) * amplitude


def zero_frequency_band(spec: torch.Tensor, rows: int, generator: torch.Generator) -> torch.Tensor:
    """SimMMDG's train-time band mask: `rows` consecutive frequency rows set to 0 (SimMMDG: 9)."""
    bins = spec.shape[-2]
    if rows >= bins:
        return torch.zeros_like(spec)
    start = randint(bins - rows - 1, generator)
    masked = spec.clone()
    masked[..., start:start + rows, :] = 0
    return masked
