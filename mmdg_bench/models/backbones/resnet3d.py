"""mmaction2 0.13's ResNet3d pathway, written from the backbones' README facts so that its module
names are the checkpoint's: `conv1.conv`, `conv1.bn`, `layer{1..4}.{i}.conv{1,2,3}.{conv,bn}`,
`layer{i}.0.downsample.{conv,bn}` (mmcv ConvModule: conv without bias, then BatchNorm `bn`, eps 1e-5,
momentum 0.1, then ReLU). Bottleneck style 'pytorch' (the spatial stride sits in conv2); an inflated
block uses mmaction2's '3x1x1' style: conv1 (3,1,1) with temporal padding 1, conv2 (1,3,3).
"""

from dataclasses import dataclass

import torch
from torch import nn

EXPANSION = 4  # Bottleneck: conv3 widens to 4x planes


class ConvModule(nn.Module):
    """mmcv ConvModule: conv (no bias) -> bn -> ReLU; `norm=False` keeps the bare conv (SlowFast laterals)."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0, norm: bool = True, act: bool = True):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        if norm:
            self.bn = nn.BatchNorm3d(cout, eps=1e-5, momentum=0.1)
        self.act = nn.ReLU(inplace=True) if act else None

    def forward(self, x):
        x = self.conv(x)
        if hasattr(self, "bn"):
            x = self.bn(x)
        return self.act(x) if self.act is not None else x


class Bottleneck3d(nn.Module):
    """conv1 -> conv2 (spatial stride) -> conv3 (no ReLU) + shortcut, then ReLU after the add."""

    def __init__(self, cin: int, planes: int, spatial_stride: int, inflate: bool):
        super().__init__()
        t_kernel = 3 if inflate else 1
        self.conv1 = ConvModule(cin, planes, (t_kernel, 1, 1), padding=(t_kernel // 2, 0, 0))
        self.conv2 = ConvModule(planes, planes, (1, 3, 3), stride=(1, spatial_stride, spatial_stride),
                                padding=(0, 1, 1))
        self.conv3 = ConvModule(planes, planes * EXPANSION, 1, act=False)
        if spatial_stride != 1 or cin != planes * EXPANSION:
            self.downsample = ConvModule(cin, planes * EXPANSION, 1, stride=(1, spatial_stride, spatial_stride),
                                         act=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        shortcut = self.downsample(x) if hasattr(self, "downsample") else x
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + shortcut)


@dataclass(frozen=True)
class PathwayArch:
    """One ResNet3d pathway as mmaction2's config names it."""

    depths: tuple[int, ...]  # blocks per stage: R50 (3,4,6,3), R101 (3,4,23,3)
    base_channels: int = 64
    conv1_kernel: tuple[int, int, int] = (1, 7, 7)
    inflate: tuple[int, ...] = (0, 0, 1, 1)  # per stage: 1 = every block '3x1x1', 0 = 1x1x1
    lateral_channels: tuple[int, ...] = ()  # SlowFast slow path: channels the fast path adds before each stage


class ResNet3dPathway(nn.Module):
    """Stem (conv1 stride (1,2,2) + max-pool (1,3,3)/(1,2,2)) and four Bottleneck stages, stage strides 1,2,2,2.

    `lateral_channels` widens each stage's input by what a SlowFast lateral concatenates onto it."""

    def __init__(self, arch: PathwayArch, in_channels: int):
        super().__init__()
        k_t = arch.conv1_kernel[0]
        self.conv1 = ConvModule(in_channels, arch.base_channels, arch.conv1_kernel, stride=(1, 2, 2),
                                padding=(k_t // 2, 3, 3))
        self.maxpool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.stage_names = [f"layer{i + 1}" for i in range(len(arch.depths))]
        self._arch = arch

    def build_stages(self) -> None:
        """Called by the owner after it registered its own stem-level modules, so that the state
        dict lists keys in the checkpoint's order (conv1, conv1_lateral, layer1..4, laterals)."""
        arch = self._arch
        cin = arch.base_channels
        for i, (blocks, name) in enumerate(zip(arch.depths, self.stage_names)):
            planes = arch.base_channels * 2 ** i
            cin += arch.lateral_channels[i] if i < len(arch.lateral_channels) else 0
            stride = 1 if i == 0 else 2
            layers = [Bottleneck3d(cin, planes, stride, bool(arch.inflate[i]))]
            layers += [Bottleneck3d(planes * EXPANSION, planes, 1, bool(arch.inflate[i])) for _ in range(blocks - 1)]
            self.add_module(name, nn.Sequential(*layers))
            cin = planes * EXPANSION
        self.out_channels = cin

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.conv1(x))


class ClsHead(nn.Module):
    """mmaction2's head, only its `fc_cls`: the benchmark's own heads classify."""

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.fc_cls = nn.Linear(in_features, num_classes)


class Recognizer3d(nn.Module):
    """mmaction2's Recognizer3D: `backbone` + `cls_head`. The backbone splits its forward into `trunk`
    (stem .. layer3) and `top` (layer4, pooled), the seam of the reference training regime."""

    trunk_batch_stats = True  # reference: frozen stages run BN in train mode (model.train(True), no_grad)

    def __init__(self, backbone: nn.Module, out_dim: int, num_classes: int):
        super().__init__()
        self.backbone = backbone
        self.out_dim = out_dim
        self.cls_head = ClsHead(out_dim, num_classes)  # Kinetics-400, kept only so the file loads strictly
        init_conv_bn(self)

    def trunk(self, clip):
        return self.backbone.trunk(clip)

    def top(self, trunk_out):
        return self.backbone.top(trunk_out)

    def top_modules(self) -> list[nn.Module]:
        return self.backbone.top_modules()

    def classifier(self) -> nn.Module:
        return self.cls_head


def init_conv_bn(module: nn.Module) -> None:
    """He init (fan_out) for convs, BN weight 1 / bias 0; only matters without a checkpoint. A network
    built on the `meta` device has no values to draw (its structure is what is wanted), so it is left
    as it is: torch draws meta tensors through its slow reference implementation."""
    for m in module.modules():
        if any(p.is_meta for p in m.parameters(recurse=False)):
            continue
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_parameters()
