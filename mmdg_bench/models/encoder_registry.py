"""The encoder registry, apart from the encoders so that the backbones package can register into it."""

from mmdg_bench.registry import Registry

# Entries: a class or object with `Settings` (a dataclass of its preset settings), `description` and
# `build(settings, *, name, modality, in_channels, feature_dim, weights_dir) -> nn.Module` with `out_dim`.
ENCODERS: Registry = Registry("encoder")
