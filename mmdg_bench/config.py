"""Run configuration: dataclasses filled from a YAML preset plus dotted `--set key=value` overrides.

Every key is checked against the dataclasses below: an unknown key or a value of the wrong type is
a `UserError` that names the key and suggests the closest one (torchtune's config parsing habit).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mmdg_bench.errors import UserError, did_you_mean

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"


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


@dataclass
class FramesConfig:
    """Frame sampling and pre-processing shared by RGB video and optical flow. The defaults suit the
    synthetic set on a CPU; SimMMDG's reference values (SPEC §2) are in the comments."""

    num_frames: int = 8  # frames sampled per clip (reference: video 32, flow 8)
    stride: int = 1  # sampling interval between frames (reference: video 2, flow 4)
    size: int = 32  # side of the square model input, pixels (reference: 224)
    resize_short: int = 0  # short side resized to this, then cropped to `size` (reference: 256); 0: straight resize
    train_augment: bool = False  # training clips: random-resized crop + flip, not the centre crop (reference: true)
    crop_scale: list[float] = field(default_factory=lambda: [0.08, 1.0])  # area share of the random-resized crop
    crop_ratio: list[float] = field(default_factory=lambda: [0.75, 4 / 3])  # aspect ratio range of that crop
    mean: list[float] = field(default_factory=lambda: [123.675, 116.28, 103.53])  # per channel, 0..255 scale
    std: list[float] = field(default_factory=lambda: [58.395, 57.12, 57.375])

    def check(self, section: str, channels: int) -> None:
        """Raise a UserError naming the first setting of `data.<section>` that cannot work."""
        for key in ("num_frames", "stride", "size"):
            if getattr(self, key) <= 0:
                raise UserError(f"'data.{section}.{key}' must be positive, got {getattr(self, key)}")
        if len(self.mean) != channels or len(self.std) != channels:
            raise UserError(f"'data.{section}.mean' and '.std' need {channels} values, one per channel")
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

    stride: int = 4  # SimMMDG: 8 flow frames at interval 4 (SPEC §2)
    mean: list[float] = field(default_factory=lambda: [128.0, 128.0])  # SPEC §2: flow mean/std 128
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
    # A whole-file clip's audio starts at its first sampled video frame, timed at this fps (SimMMDG assumes 24
    # for HAC); 0: the audio starts at 0 s. Clips with start_time/stop_time are cut by those instead.
    frame_rate: float = 24.0

    def check(self) -> None:
        if self.features not in AUDIO_FEATURES:
            raise UserError(f"'data.audio.features' must be one of {', '.join(AUDIO_FEATURES)}, "
                            f"got '{self.features}'{did_you_mean(self.features, AUDIO_FEATURES)}")
        for key in ("sample_rate", "seconds", "n_fft", "hop_length", "n_mels"):
            if getattr(self, key) <= 0:
                raise UserError(f"'data.audio.{key}' must be positive, got {getattr(self, key)}")
        if self.train_noise < 0 or self.band_mask_rows < 0 or self.frame_rate < 0:
            raise UserError("'data.audio.train_noise', '.band_mask_rows' and '.frame_rate' must not be negative")


@dataclass
class DataConfig:
    dataset: str = "synth"
    root: str | None = None  # None: synth generates into its cache folder
    layout: str = "auto"  # EPIC-Kitchens files: "simmmdg" (frame folders), "mmdg-bench" (mp4 per clip), "auto"
    modalities: list[str] = field(default_factory=lambda: ["video", "audio"])
    num_workers: int = 0
    cache_decoded: bool = True  # keep decoded clips in memory after the first epoch
    on_corrupt: str = "error"  # "error": stop naming the file; "skip": drop the clip and report
    video: VideoConfig = field(default_factory=VideoConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)


@dataclass
class ModelConfig:
    encoders: dict[str, str] = field(default_factory=lambda: {"video": "tiny3d", "audio": "tiny2d"})
    feature_dim: int = 64
    head_hidden: int = 64  # GMP's paper uses 256-d MLP heads
    grl_coeff: float = 0.3  # gradient-reversal coefficient (GMP author code default)


