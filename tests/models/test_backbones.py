"""The paper's backbones: official keys and shapes (full size, on the meta device), checkpoint loading
in the official layouts (tiny configurations), the training regimes, and encoder settings."""

import argparse
import ast
import warnings
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mmdg_bench.config import load_config
from mmdg_bench.errors import UserError
from mmdg_bench.models.backbones.audio_resnet import VGGSOUND_R18, AVENetwork
from mmdg_bench.models.backbones.slowfast import SLOWFAST_R101_8X8, SlowFastNetwork
from mmdg_bench.models.backbones.slowonly import SLOWONLY_R50, SlowOnlyNetwork
from mmdg_bench.models.backbones.torchvision_video import MODELS
from mmdg_bench.models.encoder_registry import ENCODERS
from mmdg_bench.models.encoders import build_encoder, check_encoder_specs
from mmdg_bench.models.weights import KNOWN_FILES, KnownFile, file_sha256, load_weights

TINY_INPUTS = {"slowfast_tiny": (3, 8, 32, 32), "slowonly_tiny": (2, 8, 32, 32), "vggsound_r18_tiny": (1, 40, 64)}


def official_keys(name: str) -> list[tuple[str, list[int]]]:
    text = resources.files("mmdg_bench.models").joinpath(f"resources/keys_{name}.tsv").read_text()
    return [(key, ast.literal_eval(shape)) for key, shape in (line.split("\t") for line in text.splitlines())]


@pytest.mark.parametrize("network, keys, params", [
    (lambda: SlowFastNetwork(SLOWFAST_R101_8X8, 3), "slowfast_r101_8x8", 62_912_312),  # 62.9M with its head
    (lambda: SlowOnlyNetwork(SLOWONLY_R50, 2), "slowonly_r50_flow", 32_450_960),  # 32.45M
    (lambda: AVENetwork(VGGSOUND_R18, 1), "vggsound_avenet_r18", 11_328_757),  # 11.33M
])
def test_full_size_state_dict_is_the_official_one(network, keys, params):
    with torch.device("meta"):
        net = network()
    assert [(k, list(v.shape)) for k, v in net.state_dict().items()] == official_keys(keys)
    assert sum(p.numel() for p in net.parameters()) == params


@pytest.mark.parametrize("name, shape, out_dim, trunk_shapes", [
    ("slowfast_r101_8x8", (3, 32, 224, 224), 2304, [(1, 1280, 8, 14, 14), (1, 128, 32, 14, 14)]),
    ("slowonly_r50_flow", (2, 8, 224, 224), 2048, [(1, 1024, 8, 14, 14)]),
    ("vggsound_r18", (1, 257, 1004), 512, [(1, 256, 17, 63)]),  # VGGSound: layer3 [256,17,63]
])
def test_full_size_shapes_at_paper_input(name, shape, out_dim, trunk_shapes):
    with torch.device("meta"):
        encoder = build_encoder(name, "m", shape[0], 64)
        clip = torch.empty(1, *shape)
        trunk = encoder.network.trunk(clip)
        assert [tuple(t.shape) for t in (trunk if isinstance(trunk, tuple) else [trunk])] == trunk_shapes
        assert encoder(clip).shape == (1, out_dim) and encoder.out_dim == out_dim


def tiny(name: str, **settings) -> nn.Module:
    return build_encoder({"name": name, **settings}, "m", TINY_INPUTS[name][0], 16)


def test_slowfast_pooled_vector_is_fast_then_slow():
    encoder = tiny("slowfast_tiny").eval()
    backbone = encoder.network.backbone
    clip = torch.randn(2, *TINY_INPUTS["slowfast_tiny"])
    x_slow, x_fast = backbone.through_stage(*backbone.trunk(clip), 3)
    pooled = encoder(clip)
    fast = x_fast.shape[1]
    assert torch.allclose(pooled[:, :fast], x_fast.mean(dim=(2, 3, 4)))
    assert torch.allclose(pooled[:, fast:], x_slow.mean(dim=(2, 3, 4)))


