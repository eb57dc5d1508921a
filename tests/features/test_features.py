"""The feature cache of the frozen regime: build (views, key, atomic resumable shards), verify, and
training from it under every strategy without decoding. Tiny backbones with weight files written in
the official layouts, on a tiny synthetic set."""

import shutil

import pytest
import torch
from typer.testing import CliRunner

from mmdg_bench.cli import app
from mmdg_bench.config import load_config
from mmdg_bench.data import ClipDataset, load_index
from mmdg_bench.engine import train_run
from mmdg_bench.errors import UserError
from mmdg_bench.features import FeatureDataset, open_caches
from mmdg_bench.features.build import build_features, extraction_network
from mmdg_bench.features.cache import MANIFEST, cache_folder, clip_keys, load_shard, save_shard
from mmdg_bench.features.verify import verify_features
from mmdg_bench.models.encoders import build_encoder
from tests.models.test_backbones import write_official

VIEWS = 2
# Training views differ only through augmentation: the random-resized crop and flip are on.
SMALL = ["data.synth.classes=2", "data.synth.train_per_class=2", "data.synth.test_per_class=1",
         "data.video.train_augment=true",
         "data.cache_decoded=false", "features.shard_clips=4", f"features.views={VIEWS}", "optim.batch_size=4",
         "optim.epochs=3", "threads=1"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    write_official(folder / "video.pth", build_encoder("slowfast_tiny", "video", 3, 8).network, "mmaction2")
    write_official(folder / "audio.pth", build_encoder("vggsound_r18_tiny", "audio", 1, 8).network, "vggsound")
    return folder


def settings(weights, features_dir, *extra: str) -> list[str]:
    return [*SMALL, f"model.weights_dir={weights}", f"features.dir={features_dir}",
            "model.encoders.video={name: slowfast_tiny, weights: video.pth, regime: frozen, dropout: 0.0}",
            "model.encoders.audio={name: vggsound_r18_tiny, weights: audio.pth, regime: frozen}", *extra]


@pytest.fixture(scope="module")
def built(weights, tmp_path_factory):
    """(settings, report) of a cache built once for the module; tests that damage it copy it first."""
    overrides = settings(weights, tmp_path_factory.mktemp("features"))
    with pytest.warns(UserWarning, match="not one of the known weight files"):
        report = build_features(load_config("synth", overrides))
    return overrides, report


def copy_of(built, tmp_path) -> list[str]:
    overrides, report = built
    folder = next(iter(report.folders.values())).parent
    shutil.copytree(folder, tmp_path / "features")
    return [*overrides, f"features.dir={tmp_path / 'features'}"]


def test_the_cache_holds_the_frozen_networks_centre_and_augmented_views(built):
    overrides, report = built
    config = load_config("synth", overrides)
    index = load_index(config.data)
    clips = index.clips
    train_clips = clips[clips.split == "train"]
    assert report.views_computed == 2 * (len(clips) + VIEWS * len(train_clips))  # two modalities
    caches = open_caches(config)
    eval_set = ClipDataset(clips, ["video"], config.data, index.domains)
    train_set = ClipDataset(train_clips, ["video"], config.data, index.domains, train=True, seed=config.features.seed)
    with pytest.warns(UserWarning):
        network = extraction_network(config, "video")
    with torch.no_grad():
        centre = network.top(network.trunk(eval_set[5]["video"][None]))[0]
        view_one = network.top(network.trunk(train_set[(3, 1)]["video"][None]))[0]
    torch.testing.assert_close(caches["video"].rows("eval", clip_keys(clips.iloc[[5]]))[0], centre)
    torch.testing.assert_close(caches["video"].rows("train", clip_keys(train_clips.iloc[[3]]))[0, 1], view_one)
    assert not torch.allclose(caches["video"].rows("train", clip_keys(train_clips.iloc[[3]]))[0, 0], view_one)


def test_training_epochs_cycle_through_the_views(built):
    config = load_config("synth", built[0])
    index = load_index(config.data)
    train_clips = index.clips[index.clips.split == "train"]
    caches = open_caches(config)
    dataset = FeatureDataset(train_clips, caches, index.domains, train=True)
    views = caches["audio"].rows("train", clip_keys(train_clips))
    for epoch in (1, 2, 3):
        assert torch.equal(dataset[(4, epoch)]["audio"], views[4, (epoch - 1) % VIEWS])
    assert torch.equal(dataset[4]["audio"], caches["audio"].rows("eval", clip_keys(train_clips.iloc[[4]]))[0])
    assert dataset[4]["label"] == int(train_clips.label.iloc[4])


def test_the_cache_key_follows_what_the_features_depend_on(built, weights, tmp_path):
    overrides = built[0]
    folder = cache_folder(load_config("synth", overrides), "video")
    assert cache_folder(load_config("synth", [*overrides, "optim.lr=0.1", "seed=3"]), "video") == folder
    for change in ("data.video.size=28", "features.views=3", "features.seed=1", "data.video.stride=2"):
        assert cache_folder(load_config("synth", [*overrides, change]), "video") != folder, change
    other = tmp_path / "other"
    other.mkdir()
    (other / "video.pth").write_bytes((weights / "video.pth").read_bytes() + b"\0")  # other bytes, same name
    assert cache_folder(load_config("synth", [*overrides, f"model.weights_dir={other}"]), "video") != folder


def test_a_killed_build_resumes_keeping_finished_shards(built, tmp_path):
    config = load_config("synth", copy_of(built, tmp_path))
    video = cache_folder(config, "video")
    (video / MANIFEST).unlink()  # the kill came before the manifest
    lost = load_shard(video / "train-00001.pt")
    (video / "train-00001.pt").unlink()  # ... and before this shard was renamed into place
    (video / ".train-00002.pt.tmp-999").write_bytes(b"half")
    kept = (video / "eval-00000.pt").stat().st_mtime_ns
    with pytest.warns(UserWarning):
        report = build_features(config)
    assert report.views_computed == 4 * VIEWS  # that shard's 4 clips, nothing else
    assert (video / "eval-00000.pt").stat().st_mtime_ns == kept
    assert not list(video.glob(".*tmp*"))
    assert all(check.ok for check in verify_features(config))
    redone = load_shard(video / "train-00001.pt")  # the same augmented views as the uninterrupted build
    assert redone["keys"] == lost["keys"] and torch.equal(redone["features"], lost["features"])


def test_verify_finds_missing_clips_bad_shapes_and_non_finite_features(built, tmp_path):
    config = load_config("synth", copy_of(built, tmp_path))
    assert all(check.ok for check in verify_features(config))
    audio = cache_folder(config, "audio")
    shard = load_shard(audio / "eval-00001.pt")
    save_shard(audio / "eval-00001.pt", shard["keys"][1:], shard["features"][1:])
    shard = load_shard(audio / "train-00000.pt")
    save_shard(audio / "train-00000.pt", shard["keys"], shard["features"] * float("nan"))
    shard = load_shard(audio / "train-00001.pt")
    save_shard(audio / "train-00001.pt", shard["keys"], shard["features"][:, :1])
    checks = {check.modality: check for check in verify_features(config)}
    assert checks["video"].ok
    problems = " | ".join(checks["audio"].problems)
    assert "1 clip(s) have no eval features" in problems
    assert "train-00000.pt holds NaN or infinite features" in problems
    dim = load_shard(audio / "eval-00000.pt")["features"].shape[1]
    assert f"train-00001.pt holds features of shape (1, {dim}), not ({VIEWS}, {dim})" in problems


def test_verify_and_build_on_the_command_line(built, tmp_path):
    overrides = copy_of(built, tmp_path)
    args = [arg for setting in overrides for arg in ("--set", setting)]
    runner = CliRunner()
    ok = runner.invoke(app, ["features", "verify", *args])
    assert ok.exit_code == 0 and "video: ok" in ok.output
    (cache_folder(load_config("synth", overrides), "video") / "eval-00000.pt").unlink()
    damaged = runner.invoke(app, ["features", "verify", *args])
    assert damaged.exit_code == 1 and "shard eval-00000.pt is missing or unreadable" in damaged.output
    rebuilt = runner.invoke(app, ["features", "build", *args])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "kept" in rebuilt.output and runner.invoke(app, ["features", "verify", *args]).exit_code == 0


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["baseline", "ogm-ge", "grad-blending", "pcgrad", "gmp"])
def test_every_strategy_trains_adapters_and_heads_from_the_cache_without_decoding(built, tmp_path, monkeypatch,
                                                                                  strategy):
    extra = ["strategy.grad-blending.holdout_fraction=0.5"] if strategy == "grad-blending" else []
    config = load_config("synth", [*built[0], "data.source=features", *extra], strategy__name=strategy)
    monkeypatch.setattr(ClipDataset, "__getitem__", lambda *args: pytest.fail("a clip was decoded"))
    result = train_run(config, "night", tmp_path)
    assert result.summary["clips"]["train"] > 0 and len(result.summary["selection"]) == 3
    weights = torch.load(result.path / "weights" / "last.pt", weights_only=True)
    assert "encoders.video.adapter.weight" in weights
    assert not any(".network." in key for key in weights)  # no backbone in the model


