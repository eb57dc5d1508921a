"""A run's config: a preset plus `--set` overrides (the schema of `mmdg_bench/settings.py`), its plugins
imported, and every choice checked against the registries (strategies, methods, fusions, encoders).

    from mmdg_bench.config import load_config
    config = load_config("synth", ["optim.lr=3e-4"], strategy__name="gmp")

This module sits above the registries it checks against; the schema below it knows none of them.
"""

import os
import warnings
from dataclasses import asdict
from typing import Any

from mmdg_bench.errors import UserError, UserNotice, check_choice, did_you_mean
from mmdg_bench.features.dataset import frozen_settings
from mmdg_bench.methods import METHODS
from mmdg_bench.models.encoders import check_encoder_specs
from mmdg_bench.models.fusion import FUSIONS
from mmdg_bench.models.multimodal import IN_CHANNELS
from mmdg_bench.plugins import load_plugins, resolve_plugin
from mmdg_bench.settings import (
    CHOICES,
    CLASSIFICATION_LOSSES,
    PRECISIONS,
    Config,
    apply_override,
    check_device_name,
    from_dict,
    overridden_strategies,
    preset_path,
    read_preset,
    set_value,
)
from mmdg_bench.strategies import STRATEGIES

# The registry each choice section picks its entry from.
REGISTRIES = {"strategy": STRATEGIES, "method": METHODS}


def _choice_from_dict(section: str, data: Any):
    """`strategy: {name: gmp, gmp: {alpha_k: 0.5}, ogm-ge: {...}}` -> the chosen entry's params (the
    same for `method:`); every entry's section is checked, the chosen one is kept."""
    registry, choice_cls = REGISTRIES[section], CHOICES[section]
    if not isinstance(data or {}, dict):
        raise UserError(f"'{section}' must be a mapping like {{name: {choice_cls.name}}}, got {data!r}")
    data = dict(data or {})
    name = data.pop("name", choice_cls.name)
    if not isinstance(name, str):
        raise UserError(f"'{section}.name' must be a {registry.kind} name, got {name!r}")
    registry.get(name)
    chosen = {}
    for key, entries in data.items():
        params_cls = registry.get(key).Params if key in registry else None
        if params_cls is None:
            raise UserError(f"unknown setting '{section}.{key}'{did_you_mean(str(key), ['name', *registry.names()])}")
        params = from_dict(params_cls, entries or {}, f"{section}.{key}")
        if key == name:
            chosen = asdict(params)
    if not chosen:
        chosen = asdict(registry.get(name).Params())
    registry.get(name).Params(**chosen).validate()
    return choice_cls(name=name, params=chosen)


def load_config(preset: str = "synth", overrides: list[str] = (), *, plugins: list[str] = (), **values: Any) -> Config:
    """Preset, then `--set` overrides, then `values` given as dotted keys with "." written "__"
    (e.g. `strategy__name="gmp"`, `data__root="/data"`), which are taken as they are, unparsed.
    `plugins` (e.g. --plugin) are added to the preset's and imported before the rest is checked."""
    raw = read_preset(preset)
    for assignment in overrides:
        apply_override(raw, assignment)
    for key, value in values.items():
        if value is not None:
            set_value(raw, key.replace("__", "."), value)
    sections = {section: raw.pop(section, {}) for section in CHOICES}
    config = from_dict(Config, raw)
    folder = preset_path(preset).parent
    config.plugins = list(dict.fromkeys([*(resolve_plugin(p, folder) for p in config.plugins),
                                         *(resolve_plugin(p) for p in plugins)]))
    load_plugins(config.plugins)
    for section, data in sections.items():
        setattr(config, section, _choice_from_dict(section, data))
    validate(config)
    for name in sorted(overridden_strategies(overrides) - {config.strategy.name}):
        warnings.warn(UserNotice(f"the overrides of strategy.{name} have no effect: the selected "
                                 f"strategy is {config.strategy.name}"), stacklevel=2)
    return config


def validate(config: Config) -> None:
    """Cross-field checks that types alone cannot express."""
    check_choice(config.loss.classification, CLASSIFICATION_LOSSES, "'loss.classification'")
    if config.precision not in PRECISIONS:
        hint = ": fp16 would need gradient scaling, whose scaled gradients the strategies would see" \
            if config.precision == "fp16" else ""
        raise UserError(f"'precision' must be fp32 or bf16, got '{config.precision}'{hint}")
    FUSIONS.get(config.model.fusion)  # an unknown fusion: one sentence with the known ones
    data = config.data
    if not data.modalities:
        raise UserError("'data.modalities' must name at least one modality")
    missing = [m for m in data.modalities if m not in config.model.encoders]
    if missing:
        raise UserError(f"no encoder for modality '{missing[0]}': add it under 'model.encoders'")
    check_encoder_specs(config.model)
    data.check()
    if data.on_corrupt not in ("error", "skip"):
        raise UserError(f"'data.on_corrupt' must be 'error' or 'skip', got '{data.on_corrupt}'")
    check_device_name(config.device)
    if data.source == "features":
        for modality in data.modalities:
            frozen_settings(config, modality)
    check_batch_memory(config)


def batch_bytes(config: Config) -> dict[str, int]:
    """What one training batch of clips holds as float32 input tensors, per modality (the largest of the
    training and evaluation sizes); a run from the feature cache reads pooled vectors instead."""
    data, batch, sizes = config.data, config.optim.batch_size, {}
    for modality in data.modalities:
        if modality == "audio":
            audio = data.audio
            rows = audio.n_mels if audio.features == "logmel" else audio.n_fft // 2 + 1
            sizes[modality] = batch * rows * (int(audio.seconds * audio.sample_rate) // audio.hop_length + 1) * 4
        elif modality in ("video", "flow"):
            frames = getattr(data, modality)
            side = max(frames.size, frames.eval_size, frames.resize_short)
            sizes[modality] = batch * IN_CHANNELS[modality] * frames.num_frames * side * side * 4
    return sizes


def check_batch_memory(config: Config) -> None:
    """Refuse settings whose one batch of inputs alone would not fit in this machine's memory (a few
    settings, each within its own range, multiply into more than any machine has)."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    sizes = batch_bytes(config) if config.data.source == "clips" else {}
    if sum(sizes.values()) > memory:
        largest = max(sizes, key=sizes.get)
        raise UserError(f"one training batch of these settings holds {sum(sizes.values()) / 2**30:.0f} GiB of "
                        f"inputs ({largest}: {sizes[largest] / 2**30:.0f} GiB), more than this machine's "
                        f"{memory / 2**30:.0f} GiB of memory: lower optim.batch_size or data.{largest}'s size")
