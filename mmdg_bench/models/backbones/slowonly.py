"""SlowOnly R50 for optical flow (mmaction2 0.13 ResNet3dSlowOnly + I3DHead), module names = the
checkpoint's keys `backbone.*` (no slow_path prefix) and `cls_head.fc_cls.*` (the backbones' README facts).

Config: depth 50, conv1 (1,7,7), inflate (0,0,1,1), in_channels 2 (u, v), no pool2; input 8 flow frames.
"""

from dataclasses import dataclass

from torch import nn

from mmdg_bench.models.backbones.resnet3d import PathwayArch, Recognizer3d, ResNet3dPathway


@dataclass(frozen=True)
class SlowOnlyArch:
    depths: tuple[int, ...] = (3, 4, 6, 3)
    base_channels: int = 64
    num_classes: int = 400


class SlowOnlyPathway(ResNet3dPathway):
    def trunk(self, clip):
        x = self.stem(clip)
        for name in self.stage_names[:-1]:
            x = getattr(self, name)(x)
        return x

    def top(self, trunk_out):
        return getattr(self, self.stage_names[-1])(trunk_out).mean(dim=(2, 3, 4))

    def top_modules(self) -> list[nn.Module]:
        return [getattr(self, self.stage_names[-1])]


class SlowOnlyNetwork(Recognizer3d):
    def __init__(self, arch: SlowOnlyArch, in_channels: int = 2):
        backbone = SlowOnlyPathway(PathwayArch(arch.depths, arch.base_channels), in_channels)
        backbone.build_stages()
        super().__init__(backbone, backbone.out_channels, arch.num_classes)


SLOWONLY_R50 = SlowOnlyArch()
SLOWONLY_TINY = SlowOnlyArch(depths=(1, 1, 2, 1), base_channels=8, num_classes=4)