def test_slow_path_takes_every_fourth_frame():
    encoder = tiny("slowfast_tiny")
    seen = {}
    encoder.network.backbone.slow_path.conv1.register_forward_hook(lambda m, inputs, out: seen.update(x=inputs[0]))
    clip = torch.randn(1, *TINY_INPUTS["slowfast_tiny"])
    encoder(clip)
    assert torch.equal(seen["x"], clip[:, :, ::4])


def write_official(path, network: nn.Module, layout: str, edit=None):
    """A file laid out as the published ones: mmaction2 {meta, state_dict} (here with a DataParallel
    `module.` prefix to strip) or VGGSound {model_state_dict}."""
    state = {k: v.clone() for k, v in network.state_dict().items()}
    if edit:
        edit(state)
    if layout == "mmaction2":
        torch.save({"meta": {"epoch": 256, "mmcv_version": "1.2.7"},
                    "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    else:
        torch.save({"model_state_dict": state, "epoch": 5}, path)
    return state


@pytest.mark.parametrize("name, layout", [("slowfast_tiny", "mmaction2"), ("slowonly_tiny", "mmaction2"),
                                          ("vggsound_r18_tiny", "vggsound")])
def test_official_layout_loads_into_the_tiny_model(tmp_path, name, layout):
    state = write_official(tmp_path / "tiny.pth", tiny(name).network, layout)
    with pytest.warns(UserWarning, match="not one of the known weight files"):
        loaded = tiny(name, weights=str(tmp_path / "tiny.pth"))
    assert all(torch.equal(v, state[k]) for k, v in loaded.network.state_dict().items())
    assert f"loaded {len(state)} of {len(state)} tensors from tiny.pth" in loaded.load_summary


def rename(state):
    state["backbone.conv1.conv.w"] = state.pop("backbone.conv1.conv.weight")


def reshape(state):
    state["backbone.layer4.0.conv1.conv.weight"] = torch.zeros(1, 1, 1, 1, 1)


@pytest.mark.parametrize("edit, sentence", [
    (rename, "1 missing (backbone.conv1.conv.weight), 1 unexpected (backbone.conv1.conv.w)"),
    (lambda s: s.pop("cls_head.fc_cls.bias"), "1 missing (cls_head.fc_cls.bias);"),
    (reshape, "1 of the wrong shape (backbone.layer4.0.conv1.conv.weight: [1, 1, 1, 1, 1] in the file, "
              "[64, 128, 3, 1, 1] in the model)"),
])
def test_each_mismatch_gives_its_sentence(tmp_path, edit, sentence):
    write_official(tmp_path / "bad.pth", tiny("slowonly_tiny").network, "mmaction2", edit)
    with pytest.warns(UserWarning), pytest.raises(UserError, match="does not fit flow encoder") as err:
        build_encoder({"name": "slowonly_tiny", "weights": str(tmp_path / "bad.pth")}, "flow", 2, 16)
    assert sentence in str(err.value) and str(err.value).count(". ") == 0


def test_not_strict_loads_what_fits(tmp_path):
    write_official(tmp_path / "bad.pth", tiny("slowonly_tiny").network, "mmaction2", reshape)
    with pytest.warns(UserWarning):
        loaded = tiny("slowonly_tiny", weights=str(tmp_path / "bad.pth"), strict=False)
    assert "(1 left as initialised)" in loaded.load_summary


def test_a_missing_num_batches_tracked_is_accepted(tmp_path):
    def drop(state):
        for key in [k for k in state if k.endswith("num_batches_tracked")]:
            del state[key]

    write_official(tmp_path / "old.pth", tiny("vggsound_r18_tiny").network, "vggsound", drop)
    with pytest.warns(UserWarning):
        assert "loaded" in tiny("vggsound_r18_tiny", weights=str(tmp_path / "old.pth")).load_summary


class Touches:
    """Unpickling it would create a file: what an arbitrary pickle can do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


def test_a_pickle_beyond_tensors_is_never_unpickled_whatever_its_name(tmp_path, monkeypatch):
    """The old loader unpickled in full any file whose sha256 matched the 8 hex digits of a known name;
    now nothing beyond tensors, plain values and numpy metadata is ever unpickled."""
    network = tiny("slowonly_tiny").network
    marker = tmp_path / "ran"
    path = tmp_path / "tiny.pth"
    torch.save({"meta": {"config": argparse.Namespace(lr=0.1), "hook": Touches(marker)},
                "state_dict": network.state_dict()}, path)
    official = path.rename(tmp_path / f"tiny-{file_sha256(path)[:8]}.pth")
    for known in (False, True):
        if known:
            monkeypatch.setitem(KNOWN_FILES, official.name, KnownFile(official.name, "http://x", 1, "slowonly_tiny"))
        with warnings.catch_warnings(), pytest.raises(UserError, match="holds objects other than tensors") as err:
            warnings.simplefilter("ignore")
            tiny("slowonly_tiny", weights=str(official))
        assert "argparse.Namespace" in str(err.value) and not marker.exists()


def test_numpy_metadata_of_an_mmcv_checkpoint_loads(tmp_path):
    network = tiny("slowonly_tiny").network
    path = tmp_path / "tiny.pth"
    meta = {"epoch": np.int64(256), "lr": np.float64(0.1), "history": np.arange(3.0), "mmcv_version": "1.3.0"}
    torch.save({"meta": meta, "state_dict": network.state_dict()}, path)
    with pytest.warns(UserWarning, match="not one of the known weight files"):
        assert "loaded 122 of 122 tensors" in tiny("slowonly_tiny", weights=str(path)).load_summary


def test_no_damage_to_a_checkpoint_escapes_as_a_traceback(tmp_path):
    """140 damaged copies of a real checkpoint (cut short anywhere, or bytes of its pickle overwritten:
    the old loader let KeyError and AttributeError through there): each loads or is one sentence."""
    network = tiny("slowonly_tiny").network
    good = tmp_path / "good.pth"
    torch.save({"meta": {"epoch": 1}, "state_dict": network.state_dict()}, good)
    data = good.read_bytes()
    with zipfile.ZipFile(good) as archive:
        entry = next(i for i in archive.infolist() if i.filename.endswith("data.pkl"))
    start = entry.header_offset + 30 + len(entry.filename.encode()) + len(entry.extra)  # the local header's size
    rng = np.random.default_rng(0)
    damaged = tmp_path / "damaged.pth"
    outcomes = {"loaded": 0, "refused": 0}
    for i in range(140):
        if i % 2:
            blob = data[:int(rng.integers(0, len(data)))]
        else:
            blob = bytearray(data)
            for at in rng.integers(start, start + entry.compress_size, int(rng.integers(1, 4))):
                blob[at] = int(rng.integers(0, 256))
        damaged.write_bytes(bytes(blob))
        try:
            load_weights(tiny("slowonly_tiny").network, damaged, "the flow encoder")
            outcomes["loaded"] += 1
        except UserError as err:
            assert "\n" not in str(err), str(err)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 70, outcomes


def test_a_known_name_with_other_bytes_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "tiny-00000000.pth"
    write_official(path, tiny("slowonly_tiny").network, "mmaction2")
    monkeypatch.setitem(KNOWN_FILES, path.name, KnownFile(path.name, "http://x", 1, "slowonly_tiny"))
    with pytest.raises(UserError, match="is not the published tiny-00000000.pth"):
        tiny("slowonly_tiny", weights=str(path))


def test_a_corrupt_or_foreign_file_is_one_sentence(tmp_path):
    (tmp_path / "cut.pth").write_bytes(b"PK\x03\x04 truncated")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.warns(UserWarning):
        with pytest.raises(UserError, match="not a readable PyTorch checkpoint"):
            tiny("slowonly_tiny", weights=str(tmp_path / "cut.pth"))
        with pytest.raises(UserError, match="holds no state dict"):
            tiny("slowonly_tiny", weights=str(tmp_path / "list.pth"))


def trunk_and_top(encoder):
    top = {id(p) for m in encoder.network.top_modules() for p in m.parameters()}
    head = {id(p) for p in encoder.network.classifier().parameters()}
    params = [p for p in encoder.network.parameters() if id(p) not in head]
    return [p for p in params if id(p) not in top], [p for p in params if id(p) in top]


def norms(modules) -> list[nn.Module]:
    return [m for module in modules for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def trunk_norm(encoder) -> nn.Module:
    network = encoder.network
    return network.audnet.bn1 if hasattr(network, "audnet") else network.backbone.conv1.bn if hasattr(
        network.backbone, "conv1") else network.backbone.slow_path.conv1.bn


@pytest.mark.parametrize("name", ["slowfast_tiny", "slowonly_tiny"])
def test_reference_video_trunk_is_fixed_but_its_batchnorm_trains(name):
    encoder = tiny(name, regime="reference").train()
    trunk, top = trunk_and_top(encoder)
    assert not any(p.requires_grad for p in trunk) and all(p.requires_grad for p in top)
    assert not any(p.requires_grad for p in encoder.network.classifier().parameters())
    bn = trunk_norm(encoder)
    assert bn.training
    before = bn.running_mean.clone()
    encoder(torch.randn(2, *TINY_INPUTS[name])).sum().backward()
    assert not torch.equal(bn.running_mean, before)  # batch statistics, running stats updated
    assert all(p.grad is None for p in trunk) and all(p.grad is not None for p in top)


def test_reference_audio_trunk_stays_in_eval_mode():
    encoder = tiny("vggsound_r18_tiny", regime="reference").train()
    trunk_bn, top_bn = norms([encoder.network.audnet.layer3]), norms(encoder.network.top_modules())
    assert not any(m.training for m in trunk_bn) and all(m.training for m in top_bn)
    before = encoder.network.audnet.bn1.running_mean.clone()
    encoder(torch.randn(2, *TINY_INPUTS["vggsound_r18_tiny"]))
    assert torch.equal(encoder.network.audnet.bn1.running_mean, before)


@pytest.mark.parametrize("name", list(TINY_INPUTS))
def test_finetune_trains_everything_but_the_unused_classifier(name):
    encoder = tiny(name, regime="finetune").train()
    trunk, top = trunk_and_top(encoder)
    assert all(p.requires_grad for p in trunk + top)
    encoder(torch.randn(2, *TINY_INPUTS[name])).sum().backward()
    assert all(p.grad is not None for p in trunk + top)


@pytest.mark.parametrize("name", list(TINY_INPUTS))
def test_frozen_keeps_the_network_fixed_and_trains_an_adapter(name):
    encoder = tiny(name, regime="frozen", adapter_dim=12).train()
    assert [n for n, p in encoder.named_parameters() if p.requires_grad] == ["adapter.weight", "adapter.bias"]
    assert not any(m.training for m in norms([encoder.network]))
    before = trunk_norm(encoder).running_mean.clone()
    features = encoder(torch.randn(2, *TINY_INPUTS[name]))
    assert features.shape == (2, 12) and encoder.out_dim == 12
    assert torch.equal(trunk_norm(encoder).running_mean, before)


def test_layer4_init_random_reproduces_the_reference_audio_accident(tmp_path):
    state = write_official(tmp_path / "h.pth", tiny("vggsound_r18_tiny").network, "vggsound")
    with pytest.warns(UserWarning):
        pretrained = tiny("vggsound_r18_tiny", weights=str(tmp_path / "h.pth")).network.state_dict()
        accident = tiny("vggsound_r18_tiny", weights=str(tmp_path / "h.pth"), layer4_init="random").network.state_dict()
    layer4 = "audnet.layer4.0.conv1.weight"
    assert torch.equal(pretrained[layer4], state[layer4]) and not torch.equal(accident[layer4], state[layer4])
    assert torch.equal(accident["audnet.layer3.0.conv1.weight"], state["audnet.layer3.0.conv1.weight"])


@pytest.mark.parametrize("name", ["tiny3d", "tiny2d", *TINY_INPUTS])
def test_every_encoder_says_its_width_and_backpropagates(name):
    shape = TINY_INPUTS.get(name, (3, 4, 16, 16) if name == "tiny3d" else (1, 20, 30))
    encoder = build_encoder(name, "m", shape[0], 16).train()
    features = encoder(torch.randn(2, *shape))
    assert features.shape == (2, encoder.out_dim) and isinstance(encoder.out_dim, int)
    features.sum().backward()
    with torch.no_grad():
        assert not encoder.eval()(torch.randn(2, *shape)).requires_grad


@pytest.mark.parametrize("spec, message", [
    ({"name": "tiny3d", "widht": 8}, "unknown setting 'model.encoders.video.widht' (did you mean 'width'?)"),
    ({"name": "slowfast_r101_8x8", "regime": "frozn"}, "'model.encoders.video.regime' must be one of"),
    ({"weights": "x.pth"}, "'model.encoders.video' needs a 'name'"),
    ({"name": "slowfast_r101"}, "unknown encoder 'slowfast_r101' in 'model.encoders.video' (did you mean"),
    ({"name": "r2plus1d_18", "regime": "reference"}, "must be one of finetune, frozen"),
    ({"name": "vggsound_r18", "regime": "frozen", "layer4_init": "random"}, "would keep a random layer4 fixed"),
    (["tiny3d"], "must be an encoder name or a mapping"),
])
def test_bad_encoder_settings_are_refused_in_one_sentence(spec, message):
    with pytest.raises(UserError) as err:
        load_config("synth", [], model__encoders={"video": spec, "audio": "tiny2d"})
    assert message in str(err.value)


def test_settings_reach_the_encoder():
    config = load_config("synth", ["model.encoders.video={name: tiny3d, width: 4}"])
    check_encoder_specs(config.model)
    encoder = build_encoder(config.model.encoders["video"], "video", 3, 8)
    assert encoder.body[0][0].out_channels == 4 and encoder.out_dim == 8


@pytest.mark.parametrize("name", list(MODELS))
def test_torchvision_models_give_their_feature_width(name):
    frames = 16 if name.startswith(("mvit", "s3d")) else 8
    with torch.device("meta"):
        encoder = build_encoder(name, "video", 3, 32)
        assert encoder(torch.empty(1, 3, frames, 224, 224)).shape == (1, encoder.out_dim)


def test_torchvision_file_loads_and_rgb_only(tmp_path):
    import torchvision

    torch.save(torchvision.models.video.mc3_18().state_dict(), tmp_path / "mc3.pth")
    with pytest.warns(UserWarning):
        encoder = build_encoder({"name": "mc3_18", "weights": str(tmp_path / "mc3.pth"), "regime": "frozen"},
                                "video", 3, 32)
    assert "loaded" in encoder.load_summary and encoder.out_dim == 32
    with pytest.raises(UserError, match="takes RGB clips"):
        build_encoder("mc3_18", "flow", 2, 32)


def test_known_torchvision_files_are_torchvision_s():
    import torchvision.models.video as video

    urls = {w.url for e in video.__dict__.values() if isinstance(e, type) and e.__name__.endswith("_Weights")
            for w in e if "KINETICS400_V1" in w.name or w.name == "KINETICS400_IMAGENET22K_V1"}
    known = {f.url for f in KNOWN_FILES.values() if f.url.startswith("https://download.pytorch.org")}
    assert known <= urls and {f.encoder for f in KNOWN_FILES.values()} <= set(ENCODERS.names())
