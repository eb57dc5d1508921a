"""Weight files: the weights folder, the check before a run, `mmdg-bench weights list|download|check`
(download against a local HTTP server on 127.0.0.1 serving a checkpoint generated here)."""

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from mmdg_bench.cli import app
from mmdg_bench.config import load_config
from mmdg_bench.engine import train_run
from mmdg_bench.errors import UserError
from mmdg_bench.models.encoders import build_encoder
from mmdg_bench.models.weights import (
    DEFAULT_WEIGHTS_DIR,
    KNOWN_FILES,
    PAPER_FILES,
    WEIGHTS_ENV,
    KnownFile,
    check_weights_present,
    file_sha256,
    weights_dir,
    weights_path,
)
from mmdg_bench.models.weights_download import download_weights

runner = CliRunner()
SLOWFAST_FILE = PAPER_FILES[0].name


def test_the_weights_folder_is_the_setting_then_the_environment_then_the_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    assert weights_dir(None) == DEFAULT_WEIGHTS_DIR.expanduser()
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "env"))
    assert weights_dir(None) == tmp_path / "env"
    assert weights_dir(str(tmp_path / "set")) == tmp_path / "set"
    assert weights_path("H.pth.tar", str(tmp_path)) == tmp_path / "H.pth.tar"
    assert weights_path(str(tmp_path / "w" / "H.pth.tar"), "/elsewhere") == tmp_path / "w" / "H.pth.tar"


def test_a_missing_file_names_itself_and_the_download_command(tmp_path):
    model = load_config("hac_paper", [f"model.weights_dir={tmp_path}"]).model
    with pytest.raises(UserError) as err:
        check_weights_present(model, ["video", "audio"])
    expected = f"weight file {SLOWFAST_FILE} for model.encoders.video is not at {tmp_path / SLOWFAST_FILE}"
    assert expected in str(err.value)
    assert f"`mmdg-bench weights download {SLOWFAST_FILE}`" in str(err.value)
    for known in PAPER_FILES[:2]:
        (tmp_path / known.name).touch()
    with pytest.raises(UserError, match="H.pth.tar for model.encoders.audio"):
        check_weights_present(model, ["video", "audio", "flow"])
    check_weights_present(model, ["video", "flow"])  # audio unused: its absent file does not matter


def test_a_run_without_its_weights_stops_before_reading_data(tmp_path):
    # The data root does not exist either: reading the data first would fail on that instead.
    config = load_config("hac_paper", [f"model.weights_dir={tmp_path}", f"data.root={tmp_path / 'no-data'}"])
    with pytest.raises(UserError, match=f"weight file {SLOWFAST_FILE}"):
        train_run(config, "human", tmp_path / "runs")


