"""The settings of a run: dataclasses filled from a YAML preset plus dotted `--set key=value` overrides.

This is the schema at the bottom of the package: every key is checked against the dataclasses below
as it is read, and every number against its range (`LIMITS`); an unknown key or a value of the wrong
type is a `UserError` that names the key and suggests the closest one (torchtune's config parsing
habit). Checking a config against the registries (strategies, methods, encoders) happens one floor
up, in `mmdg_bench/config.py`, which also loads plugins.
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import functools
import hashlib
import json
import math
import os
import re
import shlex
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mmdg_bench.errors import UserError, check_choice, did_you_mean

PRESET_DIR = Path(__file__).resolve().parent / "presets"  # package data: a wheel ships them


@dataclass
class SynthConfig:
    """Knobs of the embedded synthetic dataset; see `mmdg_bench/data/synthetic.py` for their effect."""

    domains: list[str] = field(default_factory=lambda: ["day", "night", "toon"])
    classes: int = 4
    train_per_class: int = 32  # clips per class and domain in the train split
    test_per_class: int = 16  # clips per class and domain in the test split
    frames: int = 8
    size: int = 32  # frame height = width, pixels
    fps: int = 8
    sample_rate: int = 16000
    seconds: float = 1.0
    video_shortcut: float = 0.8  # P(colour cue follows the clip's domain-specific colour map)
    video_motion: float = 1.5  # contrast of the domain-invariant moving blob
    audio_snr_db: float = -18.0  # class tone vs. noise: lower = audio learned more slowly
    domain_shift: float = 1.0  # strength of each domain's style (background, texture, noise colour)
    seed: int = 0
    video_noise: float = 12.0  # std of each pixel's Gaussian noise (0..255): video's counterpart of audio_snr_db
    # What the colour cue does on the held-out (target) domain of a run: "flipped": its own colour map, which
    # gives each class the colour of another class on the sources (misleads); "absent": one grey for every
    # class (no cue); "random": a colour drawn apart from the class (noise). The sources' clips never change.
    target_shortcut: str = "flipped"

    def check(self) -> None:
        check_choice(self.target_shortcut, TARGET_SHORTCUTS, "'data.synth.target_shortcut'")


TARGET_SHORTCUTS = ("flipped", "absent", "random")
# Knobs of the synthetic set added after runs were recorded, at the values that render the clips those runs
# read byte for byte: left out of config hashes, the set's cache folder name and its manifest at these values.
SYNTH_LATER_DEFAULTS = {"video_noise": 12.0, "target_shortcut": "flipped"}


FRAME_SAMPLING = ("jitter", "centre")
FRAMES_PAST_END = ("loop", "clamp")
FRAME_DECODERS = ("cpu", "gpu")


@dataclass
class FramesConfig:
    """Frame sampling and pre-processing shared by RGB video and optical flow. The defaults suit the
    synthetic set on a CPU; SimMMDG's reference values (its mmaction configs) are in the comments."""

    num_frames: int = 8  # frames sampled per clip (reference: video 32, flow 8)
    stride: int = 1  # sampling interval between frames (reference: video 2, flow 4)
    # Training clips: "jitter" starts the frames at a random point of the clip (SimMMDG's SampleFrames in
    # training), "centre" centres them as evaluation always does (what data.cache_decoded needs).
    sampling: str = "jitter"
    # A clip shorter than num_frames x stride: "loop" wraps its frames back to its start (SimMMDG's
    # SampleFrames, out_of_bound_opt='loop'), "clamp" repeats its last frame (this benchmark before).
    past_end: str = "loop"
    size: int = 32  # side of the square model input in training, pixels (reference: 224)
    eval_size: int = 0  # side of the centre crop outside training; 0: `size` (reference flow: 256, trained at 224)
    resize_short: int = 0  # short side resized to this, then cropped to `size` (reference: 256); 0: straight resize
    train_augment: bool = False  # training clips: random-resized crop + flip, not the centre crop (reference: true)
    crop_scale: list[float] = field(default_factory=lambda: [0.08, 1.0])  # area share of the random-resized crop
    crop_ratio: list[float] = field(default_factory=lambda: [0.75, 4 / 3])  # aspect ratio range of that crop
    mean: list[float] = field(default_factory=lambda: [123.675, 116.28, 103.53])  # per channel, 0..255 scale
    std: list[float] = field(default_factory=lambda: [58.395, 57.12, 57.375])
    # JPEG frame folders (EPIC-Kitchens' SimMMDG layout): "cpu" (PyAV) or "gpu" (torchvision's nvJPEG, a
    # clip's frames in one batch; CUDA needed; loader workers are then spawned, not forked). mp4 files are always
    # decoded on the CPU.
    decode: str = "cpu"

    def check(self, section: str, channels: int) -> None:
        """Raise a UserError naming the first setting of `data.<section>` that cannot work (single
        numbers are range-checked as they are read, see LIMITS)."""
        if not 0 <= self.eval_size <= 4096:
            raise UserError(f"'data.{section}.eval_size' must be positive, or 0 for 'size', and at most 4096, "
                            f"got {shown(self.eval_size)}")
        check_choice(self.sampling, FRAME_SAMPLING, f"'data.{section}.sampling'")
        check_choice(self.past_end, FRAMES_PAST_END, f"'data.{section}.past_end'")
        if len(self.mean) != channels or len(self.std) != channels:
            raise UserError(f"'data.{section}.mean' and '.std' need {channels} values, one per channel")
        check_choice(self.decode, FRAME_DECODERS, f"'data.{section}.decode'")
        for key in ("crop_scale", "crop_ratio"):
            low_high = getattr(self, key)
            if len(low_high) != 2 or not 0 < low_high[0] <= low_high[1]:
                raise UserError(f"'data.{section}.{key}' must be [low, high], 0 < low <= high, got {low_high}")


