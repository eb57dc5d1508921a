"""Dataset download against a local HTTP server (127.0.0.1, ephemeral port) serving archives built here.

The server plays both data.bris.ac.uk (plain files, Range requests) and the Hugging Face Hub's resolve
endpoint (HEAD/GET with ETag and X-Repo-Commit). It can drop connections mid-body, answer 5xx,
ignore Range, and it records every request so the tests can see what the client asked for.
"""

import hashlib
import io
import socket
import tarfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pytest
from rich.console import Console

from mmdg_bench.data.download import RetryPolicy, download, fetch
from mmdg_bench.data.download.epic import EpicFile, packaged_md5_table
from mmdg_bench.data.download.extract import extract_tar
from mmdg_bench.errors import UserError

FAST = RetryPolicy(attempts=3, backoff_s=0.01, timeout_s=5)
HUB = "/datasets/hdong51/Human-Animal-Cartoon/resolve/main/"


class FakeServer:
    def __init__(self):
        self.files: dict[str, bytes] = {}  # URL path -> content
        self.requests: list[dict] = []  # method, path, Range header, body bytes sent
        self.drops = 0  # GETs still to cut after half their body
        self.statuses: list[int] = []  # error statuses to answer before serving
        self.ignore_range = False
        self.url = ""

    def gets(self) -> list[dict]:
        return [r for r in self.requests if r["method"] == "GET"]


