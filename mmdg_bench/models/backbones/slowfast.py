"""SlowFast (mmaction2 0.13 ResNet3dSlowFast + SlowFastHead), module names = the checkpoint's keys
`backbone.slow_path.*`, `backbone.fast_path.*`, `cls_head.fc_cls.*` (the backbones' README facts).

The R101 8x8 config: tau (resample_rate) 4, alpha (speed_ratio) 4, beta_inv (channel_ratio) 8, lateral
fusion kernel 7; slow path inflate (0,0,1,1) with conv1 (1,7,7), fast path inflate (1,1,1,1) with conv1
(5,7,7), both depth 101 (the 20210218 file's fast layer3 has 23 blocks: the 62.9M parameter count).
"""

from dataclasses import dataclass

import torch
from torch import nn

from mmdg_bench.models.backbones.resnet3d import EXPANSION, ConvModule, PathwayArch, Recognizer3d, ResNet3dPathway


@dataclass(frozen=True)
class SlowFastArch:
    depths: tuple[int, ...] = (3, 4, 23, 3)
    slow_channels: int = 64
    tau: int = 4  # slow path: every tau-th frame
    alpha: int = 4  # fast path frame rate / slow path frame rate; also the lateral conv's temporal stride
    beta_inv: int = 8  # fast path channels = slow / beta_inv
    fusion_kernel: int = 7
    num_classes: int = 400  # Kinetics-400 (cls_head.fc_cls)


class SlowFastPathways(nn.Module):
    """`backbone`: slow_path (with the laterals that fuse fast into slow) and fast_path."""

    def __init__(self, arch: SlowFastArch, in_channels: int):
        super().__init__()
        self.arch = arch
        fast_base = arch.slow_channels // arch.beta_inv
        # mmaction2: lateral out = 2 x fast channels; fused after the stem and after stages 1..3, never after layer4
        stage_out = [fast_base * 2 ** i * EXPANSION for i in range(len(arch.depths) - 1)]
        laterals = [2 * fast_base] + [2 * c for c in stage_out]
        self.slow_path = ResNet3dPathway(PathwayArch(arch.depths, arch.slow_channels, (1, 7, 7), (0, 0, 1, 1),
                                                     tuple(laterals)), in_channels)
        self.slow_path.conv1_lateral = self.lateral(fast_base, 2 * fast_base)
        self.slow_path.build_stages()
        for name, cin in zip(self.slow_path.stage_names, stage_out):
            self.slow_path.add_module(f"{name}_lateral", self.lateral(cin, 2 * cin))
        self.fast_path = ResNet3dPathway(PathwayArch(arch.depths, fast_base, (5, 7, 7), (1, 1, 1, 1)), in_channels)
        self.fast_path.build_stages()

    def lateral(self, cin: int, cout: int) -> ConvModule:
        """Time-strided conv (fusion_kernel, 1, 1) / (alpha, 1, 1) with no norm and no activation."""
        k = self.arch.fusion_kernel
        return ConvModule(cin, cout, (k, 1, 1), stride=(self.arch.alpha, 1, 1), padding=(k // 2, 0, 0),
                          norm=False, act=False)

    def through_stage(self, x_slow, x_fast, index: int):
        name = self.slow_path.stage_names[index]
        x_slow = getattr(self.slow_path, name)(x_slow)
        x_fast = getattr(self.fast_path, name)(x_fast)
        lateral = getattr(self.slow_path, f"{name}_lateral", None)
        if lateral is not None:
            x_slow = torch.cat([x_slow, lateral(x_fast)], dim=1)
        return x_slow, x_fast

    def trunk(self, clip: torch.Tensor):
        """conv1 .. layer3 with their laterals (the reference code's `get_feature`)."""
        # F.interpolate(nearest, scale 1/tau) in mmaction2 is exactly this slice (README facts).
        x_slow = self.slow_path.stem(clip[:, :, ::self.arch.tau])
        x_fast = self.fast_path.stem(clip[:, :, ::self.arch.tau // self.arch.alpha])
        x_slow = torch.cat([x_slow, self.slow_path.conv1_lateral(x_fast)], dim=1)
        for index in range(len(self.slow_path.stage_names) - 1):
            x_slow, x_fast = self.through_stage(x_slow, x_fast, index)
        return x_slow, x_fast

    def top(self, trunk_out):
        """layer4 of both paths, average-pooled; SlowFastHead concatenates [fast | slow] (its `x_fast, x_slow = x`
        unpacking swaps them), and the columns of fc_cls follow that order."""
        x_slow, x_fast = self.through_stage(*trunk_out, len(self.slow_path.stage_names) - 1)
        return torch.cat([x_fast.mean(dim=(2, 3, 4)), x_slow.mean(dim=(2, 3, 4))], dim=1)

    def top_modules(self) -> list[nn.Module]:
        return [self.slow_path.layer4, self.fast_path.layer4]


class SlowFastNetwork(Recognizer3d):
    def __init__(self, arch: SlowFastArch, in_channels: int = 3):
        backbone = SlowFastPathways(arch, in_channels)
        super().__init__(backbone, backbone.slow_path.out_channels + backbone.fast_path.out_channels,
                         arch.num_classes)


SLOWFAST_R101_8X8 = SlowFastArch()
SLOWFAST_TINY = SlowFastArch(depths=(1, 1, 2, 1), slow_channels=8, num_classes=4)  # fast path 1 channel wide