@dataclass
class VideoConfig(FramesConfig):
    """RGB frames, 3 channels."""


@dataclass
class FlowConfig(FramesConfig):
    """Optical flow frames, 2 channels (u, v) stored as 0..255 images around 128 (TV-L1 as JPEG/mp4)."""

    stride: int = 4  # SimMMDG: 8 flow frames at interval 4
    mean: list[float] = field(default_factory=lambda: [128.0, 128.0])  # SimMMDG: flow mean/std 128
    std: list[float] = field(default_factory=lambda: [128.0, 128.0])


AUDIO_FEATURES = ("logmel", "spectrogram")


@dataclass
class AudioConfig:
    sample_rate: int = 16000
    seconds: float = 1.0  # audio window per clip from its start; shorter audio is tiled (SimMMDG: 10)
    features: str = "logmel"  # "logmel": cheap on a CPU; "spectrogram": SimMMDG's 257x1004 log spectrogram
    n_fft: int = 400  # STFT window in samples (reference spectrogram: 512)
    hop_length: int = 160  # STFT hop in samples (reference: 159, i.e. overlap 353)
    n_mels: int = 40  # mel bands, logmel only
    train_noise: float = 0.0  # training clips: uniform noise of this amplitude on the features (reference: 0.05)
    band_mask_rows: int = 0  # training clips: one random band of this many frequency rows zeroed (reference: 9)
    # A whole-file clip's audio is the span of its sampled video frames (of flow frames without video),
    # [first, last] timed at this fps (SimMMDG and MMDG-Bench assume 24 for HAC); 0: the audio from 0 s to its
    # end. Clips with start_time/stop_time (EPIC-Kitchens) are cut by those instead.
    frame_rate: float = 24.0

    def check(self) -> None:
        check_choice(self.features, AUDIO_FEATURES, "'data.audio.features'")
        bins = self.n_fft // 2 + 1  # the frequency bins of an STFT window: mel bands beyond them are empty
        if self.features == "logmel" and self.n_mels > bins:
            raise UserError(f"'data.audio.n_mels' must be at most n_fft / 2 + 1 = {bins} (data.audio.n_fft is "
                            f"{self.n_fft}), got {self.n_mels}")


EPIC_LAYOUTS = ("auto", "simmmdg", "mmdg-bench")
DATA_SOURCES = ("clips", "features")


