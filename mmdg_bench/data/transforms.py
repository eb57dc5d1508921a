"""Tensor transforms from decoded media to model inputs (torchaudio for the audio features)."""

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio


def video_to_tensor(frames: np.ndarray, size: int, mean: list[float], std: list[float]) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (3, T, size, size) float, normalised per channel (SPEC §2 mean/std)."""
    clip = torch.from_numpy(frames).float().permute(3, 0, 1, 2)
    if clip.shape[-2:] != (size, size):
        clip = F.interpolate(clip, size=(size, size), mode="bilinear", align_corners=False)
    mean_t = torch.tensor(mean).view(3, 1, 1, 1)
    std_t = torch.tensor(std).view(3, 1, 1, 1)
    return (clip - mean_t) / std_t


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
