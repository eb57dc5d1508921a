"""Models map clips to features and logits; nothing here knows about strategies or data files."""

from mmdg_bench.models.encoders import ENCODERS
from mmdg_bench.models.multimodal import ModelOutputs, MultimodalModel, build_model

__all__ = ["ENCODERS", "ModelOutputs", "MultimodalModel", "build_model"]