@dataclass
class DataConfig:
    dataset: str = "synth"
    root: str | None = None  # None: synth generates into its cache folder
    layout: str = "auto"  # EPIC-Kitchens files: "simmmdg" (frame folders), "mmdg-bench" (mp4 per clip), "auto"
    # "clips": decode media every epoch; "features": read the pooled backbone features that
    # `mmdg-bench features build` cached (every encoder in regime frozen; only adapters and heads train)
    source: str = "clips"
    modalities: list[str] = field(default_factory=lambda: ["video", "audio"])
    num_workers: int = 0
    prefetch: int = 2  # batches each loader worker prepares ahead (with num_workers > 0)
    # keep decoded clips in memory after the first epoch (needs centred sampling, so off by default: the
    # default sampling is SimMMDG's jitter, and a preset that says nothing must load)
    cache_decoded: bool = False
    on_corrupt: str = "error"  # "error": stop naming the file; "skip": drop the clip and report
    video: VideoConfig = field(default_factory=VideoConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)

    def check(self) -> None:
        """Raise a UserError for settings of `data` that cannot work together."""
        check_choice(self.source, DATA_SOURCES, "'data.source'")
        check_choice(self.layout, EPIC_LAYOUTS, "'data.layout'")
        repeated = sorted({m for m in self.modalities if self.modalities.count(m) > 1})
        if repeated:
            raise UserError(f"'data.modalities' names {repeated[0]} twice; name each modality once")
        self.video.check("video", 3)
        self.flow.check("flow", 2)
        self.audio.check()
        self.synth.check()
        # The frames a clip is sampled at: those of its frame modalities; audio alone is timed by the video's.
        sampled = [m for m in ("video", "flow") if m in self.modalities] or ["video"] * ("audio" in self.modalities)
        jittered = [m for m in sampled if getattr(self, m).sampling == "jitter"]
        if self.cache_decoded and jittered:
            raise UserError(f"'data.cache_decoded' keeps one decoded clip, so it needs "
                            f"'data.{jittered[0]}.sampling: centre'; set one or the other")


@dataclass
class FeaturesConfig:
    """The feature cache of the `frozen` regime (`mmdg-bench features build`, mmdg_bench/features/)."""

    dir: str | None = None  # folder of the caches; null: $MMDG_BENCH_CACHE/features (~/.cache/mmdg-bench/features)
    views: int = 5  # augmented views per training clip; training epoch e reads view (e-1) mod views
    seed: int = 0  # seed of the views' augmentation: one cache serves every trial seed of a sweep
    batch_size: int = 4  # clips per backbone forward while building
    shard_clips: int = 64  # clips per shard file: a killed build loses at most one shard's work


@dataclass
class ModelConfig:
    # per modality: an encoder name, or {name: ..., <its settings>} (mmdg_bench/models/encoders.py)
    encoders: dict[str, Any] = field(default_factory=lambda: {"video": "tiny3d", "audio": "tiny2d"})
    weights_dir: str | None = None  # folder of weight files; null: $MMDG_BENCH_WEIGHTS or ~/.cache/mmdg-bench/weights
    feature_dim: int = 64
    head_hidden: int = 64  # GMP's paper uses 256-d MLP heads
    grl_coeff: float = 0.3  # gradient-reversal coefficient (GMP author code default)
    fusion: str = "concat"  # the fused classifier: concat, sum, film, gated or late (mmdg_bench/models/fusion.py)


@dataclass
class LossConfig:
    # What L_c (and so GMP's g_c) holds, one setting for every strategy (see mmdg_bench/losses.py):
    # "paper": the fused classifier's CE only (GMP Eq. 1-5); the unimodal heads learn on detached
    # features, measuring per-modality accuracy and confidence without steering the encoders;
    # "author": the first author's code: g_c of modality m is unimodal_weight x CE of its own head,
    # the fused CE is back-propagated unmodulated; "both": fused and weighted unimodal CEs in L_c.
    classification: str = "paper"
    unimodal_weight: float = 3.0  # weight of each unimodal-head CE (GMP author code default)
    domain_weight: float = 0.5  # lambda in L = L_c + lambda L_d (GMP)


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 32
    epochs: int = 12


@dataclass
class StrategyConfig:
    name: str = "baseline"
    params: dict[str, Any] = field(default_factory=dict)  # the chosen strategy's hyper-parameters


