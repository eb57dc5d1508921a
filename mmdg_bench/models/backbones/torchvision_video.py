"""torchvision's Kinetics-400 video models as alternative RGB encoders, built with weights=None and
loaded from a file in the weights folder (no download at build time). torchvision is imported only
when one is built: it adds seconds to every start-up otherwise.

    --set 'model.encoders.video={name: r2plus1d_18, weights: r2plus1d_18-91a641e6.pth}'

Their own input transforms (the backbones' README facts): r3d/mc3/r2plus1d 16 frames at 112 (resize
128x171); s3d >= 14 frames at 224; mvit_* exactly 16 frames at 224; swin3d_* any length at 224.
"""

from dataclasses import dataclass

from torch import nn

from mmdg_bench.errors import UserError, check_choice
from mmdg_bench.models.backbones.regime import REGIMES, BackboneEncoder, BackboneSettings
from mmdg_bench.models.encoder_registry import ENCODERS
from mmdg_bench.models.weights import load_encoder_weights

# name -> (attribute of the classification layer, feature width in front of it)
MODELS = {"r3d_18": ("fc", 512), "mc3_18": ("fc", 512), "r2plus1d_18": ("fc", 512), "s3d": ("classifier", 1024),
          "mvit_v1_b": ("head", 768), "mvit_v2_s": ("head", 768), "swin3d_t": ("head", 768),
          "swin3d_s": ("head", 768), "swin3d_b": ("head", 1024)}


@dataclass
class TorchvisionSettings:
    weights: str | None = None  # e.g. r2plus1d_18-91a641e6.pth in the weights folder; null: random init
    regime: str = "finetune"  # finetune | frozen ('reference' is defined for the paper's backbones only)
    adapter_dim: int | None = None  # frozen: width of the trainable adapter; null: model.feature_dim
    strict: bool = True

    def check(self, path: str) -> None:
        check_choice(self.regime, [r for r in REGIMES if r != "reference"], f"'{path}.regime'")
        if self.adapter_dim is not None and self.adapter_dim <= 0:
            raise UserError(f"'{path}.adapter_dim' must be positive, got {self.adapter_dim}")


class TorchvisionNetwork(nn.Module):
    """The whole model is the 'top': it has no frozen trunk, so `reference` does not apply."""

    trunk_batch_stats = False

    def __init__(self, model: nn.Module, out_dim: int):
        super().__init__()
        self.model = model
        self.out_dim = out_dim

    def trunk(self, clip):
        return clip

    def top(self, clip):
        return self.model(clip)

    def top_modules(self) -> list[nn.Module]:
        return [self.model]

    def classifier(self) -> nn.Module:
        return nn.Identity()


@dataclass(frozen=True)
class TorchvisionEntry:
    Settings = TorchvisionSettings
    in_channels = 3
    model: str

    @property
    def description(self) -> str:
        return f"torchvision {self.model} (Kinetics-400 file from the weights folder); {MODELS[self.model][1]}-d"

    def build(self, settings: TorchvisionSettings, *, name: str, modality: str, in_channels: int,
              feature_dim: int, weights_dir: str | None = None) -> BackboneEncoder:
        import torchvision.models.video as video_models

        if in_channels != 3:
            raise UserError(f"torchvision's {name} takes RGB clips, but model.encoders.{modality} gets "
                            f"{in_channels} channels: use it for video only")
        model = getattr(video_models, self.model)(weights=None)
        summary = ""
        if settings.weights:
            summary = load_encoder_weights(model, settings.weights, weights_dir, modality, name, settings.strict)
        head, out_dim = MODELS[self.model]
        setattr(model, head, nn.Identity())  # the pooled features, not Kinetics-400 logits
        encoder = BackboneEncoder(TorchvisionNetwork(model, out_dim),
                                  BackboneSettings(regime=settings.regime, adapter_dim=settings.adapter_dim,
                                                   dropout=0.0), feature_dim)
        encoder.load_summary = summary
        return encoder


for _name in MODELS:
    ENCODERS.register(_name)(TorchvisionEntry(_name))
