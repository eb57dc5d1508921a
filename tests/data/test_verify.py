"""`verify`: every referenced file exists and decodes as a run would read it; missing and corrupt
files are named, for all clips or a seeded sample."""

import shutil

import pytest

from mmdg_bench.config import load_config
from mmdg_bench.data import load_index, verify
from mmdg_bench.data.verify import CORRUPT_COLUMNS, sample_clips
from mmdg_bench.errors import UserError
from tests.media_fixtures import truncate

ALL = "data.modalities=[video,audio,flow]"


def data_config(preset, root, *overrides):
    # The real presets' pre-processing, made small: 4 frames at 32 px, 1 s of audio.
    small = ["data.video.size=32", "data.video.resize_short=0", "data.flow.size=32", "data.flow.resize_short=0",
             "data.video.num_frames=4", "data.flow.num_frames=4", "data.audio.seconds=1.0"]
    return load_config(preset, [*small, *overrides], data__root=str(root)).data


def test_a_complete_dataset_verifies(hac_root):
    calls = []
    report = verify(data_config("hac", hac_root, ALL), progress=lambda done, total: calls.append((done, total)))
    assert report.ok and report.missing.empty and report.corrupt.empty
    assert report.clips == report.total == 12 and report.modalities == ["video", "audio", "flow"]
    assert calls[-1] == (12, 12) and len(calls) == 12


def test_missing_and_corrupt_files_are_named(hac_root, tmp_path):
    root = shutil.copytree(hac_root, tmp_path / "data")
    broken_video = truncate(root / "animal" / "videos" / "sleeping_1.mp4")
    (root / "human" / "audio" / "h_sleeping_3.wav").unlink()
    broken_flow = root / "cartoon" / "flow" / "sleeping_3_flow_y.mp4"
    broken_flow.write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video")
    report = verify(data_config("hac", root, ALL))
    assert not report.ok
    assert report.missing[["clip_id", "modality", "path"]].values.tolist() == [
        ["human/h_sleeping_3", "audio", str(root / "human" / "audio" / "h_sleeping_3.wav")]]
    assert list(report.corrupt.columns) == CORRUPT_COLUMNS
    corrupt = {(row.clip_id, row.modality): row for row in report.corrupt.itertuples()}
    assert set(corrupt) == {("animal/sleeping_1", "video"), ("cartoon/sleeping_3", "flow")}
    assert corrupt["animal/sleeping_1", "video"].path == str(broken_video)
    assert corrupt["cartoon/sleeping_3", "flow"].path == str(broken_flow)
    assert str(broken_flow) in corrupt["cartoon/sleeping_3", "flow"].reason
    only_audio = verify(data_config("hac", root, "data.modalities=[audio]", "data.audio.frame_rate=0"))
    assert len(only_audio.missing) == 1 and only_audio.corrupt.empty  # a run on audio alone can go on


def test_frame_folders_are_decoded_frame_by_frame(epic_root, tmp_path):
    root = shutil.copytree(epic_root, tmp_path / "data")
    config = data_config("epic_kitchens", root, ALL)
    assert verify(config).ok
    clips = load_index(config).clips
    first, second = clips.iloc[0], clips.iloc[1]
    folder = root / "rgb" / "train" / "D1" / "P08_01"
    broken = truncate(folder / f"frame_{first.start_frame:010d}.jpg")  # the first sampled frame of clip 0
    inner = folder / f"frame_{second.start_frame + 8:010d}.jpg"  # sampled, but not a clip end
    inner.unlink()
    report = verify(config)
    assert report.corrupt[["clip_id", "modality", "path"]].values.tolist() == [[first.clip_id, "video", str(broken)]]
    assert report.missing[["clip_id", "modality", "path"]].values.tolist() == [[second.clip_id, "video", str(inner)]]


def test_a_sample_is_seeded_and_bounded(hac_root):
    clips = load_index(data_config("hac", hac_root)).clips
    assert sample_clips(clips, 3, 0).clip_id.tolist() == sample_clips(clips, 3, 0).clip_id.tolist()
    assert any(sample_clips(clips, 3, 0).clip_id.tolist() != sample_clips(clips, 3, s).clip_id.tolist()
               for s in range(1, 5))
    assert len(sample_clips(clips, 100, 0)) == len(clips)
    report = verify(data_config("hac", hac_root), sample=2, seed=1)
    assert (report.clips, report.total) == (2, 12) and report.ok
    with pytest.raises(UserError, match="--sample must be a positive number of clips, got 0"):
        verify(data_config("hac", hac_root), sample=0)