@dataclass
class MethodConfig:
    name: str = "erm"  # the MMDG method (mmdg_bench/methods/): erm, or one that adds modules and loss terms
    params: dict[str, Any] = field(default_factory=dict)  # the chosen method's hyper-parameters


# How a run executes, not what it computes (dotted paths): left out of its config hash, so a run keeps
# its folder whether it trains alone or in a sweep's worker pool; `model.weights_dir` says where the weight
# files lie, not which ones (their names stay in the hash).
EXECUTION_SETTINGS = ("threads", "keep_weights", "channels_last", "compile", "plugins", "loggers",
                      "data.num_workers", "data.prefetch", "data.cache_decoded", "model.weights_dir")
# Settings that never split a leaderboard row (mmdg_bench/results/collect.py): how a run executes, the
# seed (which pairs runs), the preset's name (its settings are compared one by one), where the data lies,
# and the device, precision and determinism (`compare` notes a cell whose runs differ in them).
NOT_ROW_SETTINGS = (*EXECUTION_SETTINGS, "seed", "preset", "device", "precision", "deterministic", "data.root")


@dataclass
class Config:
    preset: str = "synth"
    seed: int = 0
    device: str = "cpu"
    threads: int = 0  # torch intra-op threads; 0 = torch's default
    deterministic: bool = False  # torch's deterministic algorithms (+ cuDNN/cuBLAS settings on a GPU)
    keep_weights: bool = True  # keep the last and best-val epochs' trainable weights in the run folder (evaluate)
    precision: str = "fp32"  # "bf16": forward passes under bfloat16 autocast (mmdg_bench/engine/acceleration.py)
    channels_last: bool = True  # on a GPU: encoders and clips in channels-last memory order
    compile: bool = False  # torch.compile the encoders
    # Modules imported before the rest is read, for their registered strategies, methods, encoders,
    # datasets or loggers: .py paths (relative to this preset's folder) or module names (mmdg_bench/plugins.py)
    plugins: list[str] = field(default_factory=list)
    loggers: list[str] = field(default_factory=list)  # experiment trackers: csv, tensorboard, mlflow, wandb
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)

    def to_dict(self) -> dict:
        raw = asdict(self)
        for section in CHOICES:
            choice = getattr(self, section)
            raw[section] = {"name": choice.name, choice.name: choice.params}
        return raw

    def folder_name(self, target: str) -> str:
        """The name of the run folder of this config holding out `target`: its identity, readable."""
        return run_name(self.preset, run_label(self.method.name, self.strategy.name), target, self.seed,
                        self.hash(target))

    def hash(self, *extra: str) -> str:
        """A short stable hash of the resolved config (plus e.g. the target domain), leaving out the
        settings that only say how to execute it (threads, loader workers, the decoded cache), so a
        run keeps its folder whether it trains alone or in a sweep's worker pool."""
        settings = self.to_dict()
        for path in EXECUTION_SETTINGS:
            *sections, key = path.split(".")
            node = settings
            for section in sections:
                node = node[section]
            node.pop(key)
        drop_default_extensions(settings)
        text = json.dumps([settings, *extra], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]


def run_name(preset: str, strategy: str, target: str, seed: int, config_hash: str) -> str:
    return f"{preset}__{strategy}__{target}__seed{seed}__{config_hash}"


def run_label(method: str, strategy: str) -> str:
    """"gmp" for ERM (the default method) under gmp; "simmmdg+gmp" for another method."""
    return strategy if method == "erm" else f"{method}+{strategy}"


