"""Encoder registry: tiny CNNs sized for 2 CPU cores (the default and the tests).

Each encoder maps one modality's tensor to a feature vector of `feature_dim`. Real backbones
(SlowFast, ResNet-18 on spectrograms) register here under their own names.
"""

from torch import nn

from mmdg_bench.registry import Registry

ENCODERS: Registry[type[nn.Module]] = Registry("encoder")


def _conv_block(conv: type[nn.Module], norm: type[nn.Module], cin: int, cout: int, stride) -> nn.Sequential:
    return nn.Sequential(conv(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False),
                         norm(cout), nn.ReLU(inplace=True))


@ENCODERS.register("tiny3d")
class Tiny3DCNN(nn.Module):
    """Three 3D conv blocks over (B, C, T, H, W) clips, global average pool, linear projection."""

    def __init__(self, in_channels: int = 3, feature_dim: int = 64, width: int = 16):
        super().__init__()
        self.body = nn.Sequential(
            _conv_block(nn.Conv3d, nn.BatchNorm3d, in_channels, width, (1, 2, 2)),
            _conv_block(nn.Conv3d, nn.BatchNorm3d, width, 2 * width, 2),
            _conv_block(nn.Conv3d, nn.BatchNorm3d, 2 * width, 4 * width, 2),
            nn.AdaptiveAvgPool3d(1),
            nn.Flatten(),
        )
        self.proj = nn.Linear(4 * width, feature_dim)

    def forward(self, clip):
        return self.proj(self.body(clip))


@ENCODERS.register("tiny2d")
class Tiny2DCNN(nn.Module):
    """Three 2D conv blocks over (B, C, freq, time) log-mel spectrograms, pool, linear projection."""

    def __init__(self, in_channels: int = 1, feature_dim: int = 64, width: int = 16):
        super().__init__()
        self.body = nn.Sequential(
            _conv_block(nn.Conv2d, nn.BatchNorm2d, in_channels, width, 2),
            _conv_block(nn.Conv2d, nn.BatchNorm2d, width, 2 * width, 2),
            _conv_block(nn.Conv2d, nn.BatchNorm2d, 2 * width, 4 * width, 2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.proj = nn.Linear(4 * width, feature_dim)

    def forward(self, spectrogram):
        return self.proj(self.body(spectrogram))
