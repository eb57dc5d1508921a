"""VGGSound's audio ResNet-18 (AVENet.audnet, model "H"), module names = the checkpoint's keys
`audnet.conv1`, `audnet.bn1`, `audnet.layer{1..4}.{0,1}.{conv,bn}{1,2}`, `audnet.layer{2,3,4}.0.downsample.{0,1}`,
`audnet.fc` (the backbones' README facts: torchvision-style BasicBlock ResNet, 1-channel stem, 309 classes).

A 1x257x1004 spectrogram gives layer3 [256,17,63], layer4 [512,9,32], pooled 512.
"""

from dataclasses import dataclass

from torch import nn

from mmdg_bench.models.backbones.resnet3d import init_conv_bn


class BasicBlock(nn.Module):
    def __init__(self, cin: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        shortcut = self.downsample(x) if hasattr(self, "downsample") else x
        x = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(x)) + shortcut)


@dataclass(frozen=True)
class AudioResNetArch:
    depths: tuple[int, ...] = (2, 2, 2, 2)
    base_channels: int = 64
    num_classes: int = 309  # VGGSound classes: audnet.fc, kept only so the file loads strictly


class AudioResNet(nn.Module):
    def __init__(self, arch: AudioResNetArch, in_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, arch.base_channels, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(arch.base_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin = arch.base_channels
        for i, blocks in enumerate(arch.depths):
            planes = arch.base_channels * 2 ** i
            stride = 1 if i == 0 else 2
            layers = [BasicBlock(cin, planes, stride)] + [BasicBlock(planes, planes, 1) for _ in range(blocks - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*layers))
            cin = planes
        self.out_channels = cin
        self.fc = nn.Linear(cin, arch.num_classes)


class AVENetwork(nn.Module):
    """AVENet with only its audio half; the benchmark uses the pooled layer4 output (512)."""

    trunk_batch_stats = False  # reference: AVENet is kept in eval() under no_grad

    def __init__(self, arch: AudioResNetArch, in_channels: int = 1):
        super().__init__()
        self.audnet = AudioResNet(arch, in_channels)
        self.out_dim = self.audnet.out_channels
        init_conv_bn(self)

    def trunk(self, spectrogram):
        net = self.audnet
        x = net.maxpool(net.relu(net.bn1(net.conv1(spectrogram))))
        return net.layer3(net.layer2(net.layer1(x)))

    def top(self, trunk_out):
        return self.audnet.layer4(trunk_out).mean(dim=(2, 3))

    def top_modules(self) -> list[nn.Module]:
        return [self.audnet.layer4]

    def classifier(self) -> nn.Module:
        return self.audnet.fc


VGGSOUND_R18 = AudioResNetArch()
AUDIO_RESNET_TINY = AudioResNetArch(depths=(1, 1, 1, 1), base_channels=8, num_classes=4)
