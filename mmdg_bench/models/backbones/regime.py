"""A pre-trained network as an encoder, trained under one of three regimes (setting `regime`):

- `reference`: what SimMMDG / MMDG-Bench's code does (the backbones' README facts). The trunk (stem ..
  layer3, with SlowFast's laterals) runs under no_grad and is never optimised; layer4 is trained. Video
  and flow trunks keep BatchNorm in TRAIN mode (the code calls model.train(True) with frozen_stages=-1),
  so batch statistics are used and running stats keep updating; the audio trunk (AVENet) is in eval mode.
- `finetune`: every layer trained.
- `frozen`: the whole network fixed in eval mode, plus a trainable linear adapter on the pooled vector,
  so every strategy still has encoder gradients to shape; the feature is the adapter's output.

`layer4_init: random` reproduces an accident of the reference code: its trainable audio layer4 is loaded
with strict=False from keys `audnet.layer4.*` into a module named `layer4.*`, so nothing loads and it
trains from He init. The default `pretrained` keeps the file's layer4, as the paper's text implies.
The network's own classifier (Kinetics-400 / VGGSound) is kept only so the file loads strictly; it is
never run and never trained.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from mmdg_bench.errors import UserError, check_choice
from mmdg_bench.models.backbones.resnet3d import init_conv_bn
from mmdg_bench.models.weights import load_encoder_weights

REGIMES = ("reference", "finetune", "frozen")
LAYER4_INITS = ("pretrained", "random")


@dataclass
class BackboneSettings:
    weights: str | None = None  # file in the weights folder (or a path); null: random init, for tests only
    regime: str = "reference"  # reference | finetune | frozen (module docstring)
    adapter_dim: int | None = None  # frozen: width of the trainable adapter; null: model.feature_dim
    dropout: float = 0.5  # on the pooled vector: SlowFastHead / I3DHead dropout_ratio 0.5
    layer4_init: str = "pretrained"  # "random": the reference code's audio accident (module docstring)
    strict: bool = True  # a missing, unexpected or wrong-shaped tensor in the file is an error

    def check(self, path: str) -> None:
        check_choice(self.regime, REGIMES, f"'{path}.regime'")
        check_choice(self.layer4_init, LAYER4_INITS, f"'{path}.layer4_init'")
        if not 0 <= self.dropout < 1:
            raise UserError(f"'{path}.dropout' must be in [0, 1), got {self.dropout}")
        if self.adapter_dim is not None and self.adapter_dim <= 0:
            raise UserError(f"'{path}.adapter_dim' must be positive, got {self.adapter_dim}")
        if self.layer4_init == "random" and self.regime == "frozen":
            raise UserError(f"'{path}.layer4_init: random' with 'regime: frozen' would keep a random layer4 "
                            f"fixed: use regime reference or finetune")


@dataclass
class AudioBackboneSettings(BackboneSettings):
    dropout: float = 0.0  # the reference feeds the pooled audio vector to its heads as it is


class BackboneEncoder(nn.Module):
    """(B, C, ...) -> (B, out_dim); `network` keeps the official module names (its state dict = the file's)."""

    def __init__(self, network: nn.Module, settings: BackboneSettings, feature_dim: int):
        super().__init__()
        self.network = network
        self.regime = settings.regime
        self.dropout = nn.Dropout(settings.dropout)
        self.out_dim = network.out_dim
        if self.regime == "frozen":
            self.adapter = nn.Linear(network.out_dim, settings.adapter_dim or feature_dim)
            self.out_dim = self.adapter.out_features
        self.load_summary = ""
        self.set_trainable()

    def set_trainable(self) -> None:
        top = {id(p) for m in self.network.top_modules() for p in m.parameters()}
        for p in self.network.parameters():
            p.requires_grad = self.regime == "finetune" or (self.regime == "reference" and id(p) in top)
        for p in self.network.classifier().parameters():
            p.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        if self.regime == "frozen" or (self.regime == "reference" and not self.network.trunk_batch_stats):
            self.network.eval()
            if self.regime == "reference":
                for module in self.network.top_modules():
                    module.train(mode)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grad = torch.is_grad_enabled()
        with torch.set_grad_enabled(grad and self.regime == "finetune"):
            trunk_out = self.network.trunk(x)
        with torch.set_grad_enabled(grad and self.regime != "frozen"):
            pooled = self.dropout(self.network.top(trunk_out))
        return self.adapter(pooled) if self.regime == "frozen" else pooled


@dataclass(frozen=True)
class BackboneEntry:
    """A registered backbone: how to build its network and which settings it takes."""

    network: Callable[[int], nn.Module]  # in_channels -> network with the official module names
    description: str
    Settings: type = BackboneSettings
    in_channels: int = 3  # the official stem: RGB 3, flow 2, spectrogram 1

    def build(self, settings: BackboneSettings, *, name: str, modality: str, in_channels: int,
              feature_dim: int, weights_dir: str | None = None) -> BackboneEncoder:
        network = self.network(in_channels)
        summary = ""
        if settings.weights:
            summary = load_encoder_weights(network, settings.weights, weights_dir, modality, name, settings.strict)
        if settings.layer4_init == "random":
            for module in network.top_modules():
                init_conv_bn(module)
        encoder = BackboneEncoder(network, settings, feature_dim)
        encoder.load_summary = summary
        return encoder