def tiny_checkpoint(folder: Path) -> Path:
    """A tiny SlowOnly in mmaction2's layout, named like the published files: `<name>-<sha256[:8]>.pth`."""
    network = build_encoder("slowonly_tiny", "flow", 2, 8).network
    draft = folder / "draft.pth"
    torch.save({"meta": {"epoch": 1}, "state_dict": network.state_dict()}, draft)
    return draft.rename(folder / f"slowonly_tiny-{file_sha256(draft)[:8]}.pth")


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A checkpoint served over HTTP and registered as a known file; yields (name, bytes)."""
    root = tmp_path / "server"
    root.mkdir()
    checkpoint = tiny_checkpoint(root)
    handler = functools.partial(QuietHandler, directory=str(root))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/{checkpoint.name}"
    monkeypatch.setitem(KNOWN_FILES, checkpoint.name, KnownFile(checkpoint.name, url, 0.1, "slowonly_tiny"))
    yield checkpoint.name, checkpoint.read_bytes()
    httpd.shutdown()
    httpd.server_close()


def test_download_fetches_verifies_and_keeps_a_known_file(tmp_path, served):
    name, content = served
    folder = tmp_path / "weights"
    (path,) = download_weights([name], str(folder))
    assert path == folder / name and path.read_bytes() == content
    assert not list(folder.glob("*.part"))
    download_weights([name], str(folder))  # already there: checked, not fetched again
    result = runner.invoke(app, ["weights", "check", name, "--encoder", "slowonly_tiny", "--weights-dir", str(folder)])
    assert result.exit_code == 0, result.output
    assert f"loaded 122 of 122 tensors from {name}" in result.output


def test_download_refuses_bytes_that_are_not_the_published_ones(tmp_path, served, monkeypatch):
    name, _ = served
    wrong = name.replace(name[-12:-4], "00000000")
    monkeypatch.setitem(KNOWN_FILES, wrong, KnownFile(wrong, KNOWN_FILES[name].url, 0.1, "slowonly_tiny"))
    with pytest.raises(UserError, match="does not start with the published 00000000: it was deleted"):
        download_weights([wrong], str(tmp_path))
    assert not (tmp_path / wrong).exists()


def test_a_file_without_a_published_checksum_is_checked_by_its_tensors(tmp_path, served, monkeypatch):
    """H.pth.tar's sha256 is not published: it used to be accepted whatever it held; now its tensors
    must fit its encoder, and a file that does not fit is deleted."""
    name, content = served
    server_root = tmp_path / "server"
    other = build_encoder("vggsound_r18_tiny", "audio", 1, 8).network  # another encoder's tensors
    torch.save({"state_dict": other.state_dict()}, server_root / "wrong.pth.tar")
    (server_root / "right.pth.tar").write_bytes(content)
    base = KNOWN_FILES[name].url.rsplit("/", 1)[0]
    for file in ("right.pth.tar", "wrong.pth.tar"):
        monkeypatch.setitem(KNOWN_FILES, file, KnownFile(file, f"{base}/{file}", 0.1, "slowonly_tiny"))
    folder = tmp_path / "weights"
    (path,) = download_weights(["right.pth.tar"], str(folder))
    assert path.read_bytes() == content
    with pytest.raises(UserError, match="wrong.pth.tar is not the published file .* it was deleted"):
        download_weights(["wrong.pth.tar"], str(folder))
    assert not (folder / "wrong.pth.tar").exists()


def test_weights_commands_answer_mistakes_with_exit_2(tmp_path):
    unknown = runner.invoke(app, ["weights", "download", "slowfast_r101.pth", "--weights-dir", str(tmp_path)])
    assert unknown.exit_code == 2 and "unknown weight file 'slowfast_r101.pth'" in unknown.output
    absent = runner.invoke(app, ["weights", "check", "H.pth.tar", "--weights-dir", str(tmp_path)])
    assert absent.exit_code == 2 and "`mmdg-bench weights download H.pth.tar`" in absent.output
    (tmp_path / "mine.pth").touch()
    anonymous = runner.invoke(app, ["weights", "check", "mine.pth", "--weights-dir", str(tmp_path)])
    assert anonymous.exit_code == 2 and "--encoder NAME" in anonymous.output
    for tiny in ("tiny2d", "tiny3d"):  # these were a bug report (exit 70): they take no weight file
        scratch = runner.invoke(app, ["weights", "check", "mine.pth", "--encoder", tiny,
                                      "--weights-dir", str(tmp_path)])
        assert scratch.exit_code == 2 and f"encoder '{tiny}' is trained from scratch" in scratch.output


def test_weights_list_says_where_and_what_is_found(tmp_path):
    (tmp_path / "H.pth.tar").touch()
    result = runner.invoke(app, ["weights", "list", "--weights-dir", str(tmp_path)], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line for line in result.output.splitlines() if ".pth" in line}
    assert " yes " in rows["H.pth.tar"] and " no " in rows[SLOWFAST_FILE]
    assert PAPER_FILES[0].url in rows[SLOWFAST_FILE] and str(tmp_path) in result.output
    assert "sha256 0dd54025" in rows[SLOWFAST_FILE] and "unverified: no published checksum" in rows["H.pth.tar"]


@pytest.mark.parametrize("columns", ["80", "40"])
def test_weights_list_keeps_names_and_urls_whole_on_a_narrow_terminal(tmp_path, columns):
    """Cut with '…' at 80 columns and when piped, the URL a user needs was unusable."""
    result = runner.invoke(app, ["weights", "list", "--weights-dir", str(tmp_path)], env={"COLUMNS": columns})
    assert result.exit_code == 0 and "…" not in result.output
    lines = result.output.splitlines()
    for known in KNOWN_FILES.values():
        assert known.name in lines and f"  URL      {known.url}" in lines
    plain = runner.invoke(app, ["weights", "list", "--weights-dir", str(tmp_path), "--format", "plain"])
    rows = [line.split("\t") for line in plain.output.splitlines()]
    assert rows[0] == ["file", "encoder", "MB", "found", "checked", "URL"]
    assert {row[0]: row[-1] for row in rows[1:]} == {k.name: k.url for k in KNOWN_FILES.values()}