class Handler(BaseHTTPRequestHandler):
    def do_HEAD(self):
        self.answer(send_body=False)

    def do_GET(self):
        self.answer(send_body=True)

    def answer(self, send_body: bool):
        fake = self.server.fake
        record = {"method": self.command, "path": self.path, "range": self.headers.get("Range"), "sent": 0}
        fake.requests.append(record)
        if fake.statuses:
            self.send_response(fake.statuses.pop(0))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        content = fake.files.get(urlparse(self.path).path)
        if content is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")  # what the Hub says for a missing file
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start = 0
        if record["range"] and not fake.ignore_range:
            start = int(record["range"].removeprefix("bytes=").rstrip("-"))
        body = content[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")
        self.send_header("ETag", f'"{hashlib.sha256(content).hexdigest()}"')
        self.send_header("X-Repo-Commit", "0123456789abcdef0123456789abcdef01234567")
        self.end_headers()
        if not send_body:
            return
        if fake.drops:
            fake.drops -= 1
            body = body[: len(body) // 2]  # then the connection closes (HTTP/1.0) short of Content-Length
        record["sent"] = len(body)  # before the write: the client may finish reading before this thread goes on
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    fake = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.fake = fake
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{httpd.server_port}"
    yield fake
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def tar_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def serve_epic(server: FakeServer, remote_path: str, content: bytes) -> EpicFile:
    """Serve `content` at <server>/epic/<remote_path> and describe it as a row of the md5 table."""
    server.files["/epic/" + remote_path] = content
    kind, split, participant, name = remote_path.split("/")[-4:]
    kind = "mp4" if remote_path.startswith("videos/") else kind
    return EpicFile(remote_path=remote_path, md5=md5(content), kind=kind, split=split, participant=participant,
                    video=name.split(".")[0])


def download_epic(server, root, modalities, files, **kwargs):
    download("epic_kitchens", root, modalities, base_url=server.url + "/epic/", epic_files=files, retry=FAST,
             **kwargs)


RGB = {"./frame_0000000001.jpg": b"rgb-1", "./frame_0000000002.jpg": b"rgb-2"}
FLOW = {"./u/frame_0000000001.jpg": b"u-1", "./v/frame_0000000001.jpg": b"v-1"}


def test_packaged_md5_table_lists_the_64_videos_of_the_mm_sada_split():
    files = packaged_md5_table()
    assert len(files) == 192 and len({f.video for f in files}) == 64
    rgb = [f for f in files if f.kind == "rgb"]
    assert sum(f.split == "train" for f in rgb) == 49 and sum(f.split == "test" for f in rgb) == 15
    assert {f.participant: f.domain for f in files} == {"P08": "D1", "P01": "D2", "P22": "D3"}
    assert all(len(f.md5) == 32 and int(f.md5, 16) >= 0 for f in files)


def test_epic_download_verifies_and_arranges_the_simmmdg_layout(server, tmp_path):
    root = tmp_path / "EPIC"
    files = [serve_epic(server, "frames_rgb_flow/rgb/train/P08/P08_01.tar", tar_bytes(RGB)),
             serve_epic(server, "frames_rgb_flow/flow/train/P08/P08_01.tar", tar_bytes(FLOW)),
             serve_epic(server, "frames_rgb_flow/rgb/test/P22/P22_01.tar", tar_bytes(RGB)),
             serve_epic(server, "videos/train/P08/P08_01.MP4", b"raw mp4 bytes")]
    out = io.StringIO()
    download_epic(server, root, ["video", "flow", "raw_video"], files, console=Console(file=out, width=120))
    assert (root / "rgb/train/D1/P08_01/frame_0000000002.jpg").read_bytes() == b"rgb-2"
    assert (root / "rgb/test/D3/P22_01/frame_0000000001.jpg").read_bytes() == b"rgb-1"
    assert (root / "flow/train/D1/P08_01/u/frame_0000000001.jpg").read_bytes() == b"u-1"
    assert (root / "flow/train/D1/P08_01/v/frame_0000000001.jpg").read_bytes() == b"v-1"
    assert (root / "videos/train/D1/P08_01.MP4").read_bytes() == b"raw mp4 bytes"
    assert not list(root.rglob("*.part")) and not list(root.rglob("*.tar"))  # unpacked tars are deleted
    assert "P08_01.MP4" in out.getvalue()
    seen = len(server.requests)
    download_epic(server, root, ["video", "flow", "raw_video"], files)
    assert len(server.requests) == seen  # complete files are not fetched again


def test_epic_base_url_comes_from_the_environment(server, tmp_path, monkeypatch):
    files = [serve_epic(server, "videos/test/P01/P01_11.MP4", b"mp4")]
    monkeypatch.setenv("MMDG_BENCH_EPIC_URL", server.url + "/epic")
    download("epic_kitchens", tmp_path, ["raw_video"], epic_files=files, retry=FAST)
    assert (tmp_path / "videos/test/D2/P01_11.MP4").read_bytes() == b"mp4"


def test_a_partial_file_is_resumed_with_a_range_request(server, tmp_path):
    content = bytes(range(256)) * 40
    server.files["/f.bin"] = content
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(content[:4000])
    fetch(server.url + "/f.bin", dest, md5=md5(content), retry=FAST)
    [get] = server.gets()
    assert get["range"] == "bytes=4000-" and get["sent"] == len(content) - 4000
    assert md5(dest.read_bytes()) == md5(content) and not (tmp_path / "f.bin.part").exists()


def test_a_server_that_ignores_range_restarts_the_file(server, tmp_path):
    content = b"0123456789" * 100
    server.files["/f.bin"] = content
    server.ignore_range = True
    (tmp_path / "f.bin.part").write_bytes(content[:300])
    fetch(server.url + "/f.bin", tmp_path / "f.bin", md5=md5(content), retry=FAST)
    assert (tmp_path / "f.bin").read_bytes() == content  # not the first 300 bytes twice


def test_a_wrong_md5_fails_clearly_and_leaves_no_file(server, tmp_path):
    server.files["/f.bin"] = b"not the published bytes"
    with pytest.raises(UserError, match=r"/f\.bin has md5 \w+, not the published 0{32}"):
        fetch(server.url + "/f.bin", tmp_path / "f.bin", md5="0" * 32, retry=FAST)
    assert list(tmp_path.iterdir()) == []
    assert len(server.gets()) == 2  # one fresh download more, in case the .part was resumed from a changed file


def test_a_tar_member_climbing_out_is_rejected_and_nothing_is_written(server, tmp_path):
    root = tmp_path / "EPIC"
    evil = tar_bytes({"./frame_0000000001.jpg": b"ok", "../escape": b"evil", "../../escape": b"evil"})
    files = [serve_epic(server, "frames_rgb_flow/rgb/train/P08/P08_01.tar", evil)]
    with pytest.raises(UserError, match=r"P08_01\.tar holds a member '\.\./escape' that climbs out"):
        download_epic(server, root, ["video"], files)
    assert not list(tmp_path.rglob("escape"))
    assert not (root / "rgb/train/D1").exists() or list((root / "rgb/train/D1").iterdir()) == []


@pytest.mark.parametrize("kind, reason", [("absolute", "has an absolute path"), ("symlink", "is a link to"),
                                          ("hardlink", "is a link to"), ("fifo", "is a device or a pipe")])
def test_unsafe_tar_members_are_rejected(tmp_path, kind, reason):
    outside = tmp_path / "outside"
    info = tarfile.TarInfo(str(outside / "abs.jpg") if kind == "absolute" else "./member")
    if kind in ("symlink", "hardlink"):
        info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
        info.linkname = str(outside)
    elif kind == "fifo":
        info.type = tarfile.FIFOTYPE
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        tar.addfile(info, io.BytesIO(b"") if kind == "absolute" else None)
    with pytest.raises(UserError, match=f"evil.tar holds a member .* that {reason}"):
        extract_tar(archive, tmp_path / "dest")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.tar"]


def test_an_rgb_tar_without_frames_is_not_arranged(server, tmp_path):
    files = [serve_epic(server, "frames_rgb_flow/rgb/train/P08/P08_01.tar", tar_bytes({"./notes.txt": b"x"}))]
    with pytest.raises(UserError, match="has no frame_\\*.jpg at its top"):
        download_epic(server, tmp_path, ["video"], files)
    assert not (tmp_path / "rgb/train/D1/P08_01").exists() and not list(tmp_path.rglob("*.part"))


def test_a_dropped_connection_is_retried_and_resumed(server, tmp_path):
    content = bytes(range(256)) * 64
    server.files["/f.bin"] = content
    server.drops = 2
    fetch(server.url + "/f.bin", tmp_path / "f.bin", md5=md5(content), retry=FAST)
    gets = server.gets()
    assert len(gets) == 3 and gets[0]["range"] is None
    assert gets[1]["range"] == f"bytes={gets[0]['sent']}-"  # the second try asks only for the rest
    assert (tmp_path / "f.bin").read_bytes() == content


def test_a_connection_that_always_drops_fails_after_bounded_tries(server, tmp_path):
    server.files["/f.bin"] = b"x" * 10_000
    server.drops = 1_000
    started = time.monotonic()
    with pytest.raises(UserError, match=r"could not download .*/f\.bin in 3 tries .* kept in .*f\.bin\.part "
                                        r"and the next run resumes"):
        fetch(server.url + "/f.bin", tmp_path / "f.bin", retry=FAST)
    assert time.monotonic() - started < 5 and len(server.gets()) == 3
    assert not (tmp_path / "f.bin").exists() and (tmp_path / "f.bin.part").exists()  # kept to resume


def test_server_errors_are_retried(server, tmp_path):
    server.files["/f.bin"] = b"payload"
    server.statuses = [503, 502]
    fetch(server.url + "/f.bin", tmp_path / "f.bin", md5=md5(b"payload"), retry=FAST)
    assert (tmp_path / "f.bin").read_bytes() == b"payload" and len(server.gets()) == 3


def test_a_404_is_reported_at_once(server, tmp_path):
    with pytest.raises(UserError, match=r"/epic/missing\.tar answered HTTP 404 .* not on the server"):
        fetch(server.url + "/epic/missing.tar", tmp_path / "missing.tar", retry=FAST)
    assert len(server.requests) == 1 and list(tmp_path.iterdir()) == []


def test_a_host_name_that_does_not_resolve_is_reported_at_once(tmp_path, monkeypatch):
    """A name-resolution error is no network (or a wrong URL): one try, one sentence, no back-off (the
    retries used to take 67 s to say the same)."""
    tries, waits = [], []

    def unresolvable(request, timeout):
        tries.append(request.full_url)
        raise urllib.error.URLError(socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", unresolvable)
    monkeypatch.setattr(time, "sleep", waits.append)
    with pytest.raises(UserError, match=r"host name data\.example could not be resolved \(Temporary failure"):
        fetch("https://data.example/epic/P01_01.tar", tmp_path / "P01_01.tar")
    assert len(tries) == 1 and waits == [] and list(tmp_path.iterdir()) == []


def hac_zip(domain: str, with_audio: bool = True) -> bytes:
    members = {f"{domain}/videos/sleeping_1.mp4": f"{domain} video".encode(),
               f"{domain}/flow/sleeping_1_flow_x.mp4": b"flow x", f"{domain}/flow/sleeping_1_flow_y.mp4": b"flow y",
               f"__MACOSX/{domain}/videos/._sleeping_1.mp4": b"mac metadata", f"{domain}/notes.txt": b"skip"}
    if with_audio:
        members[f"{domain}/audio/sleeping_1.wav"] = b"wav"
    return zip_bytes(members)


def test_hac_is_downloaded_through_the_hub_client_and_arranged(server, tmp_path):
    for domain in ("human", "animal", "cartoon"):
        server.files[f"{HUB}{domain}.zip"] = hac_zip(domain)
    root = tmp_path / "HAC"
    download("hac", root, ["video", "audio", "flow"], hf_endpoint=server.url, console=Console(file=io.StringIO()))
    for domain in ("human", "animal", "cartoon"):
        assert (root / domain / "videos/sleeping_1.mp4").read_bytes() == f"{domain} video".encode()
        assert (root / domain / "audio/sleeping_1.wav").read_bytes() == b"wav"
        assert (root / domain / "flow/sleeping_1_flow_x.mp4").read_bytes() == b"flow x"
        assert sorted(p.name for p in (root / domain / "videos").iterdir()) == ["sleeping_1.mp4"]
    assert {(r["method"], r["path"]) for r in server.requests} >= {("HEAD", f"{HUB}human.zip"),
                                                                   ("GET", f"{HUB}human.zip")}
    seen = len(server.requests)
    download("hac", root, ["video", "audio"], hf_endpoint=server.url)
    assert len(server.requests) == seen  # arranged modalities are not asked for again


def test_a_hac_zip_without_a_requested_modality_fails_clearly(server, tmp_path):
    server.files[f"{HUB}human.zip"] = hac_zip("human", with_audio=False)
    with pytest.raises(UserError, match=r"human\.zip holds no \*\.wav file, so the audio of the human domain"):
        download("hac", tmp_path, ["video", "audio"], hf_endpoint=server.url)
    assert not (tmp_path / "human").exists()


def test_a_file_missing_on_the_hub_is_a_user_error(server, tmp_path):
    with pytest.raises(UserError, match=r"human\.zip of the Hugging Face dataset .* was not found"):
        download("hac", tmp_path, ["video"], hf_endpoint=server.url)


def test_epic_audio_comes_from_the_hub_zip(server, tmp_path, monkeypatch):
    server.files[f"{HUB}EPIC-KITCHENS-audio.zip"] = zip_bytes({"EPIC-KITCHENS-audio/P08_01.wav": b"P08_01 audio",
                                                             "EPIC-KITCHENS-audio/P22_01.wav": b"P22_01 audio",
                                                             "EPIC-KITCHENS-audio/P30_01.wav": b"not in the split"})
    files = [serve_epic(server, "frames_rgb_flow/rgb/train/P08/P08_01.tar", b""),
             serve_epic(server, "frames_rgb_flow/rgb/test/P22/P22_01.tar", b"")]
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    download_epic(server, tmp_path, ["audio"], files)
    assert (tmp_path / "rgb/train/D1/P08_01.wav").read_bytes() == b"P08_01 audio"
    assert (tmp_path / "rgb/test/D3/P22_01.wav").read_bytes() == b"P22_01 audio"
    assert sorted(p.name for p in tmp_path.rglob("*.wav")) == ["P08_01.wav", "P22_01.wav"]  # not P30_01


def test_unknown_dataset_and_modality_are_named():
    with pytest.raises(UserError, match="did you mean 'hac'"):
        download("hca", Path("unused"))
    with pytest.raises(UserError, match="modality of hac 'raw_video'"):
        download("hac", Path("unused"), ["raw_video"])
