"""The model shared by every strategy (SPEC §3): per-modality encoders, concat fusion, a unimodal
classifier and a domain discriminator per modality. Modalities are a list; any number works."""

from dataclasses import dataclass

import torch
from torch import nn

from mmdg_bench.models.encoders import ENCODERS
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
                 num_domains: int, head_hidden: int, grl_coeff: float):
        super().__init__()
        self.modalities = list(encoders)
        self.encoders = nn.ModuleDict(encoders)
        self.fused_head = mlp_head(feature_dim * len(encoders), head_hidden, num_classes)
        self.unimodal_heads = nn.ModuleDict(
            {m: mlp_head(feature_dim, head_hidden, num_classes) for m in self.modalities})
        self.discriminators = nn.ModuleDict(
            {m: DomainDiscriminator(feature_dim, head_hidden, num_domains, grl_coeff) for m in self.modalities})

    def encode(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {m: self.encoders[m](batch[m]) for m in self.modalities}

    def heads(self, features: dict[str, torch.Tensor]) -> ModelOutputs:
        """Everything above the encoders; split out so a strategy can act at the feature level."""
        fused = self.fused_head(torch.cat([features[m] for m in self.modalities], dim=1))
        return ModelOutputs(
            features=features,
            fused_logits=fused,
            unimodal_logits={m: self.unimodal_heads[m](features[m]) for m in self.modalities},
            domain_logits={m: self.discriminators[m](features[m]) for m in self.modalities},
        )

    def forward(self, batch: dict[str, torch.Tensor]) -> ModelOutputs:
        return self.heads(self.encode(batch))

    def encoder_parameters(self, modality: str) -> list[nn.Parameter]:
        return [p for p in self.encoders[modality].parameters() if p.requires_grad]


def build_model(model_config, modalities: list[str], num_classes: int, num_domains: int) -> MultimodalModel:
    encoders = {
        m: ENCODERS.get(model_config.encoders[m])(in_channels=IN_CHANNELS.get(m, 1),
                                                  feature_dim=model_config.feature_dim)
        for m in modalities
    }
    return MultimodalModel(encoders, model_config.feature_dim, num_classes, num_domains,
                           model_config.head_hidden, model_config.grl_coeff)
