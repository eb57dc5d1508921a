"""The data bench: training loaders read training views; the paper-size fixtures in both real layouts
load at the paper's shapes; GPU JPEG decoding is refused without CUDA and plumbed through the loader."""

from pathlib import Path

import numpy as np
import pytest
import torch

from mmdg_bench.bench.data import epoch_seconds, write_epic_frames_layout, write_hac_layout
from mmdg_bench.config import load_config
from mmdg_bench.data import ClipDataset
from mmdg_bench.data.decoding import _read_folder, require_gpu_decoding
from mmdg_bench.errors import UserError


class KeyRecorder(torch.utils.data.Dataset):
    def __init__(self, train: bool):
        self.train, self.keys = train, []

    def __len__(self):
        return 4

    def __getitem__(self, key):
        self.keys.append(key)
        return 0


def test_a_training_dataset_is_read_by_index_and_epoch():
    training, evaluation = KeyRecorder(train=True), KeyRecorder(train=False)
    epoch_seconds(training, batch_size=2, workers=0, seed=2)
    epoch_seconds(evaluation, batch_size=2, workers=0, seed=2)
    assert sorted(training.keys) == [(i, 3) for i in range(4)]
    assert sorted(evaluation.keys) == [0, 1, 2, 3]


@pytest.mark.parametrize("preset, write", [("epic_kitchens_paper", write_epic_frames_layout),
                                           ("hac_paper", write_hac_layout)])
def test_the_paper_size_fixtures_load_at_the_papers_shapes(tmp_path, preset, write):
    clips = write(tmp_path, 1)
    data = load_config(preset, ["data.modalities=[video,audio,flow]"]).data
    clip = ClipDataset(clips, data.modalities, data, ["D1", "human"], train=True)[(0, 1)]
    assert clip["video"].shape == (3, 32, 224, 224) and clip["flow"].shape == (2, 8, 224, 224)
    assert clip["audio"].shape == (1, 257, 1004)
    assert clip["video"].std() > 0.1  # textured frames, not flat ones


def test_gpu_decoding_is_refused_without_cuda(monkeypatch):
    data = load_config("epic_kitchens_paper", ["data.video.decode=gpu", "data.num_workers=0"]).data
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="'data.video.decode' is gpu but CUDA is not available on this machine"):
        require_gpu_decoding(data)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    require_gpu_decoding(data)
    data.num_workers = 2
    require_gpu_decoding(data)  # its workers are spawned, not refused (tests/data/test_decoding.py)
    data.modalities = ["audio"]
    require_gpu_decoding(data)  # no frames read: nothing to refuse


def test_gpu_decoding_batches_a_clips_frames_into_one_call(tmp_path, monkeypatch):
    """nvJPEG replaced by torchvision's CPU decoder (no GPU here): one call per clip, PyAV's pixels."""
    import torchvision.io

    clips = write_epic_frames_layout(tmp_path, 1)
    calls = []
    cpu_decode = torchvision.io.decode_jpeg

    def decode_on_cpu(data, mode, device):
        calls.append((len(data), device))
        return cpu_decode(data, mode=mode)

    monkeypatch.setattr(torchvision.io, "decode_jpeg", decode_on_cpu)
    monkeypatch.setattr(torch.cuda, "init", lambda: None)  # CUDA 'starts' (no GPU here)
    folder, numbers = clips.video_path[0], list(range(1, 33, 2))
    on_gpu = _read_folder(Path(folder), numbers, grey=False, on_gpu=True)
    on_cpu = _read_folder(Path(folder), numbers, grey=False)
    assert calls == [(16, "cuda")]
    assert on_gpu.shape == on_cpu.shape == (16, 256, 456, 3)
    assert np.median(np.abs(on_gpu.astype(int) - on_cpu.astype(int))) <= 4  # chroma upsampling differs a little
    flow = Path(clips.flow_u_path[0])
    grey = _read_folder(flow, numbers[:4], grey=True, on_gpu=True)
    assert grey.shape == (4, 256, 456, 1)
    assert np.abs(grey.astype(int) - _read_folder(flow, numbers[:4], grey=True).astype(int)).mean() < 0.5