def drop_default_extensions(settings: dict) -> None:
    """Leave out of `settings` (a `Config.to_dict()`, possibly from an older run's summary that lacks
    some sections) what was added after runs were recorded and changes nothing at its default: the
    feature cache and GPU decoding where a run does not use them, and the later settings at their
    defaults. The config hash and the leaderboard's rows both see settings through this, so runs from
    before and after a setting existed keep their folder names and share their rows."""
    features = settings.pop("features", None)
    data = settings.get("data") or {}
    if data.get("source", "clips") == "clips":
        data.pop("source", None)
    elif features is not None:  # only what the features are; the rest says where and how they are built
        settings["features"] = {k: features[k] for k in ("views", "seed") if k in features}
    for section in ("video", "flow"):
        node = data.get(section)
        if not isinstance(node, dict):
            continue
        if node.get("decode") == "cpu":
            node.pop("decode")
        # Before this setting short clips repeated their last frame, but no recorded run ever read a short
        # clip (none has run on real data yet, and the synthetic clips are exactly num_frames long, so
        # loop and clamp read the same frames).
        if node.get("past_end") == "loop":
            node.pop("past_end")
    synth = data.get("synth")
    if isinstance(synth, dict):
        for key, default in SYNTH_LATER_DEFAULTS.items():
            if key in synth and synth[key] == default:
                synth.pop(key)
    strategy = settings.get("strategy") or {}
    params = strategy.get(strategy.get("name"))
    if isinstance(params, dict):
        # GMP's theta at "auto" is the encoder alone, as before the setting, except under the author's loss;
        # its ratio denominators at "clamp" are those of every run before the setting.
        if params.get("theta") == "auto" and (settings.get("loss") or {}).get("classification") != "author":
            params.pop("theta")
        if params.get("denominator") == "clamp":
            params.pop("denominator")


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if path.is_dir():
            raise UserError(f"preset {path} is a folder, not a YAML file; name the file inside it")
        if not path.is_file():
            raise UserError(f"preset file {path} does not exist")
        return path
    candidate = PRESET_DIR / f"{name_or_path}.yaml"
    if not candidate.is_file():
        raise UserError(f"unknown preset '{name_or_path}'{did_you_mean(name_or_path, list_presets())}")
    return candidate


def copy_preset(name_or_path: str, path: Path, overwrite: bool = False) -> Path:
    """Write a preset, comments and all, to `path` (a file, or a folder to put <name>.yaml in), with a
    first line that says where it came from and how to use the copy; returns the file written."""
    source = preset_path(name_or_path)
    target = Path(path) / source.name if Path(path).is_dir() else Path(path)
    if target.exists() and not overwrite:
        raise UserError(f"{target} exists; choose another path, or pass --force to overwrite it")
    header = (f"# A copy of the mmdg-bench preset '{source.stem}', to edit. Check and use it with\n"
              f"#   mmdg-bench presets validate {shlex.quote(str(target))}\n"
              f"#   mmdg-bench run --preset {shlex.quote(str(target))}\n#\n")
    target.write_text(header + source.read_text())
    return target


def read_preset(name_or_path: str) -> dict:
    """The preset's settings as a fresh dict (a sweep reads its preset once per run: the parsed file is
    kept while it does not change)."""
    path = preset_path(name_or_path)
    stat = path.stat()
    return copy.deepcopy(parsed_preset(path.resolve(), stat.st_mtime_ns, stat.st_size))


class StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML as presets and overrides are read: a key given twice in one mapping is refused (YAML itself
    keeps the last one silently, so a preset could say two things and mean the second)."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        repeated = next((i for i, key in enumerate(keys) if key in keys[:i]), None)
        if repeated is not None:
            raise yaml.constructor.ConstructorError(None, None, f"the key '{keys[repeated]}' is given twice",
                                                    node.value[repeated][0].start_mark)
        return super().construct_mapping(node, deep)