@dataclass
class LossConfig:
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
class Config:
    preset: str = "synth"
    seed: int = 0
    device: str = "cpu"
    threads: int = 0  # torch intra-op threads; 0 = torch's default
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)

    def to_dict(self) -> dict:
        raw = asdict(self)
        raw["strategy"] = {"name": self.strategy.name, self.strategy.name: self.strategy.params}
        return raw

    def hash(self, *extra: str) -> str:
        """A short stable hash of the resolved config (plus e.g. the target domain), leaving out the
        settings that only say how to execute it (threads, loader workers, the decoded cache), so a
        run keeps its folder whether it trains alone or in a sweep's worker pool."""
        settings = self.to_dict()
        settings.pop("threads")
        for key in ("num_workers", "cache_decoded"):
            settings["data"].pop(key)
        text = json.dumps([settings, *extra], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise UserError(f"preset file {path} does not exist")
        return path
    candidate = PRESET_DIR / f"{name_or_path}.yaml"
    if not candidate.is_file():
        raise UserError(f"unknown preset '{name_or_path}'{did_you_mean(name_or_path, list_presets())}")
    return candidate


def read_preset(name_or_path: str) -> dict:
    path = preset_path(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
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
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        raise UserError(f"override '{assignment}': the value is not valid YAML") from None
    if isinstance(value, str):
        try:  # YAML 1.1 reads "3e-4" as a string; users mean a number
            value = float(value)
        except ValueError:
            pass
    set_value(raw, key, value)


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
        return float(value)
    if kind in (int, float, str, bool) and (type(value) is not kind):
        raise UserError(f"'{path}' must be {kind.__name__}, got {value!r}")
    return value


def from_dict(cls: type, data: Any, path: str = ""):
    """Build dataclass `cls` from a dict, rejecting unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise UserError(f"'{path or 'config'}' must be a mapping of settings, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in data.items():
        dotted = f"{path}.{key}" if path else str(key)
        if key not in names:
            raise UserError(f"unknown setting '{dotted}'{did_you_mean(str(key), names)}")
        values[key] = _check_value(value, hints[key], dotted)
    return cls(**values)


def _strategy_from_dict(data: Any) -> StrategyConfig:
    """`strategy: {name: gmp, gmp: {alpha_k: 0.5}, ogm-ge: {...}}` -> the chosen strategy's params."""
    from mmdg_bench.strategies import STRATEGIES

    if not isinstance(data or {}, dict):
        raise UserError(f"'strategy' must be a mapping like {{name: gmp}}, got {data!r}")
    data = dict(data or {})
    name = data.pop("name", "baseline")
    if not isinstance(name, str):
        raise UserError(f"'strategy.name' must be a strategy name, got {name!r}")
    STRATEGIES.get(name)
    chosen = {}
    for key, section in data.items():
        params_cls = STRATEGIES.get(key).Params if key in STRATEGIES else None
        if params_cls is None:
            raise UserError(f"unknown setting 'strategy.{key}'{did_you_mean(str(key), ['name', *STRATEGIES.names()])}")
        params = from_dict(params_cls, section or {}, f"strategy.{key}")
        if key == name:
            chosen = asdict(params)
    if not chosen:
        chosen = asdict(STRATEGIES.get(name).Params())
    STRATEGIES.get(name).Params(**chosen).validate()
    return StrategyConfig(name=name, params=chosen)


def load_config(preset: str = "synth", overrides: list[str] = (), **values: Any) -> Config:
    """Preset, then `--set` overrides, then `values` given as dotted keys with "." written "__"
    (e.g. `strategy__name="gmp"`, `data__root="/data"`), which are taken as they are, unparsed."""
    raw = read_preset(preset)
    for assignment in overrides:
        apply_override(raw, assignment)
    for key, value in values.items():
        if value is not None:
            set_value(raw, key.replace("__", "."), value)
    strategy_section = raw.pop("strategy", {})
    config = from_dict(Config, raw)
    config.strategy = _strategy_from_dict(strategy_section)
    validate(config)
    return config


def validate(config: Config) -> None:
    """Cross-field checks that types alone cannot express."""
    data = config.data
    if not data.modalities:
        raise UserError("'data.modalities' must name at least one modality")
    missing = [m for m in data.modalities if m not in config.model.encoders]
    if missing:
        raise UserError(f"no encoder for modality '{missing[0]}': add it under 'model.encoders'")
    data.video.check("video", 3)
    data.flow.check("flow", 2)
    data.audio.check()
    if data.on_corrupt not in ("error", "skip"):
        raise UserError(f"'data.on_corrupt' must be 'error' or 'skip', got '{data.on_corrupt}'")
    positive = {"optim.lr": config.optim.lr, "optim.batch_size": config.optim.batch_size,
                "optim.epochs": config.optim.epochs, "model.feature_dim": config.model.feature_dim}
    for key, value in positive.items():
        if value <= 0:
            raise UserError(f"'{key}' must be positive, got {value}")
