"""The feature cache of the frozen regime as functions: `mmdg-bench features build|verify`
(mmdg_bench/cli/features.py) call these.

    from mmdg_bench import api
    frozen = ["data.source=features", "model.encoders.video.regime=frozen", "model.encoders.audio.regime=frozen"]
    api.features_build(preset="hac_paper", data_root="data/HAC", views=5, overrides=frozen)
"""

from collections.abc import Callable
from pathlib import Path

from mmdg_bench.config import load_config
from mmdg_bench.features.build import BuildReport, build_features
from mmdg_bench.features.verify import CacheCheck, verify_features
from mmdg_bench.settings import Config


def features_config(preset: str, data_root: Path | str | None, views: int | None, overrides: list[str],
                    plugins: list[str]) -> Config:
    return load_config(preset, list(overrides), plugins=list(plugins),
                       data__root=str(data_root) if data_root else None, features__views=views)


def features_build(preset: str = "synth", data_root: Path | str | None = None, views: int | None = None,
                   overrides: list[str] = (), plugins: list[str] = (),
                   progress: Callable[[str, int, int], None] = lambda modality, done, total: None) -> BuildReport:
    """Run the frozen backbones once over every clip and store the pooled features; a rerun resumes.
    `progress(modality, done, total)` counts the views computed."""
    return build_features(features_config(preset, data_root, views, overrides, plugins), progress)


def features_verify(preset: str = "synth", data_root: Path | str | None = None, views: int | None = None,
                    overrides: list[str] = (), plugins: list[str] = ()) -> list[CacheCheck]:
    """Each modality's cache checked: finished, every clip, shapes, finite, manifest = settings."""
    return verify_features(features_config(preset, data_root, views, overrides, plugins))