@functools.lru_cache(maxsize=64)
def parsed_preset(path: Path, mtime_ns: int, size: int) -> dict:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=StrictLoader) or {}
    except UnicodeDecodeError as err:
        raise UserError(f"preset {path} is not a UTF-8 text file (byte {err.start} cannot be read); "
                        f"a preset is YAML text") from None
    except ValueError as err:  # e.g. a number of more than 4,300 digits
        raise UserError(f"preset {path} holds a value Python cannot read: {str(err).split(':')[0]}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"preset {path} is not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    if not isinstance(raw, dict):
        raise UserError(f"preset {path} must be a YAML mapping of settings, not {type(raw).__name__}")
    raw.setdefault("preset", path.stem)
    return raw


def set_value(raw: dict, key: str, value: Any) -> None:
    """Set dotted `key` in the raw preset dict, creating sections as needed."""
    node = raw
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserError(f"override '{key}': '{part}' is a value, not a section")
    node[parts[-1]] = value


def apply_override(raw: dict, assignment: str) -> None:
    """Apply one `key.path=value` (value parsed as YAML) to the raw preset dict in place."""
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise UserError(f"override '{assignment}' must look like key.path=value, e.g. optim.lr=3e-4")
    named = assignment if len(assignment) <= 200 else f"{key}=…"
    try:
        value = yaml.load(text, Loader=StrictLoader) if text.strip() else None
    except yaml.YAMLError as err:
        raise UserError(f"override '{named}': the value is not valid YAML ({getattr(err, 'problem', err)})") from None
    except ValueError as err:  # e.g. a number of more than 4,300 digits
        raise UserError(f"override '{named}': the value is not one Python can read "
                        f"({str(err).split(':')[0]})") from None
    if isinstance(value, str):
        try:  # YAML 1.1 reads "3e-4" as a string; users mean a number
            value = float(value)
        except ValueError:
            pass
    set_value(raw, key, value)


@dataclass(frozen=True)
class Range:
    """The values a numeric setting may take; NaN and infinity are never among them."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False  # low itself is excluded
    cap: str = ""  # why `high` is there, for a bound set by the machine or by sanity, not by meaning

    def __contains__(self, value: float) -> bool:
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an int too large for a float is no setting's value
            return False
        above = value > self.low if self.low_open else value >= self.low
        return finite and above and value <= self.high

    def expected(self, value: float) -> str:
        """What the setting must be, said for the side `value` fell off."""
        if self.cap and not value <= self.high:
            return f"at most {number(self.high)} ({self.cap})"
        return str(self)

    def __str__(self) -> str:
        if math.isfinite(self.high) and not self.cap:
            return f"a number from {number(self.low)} to {number(self.high)}"
        if math.isfinite(self.low):
            return f"a number {'>' if self.low_open else '>='} {number(self.low)}"
        return "a finite number"


def number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def shown(value: Any) -> str:
    """A value as an error message shows it: a number of a hundred digits is not printed whole."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"a number of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    text = repr(value)
    return text if len(text) <= 200 else f"{text[:80]}… ({len(text)} characters)"


POSITIVE, NON_NEGATIVE, FINITE = Range(0, low_open=True), Range(0), Range()
CPUS = os.cpu_count() or 1
SANE = "beyond it a run would exhaust any machine"  # the caps below: far past any real use


def positive(high: float) -> Range:
    return Range(0, high, low_open=True, cap=SANE)


def non_negative(high: float) -> Range:
    return Range(0, high, cap=SANE)


# The range of every numeric setting, by dotted path (fnmatch pattern, list items by their list's
# path); a number that matches no pattern must only be finite. Checked as the value is read, so an
# override, a preset and a command-line option are refused alike.
LIMITS = {
    "seed": Range(0, 2**32 - 1),  # numpy's seed range
    "threads": Range(0, CPUS, cap="the CPUs of this machine"),
    "data.num_workers": non_negative(256),
    "data.prefetch": positive(64),
    "data.[vf]*.num_frames": positive(1024),
    "data.[vf]*.stride": positive(1024),
    "data.[vf]*.size": positive(4096),
    "data.[vf]*.resize_short": non_negative(4096),
    "data.[vf]*.std": POSITIVE,
    "data.audio.sample_rate": positive(384_000),
    "data.audio.seconds": positive(3600),
    "data.audio.n_fft": positive(16_384),
    "data.audio.hop_length": positive(16_384),
    "data.audio.n_mels": positive(1024),  # and at most n_fft / 2 + 1 (AudioConfig.check)
    "data.audio.train_noise": NON_NEGATIVE,
    "data.audio.band_mask_rows": non_negative(8193),
    "data.audio.frame_rate": non_negative(1000),
    "data.synth.classes": Range(2, 1000, cap=SANE),
    "data.synth.seed": Range(0, 2**32 - 1),
    "data.synth.video_shortcut": Range(0, 1),
    "data.synth.audio_snr_db": FINITE,
    "data.synth.video_motion": NON_NEGATIVE,
    "data.synth.domain_shift": NON_NEGATIVE,  # 0: no domain shift
    "data.synth.video_noise": NON_NEGATIVE,
    "data.synth.*_per_class": positive(100_000),
    "data.synth.frames": positive(1024),
    "data.synth.size": positive(4096),
    "data.synth.fps": positive(1000),
    "data.synth.sample_rate": positive(384_000),
    "data.synth.seconds": positive(3600),
    "model.feature_dim": positive(65_536),
    "model.head_hidden": positive(65_536),
    "model.grl_coeff": NON_NEGATIVE,
    "loss.*": NON_NEGATIVE,
    "optim.lr": POSITIVE,
    "optim.weight_decay": NON_NEGATIVE,
    "optim.batch_size": positive(65_536),
    "optim.epochs": positive(100_000),
    "features.seed": Range(0, 2**32 - 1),
    "features.views": positive(1000),
    "features.batch_size": positive(65_536),
    "features.shard_clips": positive(1_000_000),
}


def limit(path: str) -> Range:
    """The range of the numeric setting at dotted `path` (the first matching pattern of LIMITS)."""
    setting = re.sub(r"\[\d+\]$", "", path)
    return next((r for pattern, r in LIMITS.items() if fnmatch.fnmatchcase(setting, pattern)), FINITE)


def _check_value(value: Any, kind: Any, path: str) -> Any:
    """Return `value` converted to `kind`, or raise a UserError naming `path`."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        kind = next(o for o in options if o is not type(None))
        origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind):
        return from_dict(kind, value, path)
    if origin is list:
        if not isinstance(value, list):
            raise UserError(f"'{path}' must be a list, got {value!r}")
        (item,) = typing.get_args(kind)
        return [_check_value(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"'{path}' must be a mapping, got {value!r}")
        _, item = typing.get_args(kind)
        return {str(k): _check_value(v, item, f"{path}.{k}") for k, v in value.items()}
    if kind is Any:
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind in (int, float, str, bool) and (type(value) is not kind):
        raise UserError(f"'{path}' must be {kind.__name__}, got {shown(value)}")
    if kind in (int, float) and value not in limit(path):
        raise UserError(f"'{path}' must be {limit(path).expected(value)}, got {shown(value)}")
    return value


@functools.cache
def type_hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a settings dataclass, worked out once per class (a config load reads
    every section's, and a sweep loads a config per run)."""
    return typing.get_type_hints(cls)


def from_dict(cls: type, data: Any, path: str = ""):
    """Build dataclass `cls` from a dict, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise UserError(f"'{path or 'config'}' must be a mapping of settings, got {data!r}")
    hints = type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in data.items():
        dotted = f"{path}.{key}" if path else str(key)
        if key not in names:
            raise UserError(f"unknown setting '{dotted}'{did_you_mean(str(key), names)}")
        values[key] = _check_value(value, hints[key], dotted)
    return cls(**values)


# Sections that choose one registered entry and hold hyper-parameters per entry name.
CHOICES = {"strategy": StrategyConfig, "method": MethodConfig}
CLASSIFICATION_LOSSES = ("paper", "author", "both")  # loss.classification, see LossConfig
PRECISIONS = ("fp32", "bf16")  # fp16 is not offered: its GradScaler would hand strategies scaled gradients


@dataclass
class NoParams:
    """The hyper-parameters of a strategy or method that has none."""

    def validate(self) -> None:
        pass


def overridden_strategies(overrides: list[str]) -> set[str]:
    """The strategies whose hyper-parameters `key.path=value` overrides set (strategy.<name>.<key>)."""
    keys = (assignment.partition("=")[0].strip().split(".") for assignment in overrides)
    return {key[1] for key in keys if len(key) > 2 and key[0] == "strategy"}


def flat_settings(config: dict, prefix: str = "") -> dict:
    """{"data.modalities": [...], "strategy.gmp.alpha_k": 0.5, ...}: leaves at dotted paths."""
    flat = {}
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flat_settings(value, f"{path}."))
        else:
            flat[path] = value
    return flat


DEVICE = re.compile(r"cpu|cuda|cuda:\d+|auto")


def check_device_name(device: str) -> None:
    if not DEVICE.fullmatch(device):
        raise UserError(f"'device' must be cpu, cuda, cuda:N or auto, got '{device}'")
