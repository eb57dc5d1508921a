"""Every numeric setting of every shipped preset, strategy hyper-parameters included, set to values a
user may type by mistake: the command either accepts it or refuses it in one sentence with exit
code 2, never with a traceback (README: "every mistake a user can make ends in one sentence")."""

import dataclasses
import typing

import pytest
import typer
import typer.testing
from typer.testing import CliRunner

from mmdg_bench.cli import app
from mmdg_bench.config import load_config
from mmdg_bench.settings import Config, list_presets
from mmdg_bench.strategies import STRATEGIES

runner = CliRunner()
MISTAKES = ["-1", "0", "nan", "inf", "abc", "1000000000000", "9" * 5000]


def numeric_settings(cls: type, prefix: str = "") -> list[tuple[str, int]]:
    """(dotted path, list length or 0) of every int/float setting of dataclass `cls`, nested ones included."""
    found = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind, path = hints[f.name], f"{prefix}{f.name}"
        if dataclasses.is_dataclass(kind):
            found += numeric_settings(kind, f"{path}.")
        elif kind in (int, float):
            found.append((path, 0))
        elif typing.get_origin(kind) is list and typing.get_args(kind)[0] in (int, float):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else []
            found.append((path, len(default)))
    return found


def every_setting() -> list[tuple[str, list[str]]]:
    """(setting, the overrides that select its strategy) for the config and every strategy's params."""
    settings = [(path, length, []) for path, length in numeric_settings(Config)]
    first_user = {}  # the GMP ablations share GMP's parameters: each parameter class once
    for name in STRATEGIES.names():
        first_user.setdefault(STRATEGIES.get(name).Params, name)
    for params, name in first_user.items():
        settings += [(path, length, [f"strategy.name={name}"])
                     for path, length in numeric_settings(params, f"strategy.{name}.")]
    return settings


def test_the_walk_finds_the_settings_a_user_sets():
    paths = {path for path, _, _ in every_setting()}
    assert {"optim.lr", "optim.weight_decay", "data.num_workers", "threads", "loss.domain_weight",
            "data.video.mean", "strategy.gmp.alpha_k", "strategy.ogm-ge.end_epoch"} <= paths


@pytest.mark.parametrize("preset", list_presets())
def test_every_numeric_setting_is_accepted_or_refused_in_one_sentence(preset, monkeypatch):
    bad = []
    command = typer.main.get_command(app)  # built once: typer's runner builds it at every invocation
    monkeypatch.setattr(typer.testing, "_get_command", lambda app: command)
    for path, length, select in every_setting():
        for value in MISTAKES:
            typed = f"[{', '.join([value] * length)}]" if length else value
            args = ["presets", "validate", preset, *[a for o in [*select, f"{path}={typed}"] for a in ("--set", o)]]
            result = runner.invoke(app, args)
            message = result.stderr.strip()
            one_sentence = result.exit_code == 2 and message.startswith("error:") and "\n" not in message
            if not (result.exit_code == 0 or one_sentence) or "Traceback" in result.output or result.exception \
                    and not isinstance(result.exception, SystemExit):
                bad.append(f"{path}={typed}: exit {result.exit_code}: {result.output[-300:]!r}")
    assert not bad, "\n".join(bad[:20])


@pytest.mark.parametrize("override", ["optim.lr=nan", "optim.lr=inf", "optim.weight_decay=-1",
                                      "data.num_workers=-1", "threads=-3", "loss.domain_weight=-0.5",
                                      "seed=-1", "data.video.std=[0, 1, 1]", "strategy.ogm-ge.alpha=nan",
                                      "data.synth.video_shortcut=1.5", "device=gpu"])
def test_settings_that_cannot_work_are_refused(override):
    result = runner.invoke(app, ["presets", "validate", "synth", "--set", override])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: '{override.split('=')[0]}"), result.stderr


def test_a_refused_value_names_its_range():
    result = runner.invoke(app, ["presets", "validate", "synth", "--set", "optim.weight_decay=-1"])
    assert result.stderr.strip() == "error: 'optim.weight_decay' must be a number >= 0, got -1.0"


@pytest.mark.parametrize("device", ["cpu", "auto", "cuda", "cuda:1"])
def test_device_names_are_checked_when_the_config_loads(device):
    assert load_config("synth", [f"device={device}"]).device == device


def test_every_integer_setting_has_an_upper_bound():
    """A huge count (epochs, frames, workers, mel bands, ...) exhausts the machine: none is accepted."""
    huge = [path for path, length, select in every_setting() if not select and length == 0
            and typing.get_type_hints(setting_owner(path))[path.rsplit(".", 1)[-1]] is int]
    accepted = []
    for path in huge:
        result = runner.invoke(app, ["presets", "validate", "synth", "--set", f"{path}=1000000000000"])
        if result.exit_code != 2 or "must be" not in result.stderr:
            accepted.append(f"{path}: {result.output.strip()}")
    assert len(huge) > 20 and not accepted, accepted


def setting_owner(path: str) -> type:
    """The dataclass that declares the setting at dotted `path` (e.g. DataConfig for data.num_workers)."""
    owner = Config
    for part in path.split(".")[:-1]:
        owner = typing.get_type_hints(owner)[part]
    return owner


@pytest.mark.parametrize("override, says", [
    ("data.audio.n_mels=300", "'data.audio.n_mels' must be at most n_fft / 2 + 1 = 201"),
    ("data.modalities=[video,video]", "'data.modalities' names video twice"),
    ("threads=100000", "'threads' must be at most"),
    ("optim.batch_size=60000", "more than this machine's"),
    ("optim.epochs=" + "1" * 100_000, "the value is not one Python can read"),
])
def test_settings_that_would_exhaust_the_machine_are_refused(override, says):
    overrides = [override, *(["data.video.size=2048", "data.video.num_frames=512"] if "batch" in override else [])]
    result = runner.invoke(app, ["presets", "validate", "synth", *[a for o in overrides for a in ("--set", o)]])
    assert result.exit_code == 2 and says in result.stderr and len(result.stderr) < 400, result.output