def test_a_run_without_its_cache_names_the_build_command(built, tmp_path):
    config = load_config("synth", [*built[0], "data.source=features", "features.views=3",
                                   f"features.dir={tmp_path}"])
    with pytest.raises(UserError, match=r"no finished feature cache for video .* `mmdg-bench features build "
                                        r"--preset synth --views 3`"):
        train_run(config, "night", tmp_path / "runs")


def test_features_need_the_frozen_regime(built, tmp_path):
    """Refused as the config loads, so `presets validate` says it too, before any run starts."""
    with pytest.raises(UserError, match="set model.encoders.audio.regime=frozen"):
        load_config("synth", [*built[0], "data.source=features",
                              "model.encoders.audio={name: vggsound_r18_tiny, regime: reference}"])


def test_a_bad_source_or_decoder_is_one_sentence():
    with pytest.raises(UserError, match="'data.source' must be one of clips, features, got 'feature'"):
        load_config("synth", ["data.source=feature"])
    with pytest.raises(UserError, match="'data.video.decode' must be one of cpu, gpu"):
        load_config("synth", ["data.video.decode=cuda"])
    with pytest.raises(UserError, match="'features.views' must be a number >= 0|'features.views' must be a number > 0"):
        load_config("synth", ["features.views=0"])


def test_runs_from_clips_keep_their_folder_names(tiny_config, monkeypatch):
    """The new settings at their defaults leave the config hash as it was before they existed."""
    import mmdg_bench.settings as config_module

    config = tiny_config()
    real = config.hash("day")
    before = config.to_dict()  # the settings as they were before data.source, *.decode, *.past_end and features
    before.pop("features")
    before["data"].pop("source")
    for key in ("video_noise", "target_shortcut"):  # the synthetic set's later knobs (issue 20)
        before["data"]["synth"].pop(key)
    for section in ("video", "flow"):
        before["data"][section].pop("decode")
        before["data"][section].pop("past_end")
    monkeypatch.setattr(config_module, "drop_default_extensions", lambda settings: None)
    monkeypatch.setattr(config_module.Config, "to_dict", lambda self: before)
    assert config.hash("day") == real
    monkeypatch.undo()
    frozen = ["model.encoders.video={name: slowfast_tiny, regime: frozen}",
              "model.encoders.audio={name: vggsound_r18_tiny, regime: frozen}"]  # what data.source=features needs
    assert tiny_config("data.source=features", *frozen).hash("day") != tiny_config(*frozen).hash("day")
    assert tiny_config("data.video.past_end=clamp").hash("day") != real


