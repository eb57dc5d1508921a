"""Which encoders cannot train under `deterministic: true` on CUDA, found before a run starts.

torch's deterministic mode has no deterministic CUDA backward for some operations and raises when one
runs (the list in `torch.use_deterministic_algorithms`' documentation): MaxPool3d's backward in the
paper's SlowFast and SlowOnly stems, and in torchvision's s3d and mvit; AvgPool3d's in s3d. Without this
check a run would stop with torch's error in the first backward pass, after its clips were read.

We refuse rather than swap in a deterministic equivalent: a max-pool's backward written with
deterministic ops (e.g. a scatter of the gradient into the argmax positions through `index_put` with
sorted indices) is slower on every step and is another function to trust; `regime: frozen` (or
`reference`, whose trunk runs without gradients) and `deterministic: false` already train these nets.

How the ops are found: the encoder is built on the `meta` device (the full-size networks in about a
second, no weights read), one forward pass at the run's input size is recorded by autograd, and the
backward nodes of the graph are looked up in NONDETERMINISTIC_BACKWARD. So the regime is respected (a
trunk under no_grad records nothing) and so are torch's own rewrites: an adaptive average pool to size 1
is a mean, whose backward is deterministic.
"""

import numpy as np
import torch

from mmdg_bench.data.dataset import AudioLoader
from mmdg_bench.errors import UserError
from mmdg_bench.models.encoders import build_encoder, encoder_spec
from mmdg_bench.models.multimodal import IN_CHANNELS

# autograd node -> the operation a user knows, for those whose CUDA backward raises in deterministic mode
# (torch.use_deterministic_algorithms' list; a forward that raises there too, e.g. MaxUnpool, is included).
NONDETERMINISTIC_BACKWARD = {
    "AvgPool3DBackward0": "AvgPool3d", "AdaptiveAvgPool2DBackward0": "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3DBackward0": "AdaptiveAvgPool3d", "MaxPool3DWithIndicesBackward0": "MaxPool3d",
    "AdaptiveMaxPool2DBackward0": "AdaptiveMaxPool2d", "FractionalMaxPool2DBackward0": "FractionalMaxPool2d",
    "FractionalMaxPool3DBackward0": "FractionalMaxPool3d", "MaxUnpool2DBackward0": "MaxUnpool2d",
    "MaxUnpool3DBackward0": "MaxUnpool3d", "UpsampleLinear1DBackward0": "linear interpolation",
    "UpsampleBilinear2DBackward0": "bilinear interpolation", "UpsampleBicubic2DBackward0": "bicubic interpolation",
    "UpsampleTrilinear3DBackward0": "trilinear interpolation", "ReflectionPad1DBackward0": "ReflectionPad1d",
    "ReflectionPad2DBackward0": "ReflectionPad2d", "ReflectionPad3DBackward0": "ReflectionPad3d",
    "GridSampler2DBackward0": "grid_sample", "GridSampler3DBackward0": "grid_sample", "CumsumBackward0": "cumsum",
}


def backward_ops(output: torch.Tensor) -> list[str]:
    """The operations of NONDETERMINISTIC_BACKWARD in `output`'s autograd graph, in the order first met."""
    found, seen, stack = {}, set(), [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        name = NONDETERMINISTIC_BACKWARD.get(type(node).__name__)
        if name:
            found[name] = None
        stack.extend(child for child, _ in node.next_functions)
    return list(found)


def clip_shape(data_config, modality: str) -> tuple[int, ...]:
    """One training clip's tensor shape for `modality`, as the loader gives it."""
    if modality == "audio":
        samples = np.zeros(int(round(data_config.audio.sample_rate * data_config.audio.seconds)), dtype=np.float32)
        return tuple(AudioLoader(data_config.audio, train=False).features(samples).shape)
    frames = getattr(data_config, modality)
    return IN_CHANNELS.get(modality, 1), frames.num_frames, frames.size, frames.size


def encoder_backward_ops(spec, modality: str, shape: tuple[int, ...], feature_dim: int) -> list[str]:
    """The CUDA-nondeterministic backward ops of one training step through the encoder `spec` (a preset's
    `model.encoders.<modality>`), on the meta device: nothing is computed and no weight file is read."""
    if isinstance(spec, dict) and spec.get("weights"):
        spec = {**spec, "weights": None}  # the structure is what matters, not the values
    with torch.device("meta"):
        encoder = build_encoder(spec, modality, IN_CHANNELS.get(modality, 1), feature_dim)
    encoder.train()
    return backward_ops(encoder(torch.empty(2, *shape, device="meta")))


def require_deterministic_backward(config, device: str) -> None:
    """Refuse, in one sentence, `deterministic: true` on CUDA with an encoder whose training backward has
    an op torch cannot run deterministically there; nothing to check on the CPU, when not deterministic,
    or from the feature cache (no backbone runs)."""
    if not (config.deterministic and device.startswith("cuda")) or config.data.source == "features":
        return
    for modality in config.data.modalities:
        spec = config.model.encoders[modality]
        ops = encoder_backward_ops(spec, modality, clip_shape(config.data, modality), config.model.feature_dim)
        if ops:
            name, _, settings = encoder_spec(spec, f"model.encoders.{modality}")
            regime = getattr(settings, "regime", None)
            frozen = f", or model.encoders.{modality}.regime=frozen" if regime else ""
            raise UserError(f"'deterministic: true' cannot train model.encoders.{modality} ({name}"
                            f"{f', regime {regime}' if regime else ''}) on CUDA: torch has no deterministic CUDA "
                            f"backward for its {' and '.join(ops)}; set deterministic=false{frozen}")
