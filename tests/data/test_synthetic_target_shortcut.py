"""`data.synth.target_shortcut` and `data.synth.video_noise`: what the colour cue does on a run's held-out
domain, and the pixel noise; at their defaults the set, its cache folder and every run folder name are
those from before the settings existed."""

import hashlib

import numpy as np
import pytest

from mmdg_bench.config import load_config
from mmdg_bench.data import load_index
from mmdg_bench.data.decoding import read_video
from mmdg_bench.data.synthetic import TINT, _palette, cached_root, class_names, generate, render_audio, render_video
from mmdg_bench.errors import UserError
from mmdg_bench.settings import SynthConfig

# Every clip follows its domain's colour map on the sources, so a held-out tint is compared with a known one.
FOLLOWS = dict(train_per_class=4, test_per_class=2, video_shortcut=1.0)


def digest(root, skip=("synth.json",)):
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name not in skip}


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """The same small set generated under each mode."""
    folder = tmp_path_factory.mktemp("modes")
    return {mode: generate(SynthConfig(**FOLLOWS, target_shortcut=mode), folder / mode)
            for mode in ("flipped", "absent", "random")}


def held_out_tints(root, mode, cfg):
    """Per held-out clip: (domain, label, its tint), recovered as the source tint plus the change in mean
    colour over the source rendering (the two renderings share the blob, the noise and the style)."""
    palette, names, tints = _palette(cfg.classes), class_names(cfg.classes), []
    for d, domain in enumerate(cfg.domains):
        for label in range(cfg.classes):
            for split, n in (("train", cfg.train_per_class), ("test", cfg.test_per_class)):
                for j in range(n):
                    name = f"{names[label]}_{split}_{j:03d}.mp4"
                    source = read_video(root / domain / "videos" / name, cfg.frames).reshape(-1, 3).mean(0)
                    held = read_video(root / f"held-out-{mode}" / domain / "videos" / name, cfg.frames)
                    shift = (held.reshape(-1, 3).mean(0) - source) / TINT
                    tints.append((d, label, palette[(label + d) % cfg.classes] + shift))
    return tints


def nearest(tint, palette):
    return int(np.argmin(np.linalg.norm(palette - tint, axis=1)))


def test_flipped_is_todays_set_with_no_second_rendering(sets):
    assert not any(p.name.startswith("held-out") for p in sets["flipped"].iterdir())


def test_random_colour_is_a_palette_colour_apart_from_the_class(sets):
    cfg = SynthConfig(**FOLLOWS)
    palette = _palette(cfg.classes)
    tints = held_out_tints(sets["random"], "random", cfg)
    colours = [nearest(tint, palette) for _, _, tint in tints]
    # Each recovered tint is one of the palette's colours, not a blend ...
    assert max(np.linalg.norm(palette[c] - tint) for c, (_, _, tint) in zip(colours, tints)) < 25
    # ... that agrees with the domain's colour map about as often as chance (1/4 over 72 clips) ...
    agree = np.mean([c == (label + d) % cfg.classes for c, (d, label, _) in zip(colours, tints)])
    assert 0.08 < agree < 0.45
    # ... and every class shows several colours.
    for label in range(cfg.classes):
        assert len({c for c, (_, y, _) in zip(colours, tints) if y == label}) >= 3


def test_absent_gives_every_class_the_same_grey(sets):
    cfg = SynthConfig(**FOLLOWS)
    palette = _palette(cfg.classes)
    grey = palette.mean(axis=0)
    tints = held_out_tints(sets["absent"], "absent", cfg)
    # Every held-out clip carries the mean colour, far from each class colour (>= 100 apart for 4 classes).
    assert max(np.linalg.norm(tint - grey) for _, _, tint in tints) < 15
    assert min(np.linalg.norm(palette - grey, axis=1)) > 100


def test_flipped_map_holds_on_the_held_out_domain(sets):
    """Under flipped a held-out domain reads its source clips, whose colour follows (y + domain) mod K."""
    cfg = SynthConfig(**FOLLOWS)
    palette = _palette(cfg.classes)
    index = load_index(load_config("synth", [f"data.root={sets['flipped']}"]).data)
    target = index.protocol("night")["target"]
    assert target.video_path.str.contains("/night/videos/").all()
    chroma = np.array([np.mean([read_video(p, cfg.frames).reshape(-1, 3).mean(0)
                                for p in target[target.label == y].video_path], axis=0) for y in range(cfg.classes)])
    # Centred over the classes, the style cancels and the tints remain (every colour is used once).
    tints = (chroma - chroma.mean(axis=0)) / TINT
    assert [nearest(t, palette - palette.mean(axis=0)) for t in tints] == [(y + 1) % cfg.classes
                                                                            for y in range(cfg.classes)]


