"""The synthetic set: real files in the HAC layout, deterministic, read back by the HAC loaders."""

import hashlib

import numpy as np
import pytest

from mmdg_bench.data import load_index
from mmdg_bench.data.decoding import read_audio, read_video
from mmdg_bench.data.synthetic import class_names, generate
from mmdg_bench.settings import SynthConfig

SMALL = dict(train_per_class=2, test_per_class=1)


def digest(root):
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.md5(p.read_bytes()).hexdigest() for p in files}


def test_layout_and_split_files(tmp_path):
    cfg = SynthConfig(**SMALL)
    root = generate(cfg, tmp_path / "s")
    for domain in cfg.domains:
        assert len(list((root / domain / "videos").glob("*.mp4"))) == cfg.classes * 3
        assert len(list((root / domain / "audio").glob("*.wav"))) == cfg.classes * 3
        raw = (root / "HAC_Splits" / f"HAC_train_only_{domain}.csv").read_bytes()
        assert raw.count(b"\r\n") == cfg.classes * 2  # CRLF, no header, like HAC
        assert raw.startswith(f"{class_names(cfg.classes)[0]}_train_000.mp4,0".encode())


def test_generation_is_deterministic_and_seeded(tmp_path):
    a = digest(generate(SynthConfig(**SMALL), tmp_path / "a"))
    b = digest(generate(SynthConfig(**SMALL), tmp_path / "b"))
    c = digest(generate(SynthConfig(**SMALL, seed=1), tmp_path / "c"))
    assert a == b
    assert a.keys() == c.keys() and a != c


def test_read_back_through_the_hac_index(tiny_config):
    config = tiny_config()
    index = load_index(config.data)
    assert index.domains == ["day", "night", "toon"]
    assert index.classes == class_names(4)
    counts = index.clips.groupby(["domain", "split"]).size()
    assert (counts.xs("train", level="split") == 16).all()
    row = index.clips.iloc[0]
    frames = read_video(row.video_path, num_frames=8)
    assert frames.shape == (8, 32, 32, 3) and frames.dtype == np.uint8
    audio = read_audio(row.audio_path, 16000, seconds=1.0)
    assert audio.shape == (16000,) and np.abs(audio).max() > 0.01


def test_protocol_keeps_the_target_out_of_training(tiny_config):
    index = load_index(tiny_config().data)
    parts = index.protocol("night")
    assert set(parts["train"].domain) == {"day", "toon"} and set(parts["train"].split) == {"train"}
    assert set(parts["val"].domain) == {"day", "toon"} and set(parts["val"].split) == {"test"}
    # HAC protocol: the target's train and test splits together.
    assert set(parts["target"].domain) == {"night"} and set(parts["target"].split) == {"train", "test"}


def test_domain_specific_tint_and_invariant_pitch(tmp_path):
    """Decoded files keep the designed cues: the tint depends on (class, domain), the pitch on class only."""
    cfg = SynthConfig(train_per_class=3, test_per_class=1, video_shortcut=1.0)
    root = generate(cfg, tmp_path / "s")
    names = class_names(cfg.classes)

    def mean_colour(domain, label):
        return np.mean([read_video(root / domain / "videos" / f"{names[label]}_train_{j:03d}.mp4", 8)
                        .reshape(-1, 3).mean(0) for j in range(3)], axis=0)

    def pitch(domain, label):
        samples = read_audio(root / domain / "audio" / f"{names[label]}_train_000.wav", 16000, 1.0)
        spectrum = np.abs(np.fft.rfft(samples))
        spectrum[:250] = 0  # ignore the domain's hum below 250 Hz
        return np.argmax(spectrum)  # 1 Hz bins for a 1 s clip

    def chroma(domain, label):
        rgb = mean_colour(domain, label)
        return rgb - rgb.mean()

    # Class y is tinted with colour (y + domain) mod K: class 0 in "night" looks like class 1 in "day".
    night0 = chroma("night", 0)
    assert np.linalg.norm(night0 - chroma("day", 1)) < 0.3 * np.linalg.norm(night0 - chroma("day", 0))
    for label in range(cfg.classes):
        expected = 300 * 2 ** (4 * label / cfg.classes)
        for domain in cfg.domains:
            assert pitch(domain, label) == pytest.approx(expected, rel=0.05)
