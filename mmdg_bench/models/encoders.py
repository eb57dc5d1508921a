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


class TinyCNN(nn.Module):
    """Three conv blocks (width, 2x, 4x channels), global average pool, linear projection."""

    LAYERS = {3: (nn.Conv3d, nn.BatchNorm3d, nn.AdaptiveAvgPool3d), 2: (nn.Conv2d, nn.BatchNorm2d, nn.AdaptiveAvgPool2d)}

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

    def forward(self, x):
        return self.proj(self.body(x))


@ENCODERS.register("tiny3d")
class Tiny3DCNN(TinyCNN):
    """(B, C, T, H, W) clips; the first block keeps every frame (stride 1 in time)."""

    def __init__(self, in_channels: int = 3, feature_dim: int = 64, width: int = 16):
        super().__init__(3, (1, 2, 2), in_channels, feature_dim, width)


@ENCODERS.register("tiny2d")
class Tiny2DCNN(TinyCNN):
    """(B, C, freq, time) spectrograms."""

    def __init__(self, in_channels: int = 1, feature_dim: int = 64, width: int = 16):
        super().__init__(2, 2, in_channels, feature_dim, width)