@pytest.mark.parametrize("mode", ["absent", "random"])
def test_sources_are_the_same_clips_under_every_mode(sets, mode):
    """Only the held-out renderings are added: every source file is byte-identical to the flipped set's."""
    made = digest(sets[mode])
    assert {k: v for k, v in made.items() if not k.startswith("held-out")} == digest(sets["flipped"])
    assert sum(k.startswith(f"held-out-{mode}/") for k in made) == 3 * 4 * 6  # videos only, every domain


@pytest.mark.parametrize("mode", ["absent", "random"])
def test_a_run_reads_its_targets_held_out_videos_and_nothing_else(sets, mode):
    config = load_config("synth", [f"data.root={sets[mode]}", f"data.synth.target_shortcut={mode}"])
    index = load_index(config.data)
    before = index.clips.copy()
    parts = index.protocol("toon")
    assert all(f"/held-out-{mode}/toon/videos/" in p for p in parts["target"].video_path)
    assert all("/held-out-" not in p for part in ("train", "val") for p in parts[part].video_path)
    assert all("/held-out-" not in p for p in parts["target"].audio_path)  # audio is the source's
    assert index.clips.equals(before)  # the next target starts from the source clips again
    assert all(f"/held-out-{mode}/day/" in p for p in index.protocol("day")["target"].video_path)


def test_default_rendering_is_the_one_from_before_the_settings():
    """Hashes of clips rendered before `video_noise` and `target_shortcut` existed (pixel noise 12)."""
    cfg = SynthConfig()
    hashes = []
    for key in ([0, 0, 0, 0, 0], [0, 2, 1, 3, 5]):
        rng = np.random.default_rng(key)
        video, audio = render_video(rng, key[3], key[1], cfg), render_audio(rng, key[3], key[1], cfg)
        hashes.append(tuple(hashlib.sha256(a.tobytes()).hexdigest()[:16] for a in (video, audio)))
    assert hashes == [("40eaded5a78c138f", "b7a71b7a7f3ae802"), ("763b3559cc014798", "abc7a6e05c1f24d0")]
    # The held-out rendering under "flipped" is the source clip itself.
    same = render_video(np.random.default_rng([0, 2, 1, 3, 5]), 3, 2, cfg, held_out=True)
    assert hashlib.sha256(same.tobytes()).hexdigest()[:16] == "763b3559cc014798"


def test_video_noise_sets_the_pixel_noise():
    """The same clip at three noise levels: the added pixel noise scales with the setting (clipped at 0 and 255)."""
    def render(noise):
        return render_video(np.random.default_rng(0), 1, 0, SynthConfig(video_noise=noise)).astype(float)

    quiet = render(0.0)
    assert 9 < np.std(render(12.0) - quiet) <= 12.5 and 28 < np.std(render(40.0) - quiet) <= 40.5


def test_defaults_keep_the_cache_folder_and_the_committed_run_names(tmp_path):
    from mmdg_bench.engine.run_folder import run_folder_of

    assert cached_root(SynthConfig()).name == "synth-f93b001d57"  # the set every committed run read
    assert cached_root(SynthConfig(video_noise=12)).name == "synth-f93b001d57"
    assert cached_root(SynthConfig(target_shortcut="random")) != cached_root(SynthConfig())

    def folder(*overrides, strategy="gmp") -> str:
        config = load_config("synth", ["keep_weights=false", *overrides], strategy__name=strategy)
        return run_folder_of(config, "day", tmp_path).path.name

    committed = "synth__gmp__day__seed0__5c97a2143e"  # results/synth/runs holds it
    assert folder() == committed
    assert folder("data.synth.target_shortcut=flipped", "data.synth.video_noise=12") == committed
    assert folder("data.synth.target_shortcut=random") != committed
    assert folder("data.synth.target_shortcut=absent") not in (committed, folder("data.synth.target_shortcut=random"))
    assert folder("data.synth.video_noise=6") != committed


@pytest.mark.parametrize(("override", "words"), [
    ("data.synth.target_shortcut=flip", "must be one of flipped, absent, random, got 'flip'"),
    ("data.synth.target_shortcut=3", "'data.synth.target_shortcut' must be str"),
    ("data.synth.video_noise=-1", "'data.synth.video_noise' must be"),
])
def test_bad_values_are_one_sentence(override, words):
    with pytest.raises(UserError) as err:
        load_config("synth", [override])
    assert words in str(err.value) and "\n" not in str(err.value)


def test_a_data_root_of_another_mode_and_the_feature_cache_are_refused(sets):
    with pytest.raises(UserError, match="generated with data.synth.target_shortcut 'flipped', not 'random'"):
        load_index(load_config("synth", [f"data.root={sets['flipped']}", "data.synth.target_shortcut=random"]).data)
    data = load_config("synth", [f"data.root={sets['absent']}"]).data
    data.source = "features"  # what a frozen-regime config says (its encoders' settings do not matter here)
    with pytest.raises(UserError, match="feature cache does not hold"):
        load_index(data)
