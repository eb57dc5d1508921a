"""The model shared by every strategy (GMP, arXiv 2603.14175, Sec. 3): per-modality encoders, a fused
classifier (`model.fusion`, concat by default), a unimodal classifier and a domain discriminator per
modality, and the modules of the run's MMDG method (`model.method`). Modalities are a list; any
number works, one included (then the fused head sees that modality alone)."""

from dataclasses import dataclass

import torch
from torch import nn

from mmdg_bench.models.adapters import feature_adapters
from mmdg_bench.models.encoders import build_encoder
from mmdg_bench.models.fusion import FUSIONS
from mmdg_bench.models.heads import DomainDiscriminator, mlp_head

IN_CHANNELS = {"video": 3, "audio": 1, "flow": 2}


@dataclass
class ModelOutputs:
    features: dict[str, torch.Tensor]  # z_m, one per modality
    fused_logits: torch.Tensor
    unimodal_logits: dict[str, torch.Tensor]
    domain_logits: dict[str, torch.Tensor]


class MultimodalModel(nn.Module):
    def __init__(self, encoders: dict[str, nn.Module], feature_dim: int, num_classes: int,
                 num_domains: int, head_hidden: int, grl_coeff: float, detach_unimodal: bool = False,
                 fusion: str = "concat"):
        super().__init__()
        self.modalities = list(encoders)
        self.encoders = nn.ModuleDict(encoders)
        # An encoder may say how wide its feature is (a pretrained backbone's pooled vector); else feature_dim.
        self.dims = {m: getattr(encoder, "out_dim", feature_dim) for m, encoder in encoders.items()}
        dims = self.dims
        self.fused_head = FUSIONS.get(fusion)(dims, head_hidden, num_classes)
        self.unimodal_heads = nn.ModuleDict(
            {m: mlp_head(dims[m], head_hidden, num_classes) for m in self.modalities})
        self.discriminators = nn.ModuleDict(
            {m: DomainDiscriminator(dims[m], head_hidden, num_domains, grl_coeff) for m in self.modalities})
        # loss.classification "paper": the unimodal heads read detached features (mmdg_bench/losses.py).
        self.detach_unimodal = detach_unimodal
        self.method = None  # the run's MMDG method (an nn.Module: its parameters are the model's): attach_method

    def encode(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {m: self.encoders[m](batch[m]) for m in self.modalities}

    def heads(self, features: dict[str, torch.Tensor]) -> ModelOutputs:
        """Everything above the encoders; split out so a strategy can act at the feature level."""
        fused = self.fused_head(features, self.unimodal_heads)
        return ModelOutputs(
            features=features,
            fused_logits=fused,
            unimodal_logits={m: self.unimodal_heads[m](features[m].detach() if self.detach_unimodal else features[m])
                             for m in self.modalities},
            domain_logits={m: self.discriminators[m](features[m]) for m in self.modalities},
        )

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutputs:
        return self.heads(self.encode(batch))

    def encoder_parameters(self, modality: str) -> list[nn.Parameter]:
        return [p for p in self.encoders[modality].parameters() if p.requires_grad]


def build_model(model_config, modalities: list[str], num_classes: int, num_domains: int,
                detach_unimodal: bool = False, feature_dims: dict[str, int] | None = None) -> MultimodalModel:
    """The model of a run, without the modules of its MMDG method (`mmdg_bench.methods.attach_method`
    adds them; a bare model uses the plain ERM terms). `feature_dims`: training from the feature cache,
    whose pooled widths size the frozen regime's adapters, the only encoders then."""
    if feature_dims is not None:
        encoders = feature_adapters(model_config, modalities, feature_dims, model_config.feature_dim)
    else:
        encoders = {m: build_encoder(model_config.encoders[m], m, IN_CHANNELS.get(m, 1), model_config.feature_dim,
                                     weights_dir=model_config.weights_dir) for m in modalities}
    return MultimodalModel(encoders, model_config.feature_dim, num_classes, num_domains,
                           model_config.head_hidden, model_config.grl_coeff, detach_unimodal, model_config.fusion)
