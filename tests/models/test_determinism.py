"""`deterministic: true` on CUDA: the encoders whose training backward has an op torch cannot run
deterministically there are found on the meta device (full-size networks, no weights, no GPU) and refused in
one sentence before a run reads a clip; the frozen and reference regimes, the CPU and the tiny CNNs pass."""

import pytest
import torch
from typer.testing import CliRunner

from mmdg_bench.cli import app
from mmdg_bench.config import load_config
from mmdg_bench.engine import train_run
from mmdg_bench.errors import UserError
from mmdg_bench.models.determinism import (
    NONDETERMINISTIC_BACKWARD,
    backward_ops,
    encoder_backward_ops,
    require_deterministic_backward,
)

FINETUNED = "model.encoders.video={name: slowfast_tiny, regime: finetune}"


@pytest.mark.parametrize("spec, modality, shape, ops", [
    ({"name": "slowfast_r101_8x8", "regime": "finetune"}, "video", (3, 32, 224, 224), ["MaxPool3d"]),
    ({"name": "slowfast_r101_8x8", "regime": "reference"}, "video", (3, 32, 224, 224), []),  # trunk: no_grad
    ({"name": "slowfast_r101_8x8", "regime": "frozen"}, "video", (3, 32, 224, 224), []),
    ({"name": "slowonly_r50_flow", "regime": "finetune"}, "flow", (2, 8, 224, 224), ["MaxPool3d"]),
    ({"name": "vggsound_r18", "regime": "finetune"}, "audio", (1, 257, 1004), []),  # MaxPool2d's is deterministic
    ({"name": "s3d"}, "video", (3, 16, 224, 224), ["AvgPool3d", "MaxPool3d"]),
    ({"name": "r2plus1d_18"}, "video", (3, 16, 112, 112), []),
    ("tiny3d", "video", (3, 8, 32, 32), []),  # its adaptive average pool to size 1 is a mean
])
def test_the_nondeterministic_backward_ops_of_the_encoders_are_found_on_meta(spec, modality, shape, ops):
    assert sorted(encoder_backward_ops(spec, modality, shape, 64)) == ops


def test_every_op_of_the_table_is_torchs_name_for_it():
    x = torch.randn(1, 2, 4, 6, 6, requires_grad=True)
    for module in (torch.nn.AvgPool3d(2), torch.nn.AdaptiveAvgPool3d(2), torch.nn.MaxPool3d(2)):
        assert backward_ops(module(x)) == [NONDETERMINISTIC_BACKWARD[type(module(x).grad_fn).__name__]]
    upsampled = torch.nn.functional.interpolate(x, scale_factor=2, mode="trilinear")
    assert backward_ops(upsampled.sum()) == ["trilinear interpolation"]
    assert backward_ops(torch.nn.AdaptiveAvgPool3d(1)(x)) == []


@pytest.mark.parametrize("overrides, device, refused", [
    ([FINETUNED, "deterministic=true"], "cuda", True),
    ([FINETUNED, "deterministic=true"], "cuda:1", True),
    ([FINETUNED, "deterministic=true"], "cpu", False),
    ([FINETUNED, "deterministic=false"], "cuda", False),
    (["model.encoders.video={name: slowfast_tiny, regime: frozen}", "deterministic=true"], "cuda", False),
    (["deterministic=true"], "cuda", False),  # the tiny CNNs
])
def test_deterministic_finetuning_on_cuda_is_refused_in_one_sentence(overrides, device, refused):
    config = load_config("synth", overrides)
    if not refused:
        require_deterministic_backward(config, device)
        return
    with pytest.raises(UserError) as err:
        require_deterministic_backward(config, device)
    assert str(err.value) == ("'deterministic: true' cannot train model.encoders.video (slowfast_tiny, regime "
                              "finetune) on CUDA: torch has no deterministic CUDA backward for its MaxPool3d; set "
                              "deterministic=false, or model.encoders.video.regime=frozen")


def test_a_run_and_presets_validate_refuse_it_before_reading_a_clip(tmp_path, monkeypatch):
    import mmdg_bench.engine.train as train

    monkeypatch.setattr(train, "resolve_device", lambda device: "cuda")
    monkeypatch.setattr(train, "build_loaders", lambda *args, **kwargs: pytest.fail("clips were read"))
    with pytest.raises(UserError, match="cannot train model.encoders.video"):
        train_run(load_config("synth", [FINETUNED, "deterministic=true"]), "toon", tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    result = CliRunner().invoke(app, ["presets", "validate", "synth", "--set", FINETUNED, "--set", "deterministic=true",
                                      "--set", "device=cuda"])
    assert result.exit_code == 2 and "cannot train model.encoders.video (slowfast_tiny" in result.output
    assert "Traceback" not in result.output
