"""The paper's pre-trained backbones in plain PyTorch, and torchvision's video models, as encoders.

Key mapping from the official files (the backbones' README facts): the network's module names ARE the
file's keys after stripping a leading `module.`; nothing is renamed.

    slowfast_r101_8x8   slowfast_r101_8x8x1_256e_kinetics400_rgb_20210218-0dd54025.pth
                        keys backbone.slow_path.*, backbone.fast_path.*, cls_head.fc_cls.*
    slowonly_r50_flow   slowonly_r50_8x8x1_256e_kinetics400_flow_20200704-6b384243.pth
                        keys backbone.*, cls_head.fc_cls.*
    vggsound_r18        H.pth.tar, under 'model_state_dict'
                        keys audnet.*

`*_tiny` are the same classes at a small width and depth (CPU tests, synth). Pooled outputs: SlowFast
2304 = [fast 256 | slow 2048], SlowOnly 2048, ResNet-18 512.
"""

from functools import partial

from mmdg_bench.models.backbones import torchvision_video
from mmdg_bench.models.backbones.audio_resnet import AUDIO_RESNET_TINY, VGGSOUND_R18, AVENetwork
from mmdg_bench.models.backbones.regime import AudioBackboneSettings, BackboneEncoder, BackboneEntry
from mmdg_bench.models.backbones.slowfast import SLOWFAST_R101_8X8, SLOWFAST_TINY, SlowFastNetwork
from mmdg_bench.models.backbones.slowonly import SLOWONLY_R50, SLOWONLY_TINY, SlowOnlyNetwork
from mmdg_bench.models.encoder_registry import ENCODERS

ENCODERS.register("slowfast_r101_8x8")(BackboneEntry(
    partial(SlowFastNetwork, SLOWFAST_R101_8X8),
    "SlowFast R101 8x8, Kinetics-400 RGB (mmaction2): 32 frames, slow every 4th; 2304-d"))
ENCODERS.register("slowonly_r50_flow")(BackboneEntry(
    partial(SlowOnlyNetwork, SLOWONLY_R50),
    "SlowOnly R50 8x8, Kinetics-400 optical flow (mmaction2): 2-channel stem, 8 frames; 2048-d",
    in_channels=2))
ENCODERS.register("vggsound_r18")(BackboneEntry(
    partial(AVENetwork, VGGSOUND_R18),
    "VGGSound ResNet-18 (AVENet model H): 1x257x1004 log spectrogram; 512-d",
    Settings=AudioBackboneSettings, in_channels=1))
ENCODERS.register("slowfast_tiny")(BackboneEntry(
    partial(SlowFastNetwork, SLOWFAST_TINY), "SlowFast at width 8 / fast 1, depths 1-1-2-1 (CPU tests)"))
ENCODERS.register("slowonly_tiny")(BackboneEntry(
    partial(SlowOnlyNetwork, SLOWONLY_TINY), "SlowOnly at width 8, depths 1-1-2-1 (CPU tests)",
    in_channels=2))
ENCODERS.register("vggsound_r18_tiny")(BackboneEntry(
    partial(AVENetwork, AUDIO_RESNET_TINY), "the audio ResNet at width 8, one block per stage (CPU tests)",
    Settings=AudioBackboneSettings, in_channels=1))

__all__ = ["BackboneEncoder", "BackboneEntry", "torchvision_video"]
