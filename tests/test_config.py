import pytest

from mmdg_bench.config import load_config
from mmdg_bench.errors import UserError
from mmdg_bench.settings import PRESET_DIR, list_presets


def test_every_shipped_preset_loads():
    assert "synth" in list_presets()
    for name in list_presets():
        config = load_config(name)
        assert config.preset == name
        assert config.data.modalities


def test_override_parses_numbers_and_lists():
    config = load_config("synth", ["optim.lr=3e-4", "optim.epochs=3", "data.modalities=[audio]"])
    assert config.optim.lr == pytest.approx(3e-4)
    assert config.optim.epochs == 3
    assert config.data.modalities == ["audio"]


def test_int_is_accepted_for_float():
    assert load_config("synth", ["optim.lr=1"]).optim.lr == 1.0


@pytest.mark.parametrize("override, message", [
    ("optim.lrr=1e-3", "did you mean 'lr'"),
    ("optim.epochs=many", "'optim.epochs' must be int"),
    ("optim.epochs=2.5", "'optim.epochs' must be int"),
    ("data.modalities=video", "must be a list"),
    ("modle.feature_dim=3", "did you mean 'model'"),
    ("optim.lr", "must look like key.path=value"),
    ("optim.epochs=0", "'optim.epochs' must be a number > 0, got 0"),
    ("data.modalities=[video, flow]", "no encoder for modality 'flow'"),
])
def test_bad_override_is_a_user_error(override, message):
    with pytest.raises(UserError, match=message):
        load_config("synth", [override])


def test_unknown_strategy_suggests_the_closest():
    with pytest.raises(UserError, match="did you mean 'baseline'"):
        load_config("synth", strategy__name="baselin")


def test_unknown_preset_suggests_the_closest():
    with pytest.raises(UserError, match="did you mean 'synth'"):
        load_config("synt")


def test_malformed_yaml_names_the_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: 0\noptim:\n  lr: [1e-3\n")
    with pytest.raises(UserError, match="not valid YAML at line"):
        load_config(str(bad))


def test_preset_from_a_path(tmp_path):
    custom = tmp_path / "mine.yaml"
    custom.write_text((PRESET_DIR / "synth.yaml").read_text().replace("epochs: 12", "epochs: 5"))
    config = load_config(str(custom))
    assert (config.preset, config.optim.epochs) == ("mine", 5)


def test_hash_changes_with_any_setting():
    base = load_config("synth")
    assert base.hash("day") == load_config("synth").hash("day")
    assert base.hash("day") != base.hash("night")
    assert base.hash("day") != load_config("synth", ["optim.lr=2e-3"]).hash("day")


def test_hash_ignores_how_a_run_is_executed():
    base = load_config("synth").hash("day")
    executed = load_config("synth", ["threads=1", "data.num_workers=2", "data.cache_decoded=false"])
    assert executed.hash("day") == base


def test_a_preset_is_read_strictly(tmp_path):
    twice = tmp_path / "twice.yaml"
    twice.write_text("optim:\n  lr: 0.1\n  lr: 0.2\n")
    with pytest.raises(UserError, match=r"twice.yaml is not valid YAML at line 3: the key 'lr' is given twice"):
        load_config(str(twice))
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\x80\x81\xff")
    with pytest.raises(UserError, match="is not a UTF-8 text file"):
        load_config(str(binary))
    (tmp_path / "folder.yaml").mkdir()
    with pytest.raises(UserError, match="folder.yaml is a folder, not a YAML file"):
        load_config(str(tmp_path / "folder.yaml"))
    with pytest.raises(UserError, match="the key 'size' is given twice"):
        load_config("synth", ["data.video={size: 8, size: 9}"])


def test_an_empty_preset_loads_on_the_built_in_defaults(tmp_path):
    """The defaults agree with each other: SimMMDG's jittered sampling, so no decoded-clip cache."""
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    config = load_config(str(empty))
    assert config.data.video.sampling == "jitter" and not config.data.cache_decoded


def test_presets_validate_checks_what_run_checks_before_it_reads_data():
    from typer.testing import CliRunner

    from mmdg_bench.cli import app

    runner = CliRunner()
    missing = runner.invoke(app, ["presets", "validate", "synth", "--set",
                                  "model.encoders.video={name: slowfast_tiny, weights: absent.pth}"])
    assert missing.exit_code == 2 and "weight file absent.pth for model.encoders.video is not at" in missing.stderr
    features = runner.invoke(app, ["presets", "validate", "synth", "--set", "data.source=features"])
    assert features.exit_code == 2 and "set model.encoders.video.regime=frozen" in features.stderr


def test_a_sweep_of_ten_million_seeds_is_refused_at_once():
    from mmdg_bench.sweep.plan import MAX_SEEDS, parse_seeds

    with pytest.raises(UserError, match=f"more than {MAX_SEEDS} seeds"):
        parse_seeds("0-10000000")
    with pytest.raises(UserError, match="numpy's seed range"):
        parse_seeds("4294967296")
    assert parse_seeds("0-2,9") == [0, 1, 2, 9]
