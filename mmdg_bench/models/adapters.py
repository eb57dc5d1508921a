"""The `frozen` regime's trainable part on a cached pooled vector, the encoders of a run trained from
the feature cache (`data.source: features`, mmdg_bench/features/): the dropout and linear adapter that
`BackboneEncoder` puts on its pooled vector, named as there, so the weights are interchangeable."""

import torch
from torch import nn

from mmdg_bench.models.backbones.regime import BackboneSettings
from mmdg_bench.models.encoders import encoder_spec


class FeatureAdapter(nn.Module):
    """The `frozen` regime's trainable part on a cached pooled vector: its dropout, then its adapter
    (named as in BackboneEncoder, so the weights are interchangeable)."""

    def __init__(self, pooled_dim: int, settings: BackboneSettings, feature_dim: int):
        super().__init__()
        self.dropout = nn.Dropout(settings.dropout)
        self.adapter = nn.Linear(pooled_dim, settings.adapter_dim or feature_dim)
        self.out_dim = self.adapter.out_features

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.dropout(pooled))


def feature_adapters(model_config, modalities: list[str], dims: dict[str, int], feature_dim: int) -> dict:
    """One FeatureAdapter per modality, sized by its cache's width `dims[m]`."""
    encoders = model_config.encoders
    return {m: FeatureAdapter(dims[m], encoder_spec(encoders[m], f"model.encoders.{m}")[2], feature_dim)
            for m in modalities}
