"""GPU decoding catches only decoding failures: a GPU out-of-memory or a CUDA that cannot start is not a
damaged clip (so `data.on_corrupt: skip` does not drop it silently); a JPEG that does not decode still is.
No GPU here: nvJPEG is replaced by torchvision's CPU decoder, or by a function raising what CUDA raises."""

from pathlib import Path

import pytest
import torch
import torchvision.io

from mmdg_bench.data.decoding import FRAME_NAME, _read_folder
from mmdg_bench.errors import MediaError, UserError
from tests.data.test_loaders import data_config, dataset, epic_row
from tests.media_fixtures import make_epic_simmmdg


@pytest.fixture(scope="module")
def epic(tmp_path_factory):
    return make_epic_simmmdg(tmp_path_factory.mktemp("epic") / "data", domains=("D1",))


@pytest.fixture
def cuda_starts(monkeypatch):
    """CUDA 'starts' (no GPU here); decoding goes to whatever the test puts in nvJPEG's place."""
    monkeypatch.setattr(torch.cuda, "init", lambda: None)


def raising(error: BaseException):
    def decode(data, mode, device):
        raise error
    return decode


def gpu_dataset(epic):
    cfg = data_config("data.video.decode=gpu", "data.num_workers=0", "data.on_corrupt=skip")
    return dataset([epic_row(epic, "simmmdg", 0), epic_row(epic, "simmmdg", 1)], ["video"], cfg)


def test_a_gpu_out_of_memory_is_not_a_corrupt_clip_and_is_not_skipped(epic, cuda_starts, monkeypatch):
    monkeypatch.setattr(torchvision.io, "decode_jpeg", raising(torch.OutOfMemoryError("CUDA out of memory.")))
    folder = Path(epic_row(epic, "simmmdg", 0).video_path)
    with pytest.raises(torch.OutOfMemoryError, match=r"GPU memory, not a damaged clip") as err:
        _read_folder(folder, [1, 2], grey=False, on_gpu=True)
    assert "\n" not in str(err.value) and isinstance(err.value, UserError)  # one sentence, exit code 2
    with pytest.raises(torch.OutOfMemoryError):  # on_corrupt=skip would otherwise leave every clip out, silently
        gpu_dataset(epic).drop_unreadable()


def test_a_cuda_runtime_failure_in_the_gpu_decoder_propagates_as_itself(epic, cuda_starts, monkeypatch):
    error = torch.AcceleratorError("CUDA error: an illegal memory access was encountered")
    monkeypatch.setattr(torchvision.io, "decode_jpeg", raising(error))
    with pytest.raises(torch.AcceleratorError, match="illegal memory access"):
        gpu_dataset(epic).drop_unreadable()


def test_a_cuda_that_cannot_start_is_not_a_corrupt_clip(epic, monkeypatch):
    def bad_fork():
        raise RuntimeError("Cannot re-initialize CUDA in forked subprocess.")

    monkeypatch.setattr(torch.cuda, "init", bad_fork)
    monkeypatch.setattr(torchvision.io, "decode_jpeg", raising(RuntimeError("never reached")))
    with pytest.raises(RuntimeError, match="forked subprocess"):
        gpu_dataset(epic).drop_unreadable()


def test_a_jpeg_that_does_not_decode_is_still_a_corrupt_clip(epic, cuda_starts, monkeypatch, tmp_path):
    cpu_decode = torchvision.io.decode_jpeg
    monkeypatch.setattr(torchvision.io, "decode_jpeg", lambda data, mode, device: cpu_decode(data, mode=mode))
    folder = tmp_path / "frames"
    folder.mkdir()
    for number in (1, 2):
        (folder / FRAME_NAME.format(number)).write_bytes(b"\xff\xd8 this is not a JPEG's body")
    with pytest.raises(MediaError, match="nvJPEG could not decode a frame"):
        _read_folder(folder, [1, 2], grey=False, on_gpu=True)
