"""A finished run folder damaged after the fact (a summary cut short or hand-edited, kept weights cut
short) is named in one sentence with its repair, by `run` (which reuses it) and by `evaluate`."""

import pytest
import torch
from typer.testing import CliRunner

from mmdg_bench.cli import app
from mmdg_bench.engine.run_folder import DONE, SUMMARY, RunFolder, run_folder_of
from mmdg_bench.errors import UserError
from mmdg_bench.models.weights import read_kept_weights as read_weights
from tests.conftest import TINY

SET = [arg for override in TINY for arg in ("--set", override)]


@pytest.mark.parametrize("text", ['{"preset": "synth", "datas', '{"selection": "oops", "target_domain": "day"}', ""])
def test_a_damaged_summary_is_named_with_its_repair(tmp_path, text):
    (tmp_path / SUMMARY).write_text(text)
    with pytest.raises(UserError, match=rf"the summary of the finished run {tmp_path} is damaged \(summary.json: "
                                        r".*\): retrain it with --force, or delete the folder"):
        RunFolder(tmp_path).summary()


def test_run_reusing_a_damaged_finished_run_says_so(tmp_path, tiny_config):
    folder = run_folder_of(tiny_config(), "day", tmp_path).path
    folder.mkdir(parents=True)
    (folder / SUMMARY).write_text("{cut short")
    (folder / DONE).write_text("")
    result = CliRunner().invoke(app, ["run", "--target", "day", "--out", str(tmp_path), *SET])
    assert result.exit_code == 2 and "is damaged" in result.stderr and "retrain it with --force" in result.stderr


def test_cut_short_weights_are_named_with_their_repair(tmp_path):
    path = tmp_path / "best-val.pt"
    torch.save({"w": torch.zeros(1000)}, path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(UserError, match=rf"the kept weights {path} cannot be read .*: retrain the run with --force"):
        read_weights(path, "cpu")
