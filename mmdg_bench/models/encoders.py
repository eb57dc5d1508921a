"""Encoders: one per modality, configured in the preset by name or by a mapping of settings.

    model:
      encoders:
        audio: tiny2d                                   # a name: the encoder's default settings
        video: {name: slowfast_r101_8x8, weights: slowfast_r101_8x8x1_256e_kinetics400_rgb_20210218-0dd54025.pth,
                regime: reference}

Each registered encoder declares its settings as a dataclass `Settings`; an unknown key is refused
with a did-you-mean. Every built encoder maps one modality's tensor to (B, out_dim) and exposes the
int `out_dim`. The tiny CNNs here are sized for 2 CPU cores (the default and the tests); the paper's
backbones and torchvision's video models are in `mmdg_bench/models/backbones/`.
"""

from dataclasses import dataclass
from typing import Any

from torch import nn

import mmdg_bench.models.backbones  # noqa: F401  (registers the paper's backbones and torchvision's)
from mmdg_bench.errors import UserError, did_you_mean
from mmdg_bench.models.encoder_registry import ENCODERS
from mmdg_bench.settings import from_dict


def _conv_block(conv: type[nn.Module], norm: type[nn.Module], cin: int, cout: int, stride) -> nn.Sequential:
    return nn.Sequential(conv(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False),
                         norm(cout), nn.ReLU(inplace=True))


@dataclass
class TinySettings:
    width: int = 16  # channels of the first block (then 2x, 4x)

    def check(self, path: str) -> None:
        if self.width <= 0:
            raise UserError(f"'{path}.width' must be positive, got {self.width}")


class TinyCNN(nn.Module):
    """Three conv blocks (width, 2x, 4x channels), global average pool, linear projection."""

    LAYERS = {3: (nn.Conv3d, nn.BatchNorm3d, nn.AdaptiveAvgPool3d),
              2: (nn.Conv2d, nn.BatchNorm2d, nn.AdaptiveAvgPool2d)}
    Settings = TinySettings

    def __init__(self, dims: int, first_stride, in_channels: int, feature_dim: int, width: int):
        super().__init__()
        conv, norm, pool = self.LAYERS[dims]
        self.body = nn.Sequential(
            _conv_block(conv, norm, in_channels, width, first_stride),
            _conv_block(conv, norm, width, 2 * width, 2),
            _conv_block(conv, norm, 2 * width, 4 * width, 2),
            pool(1),
            nn.Flatten(),
        )
        self.proj = nn.Linear(4 * width, feature_dim)
        self.out_dim = feature_dim

    def forward(self, x):
        return self.proj(self.body(x))

    @classmethod
    def build(cls, settings: TinySettings, *, in_channels: int, feature_dim: int, **_context) -> "TinyCNN":
        return cls(in_channels, feature_dim, settings.width)


@ENCODERS.register("tiny3d")
class Tiny3DCNN(TinyCNN):
    """(B, C, T, H, W) clips; the first block keeps every frame (stride 1 in time)."""

    description = "small 3D CNN for clips (CPU default)"

    def __init__(self, in_channels: int = 3, feature_dim: int = 64, width: int = 16):
        super().__init__(3, (1, 2, 2), in_channels, feature_dim, width)


@ENCODERS.register("tiny2d")
class Tiny2DCNN(TinyCNN):
    """(B, C, freq, time) spectrograms."""

    description = "small 2D CNN for spectrograms (CPU default)"

    def __init__(self, in_channels: int = 1, feature_dim: int = 64, width: int = 16):
        super().__init__(2, 2, in_channels, feature_dim, width)


def encoder_spec(spec: Any, path: str) -> tuple[str, Any, Any]:
    """A preset's `model.encoders.<modality>` value -> (name, registry entry, checked settings)."""
    if isinstance(spec, str):
        name, values = spec, {}
    elif isinstance(spec, dict):
        values = dict(spec)
        name = values.pop("name", None)
        if not isinstance(name, str):
            raise UserError(f"'{path}' needs a 'name' (one of: {', '.join(ENCODERS.names())})")
    else:
        raise UserError(f"'{path}' must be an encoder name or a mapping with a 'name', got {spec!r}")
    if name not in ENCODERS:
        raise UserError(f"unknown encoder '{name}' in '{path}'{did_you_mean(name, ENCODERS.names())}")
    entry = ENCODERS.get(name)
    settings = from_dict(entry.Settings, values, path)
    settings.check(path)
    return name, entry, settings


def check_encoder_specs(model_config) -> None:
    """Called by `config.validate`: every encoder's name and settings, before anything is built."""
    for modality, spec in model_config.encoders.items():
        encoder_spec(spec, f"model.encoders.{modality}")


def build_encoder(spec: Any, modality: str, in_channels: int, feature_dim: int,
                  weights_dir: str | None = None) -> nn.Module:
    """The encoder of one modality; its `out_dim` sizes the heads (tiny: `feature_dim`; a backbone: its
    pooled width, or the adapter's under `regime: frozen`). Frozen parameters have requires_grad False."""
    name, entry, settings = encoder_spec(spec, f"model.encoders.{modality}")
    return entry.build(settings, name=name, modality=modality, in_channels=in_channels,
                       feature_dim=feature_dim, weights_dir=weights_dir)