def test_one_view_keeps_centre_and_training_views_apart(weights, tmp_path):
    config = load_config("synth", settings(weights, tmp_path, "features.views=1", "data.modalities=[audio]"))
    with pytest.warns(UserWarning):
        build_features(config)
        network = extraction_network(config, "audio")
    index = load_index(config.data)
    first = index.clips.iloc[[0]]
    centre = ClipDataset(first, ["audio"], config.data, index.domains)[0]["audio"]
    with torch.no_grad():
        expected = network.top(network.trunk(centre[None]))[0]
    cache = open_caches(config)["audio"]
    torch.testing.assert_close(cache.rows("eval", clip_keys(first))[0], expected)
    assert cache.rows("train", clip_keys(first)).shape == (1, 1, cache.dim)


@pytest.mark.parametrize("decode, start", [("gpu", "spawn"), ("cpu", None)])
def test_a_build_that_decodes_on_the_gpu_checks_cuda_and_spawns_its_workers(weights, tmp_path, monkeypatch,
                                                                            decode, start):
    """CUDA cannot run in a worker forked from the build (its network is on the GPU by then): GPU-decoding
    workers are spawned. No worker starts here: the first loader is looked at, then the build stops."""
    import mmdg_bench.features.build as build

    class Looked(Exception):
        pass

    def look(network, loader, *args):
        context = loader.multiprocessing_context
        raise Looked(context and context.get_start_method())

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(build, "pooled_features", look)
    config = load_config("synth", settings(weights, tmp_path, f"data.video.decode={decode}", "data.num_workers=2",
                                           "data.modalities=[video]"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if decode == "gpu":
        with pytest.raises(UserError, match="'data.video.decode' is gpu but CUDA is not available"):
            build_features(config)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(Looked) as looked, pytest.warns(UserWarning, match="not one of the known weight files"):
        build_features(config)
    assert looked.value.args[0] == start


@pytest.mark.e2e
def test_spawned_gpu_decoding_workers_build_the_same_cache(built, weights, tmp_path, monkeypatch):
    """The spawned workers unpickle the clip dataset and give the features a build without workers gives.
    (No GPU here: the synthetic set is mp4, which decodes on the CPU whatever `decode` says; only the
    parent is told CUDA is there.)"""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)), raising=False)
    overrides = settings(weights, tmp_path, "data.video.decode=gpu", "data.num_workers=1", "data.modalities=[video]",
                         "features.shard_clips=64")  # two loaders: each starts its worker, in seconds
    config = load_config("synth", overrides)
    with pytest.warns(UserWarning, match="not one of the known weight files"):
        build_features(config)
    assert all(check.ok for check in verify_features(config))
    clips = load_index(config.data).clips
    spawned, reference = open_caches(config)["video"], open_caches(load_config("synth", built[0]))["video"]
    for kind, keys in (("eval", clip_keys(clips)), ("train", clip_keys(clips[clips.split == "train"]))):
        torch.testing.assert_close(spawned.rows(kind, keys), reference.rows(kind, keys))


@pytest.mark.parametrize("device, pinned", [("cuda", True), ("cpu", False)])
def test_a_build_pins_its_batches_on_a_gpu_only(weights, tmp_path, monkeypatch, device, pinned):
    """Page-locked batches copy to a GPU faster and without blocking; on the CPU pinning is wasted work. No
    network runs here: the first loader is looked at, then the build stops."""
    import mmdg_bench.features.build as build

    class Looked(Exception):
        pass

    def look(network, loader, *args):
        raise Looked(loader.pin_memory)

    monkeypatch.setattr(build, "resolve_device", lambda name: device)
    monkeypatch.setattr(build, "extraction_network", lambda config, modality: torch.nn.Identity())
    monkeypatch.setattr(build, "pooled_features", look)
    config = load_config("synth", settings(weights, tmp_path, "data.modalities=[audio]"))
    with pytest.raises(Looked) as looked:
        build_features(config)
    assert looked.value.args[0] is pinned
