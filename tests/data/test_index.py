"""Clip indexes of HAC and EPIC-Kitchens in their real layouts: the column contract, the packaged
splits, `index_report` (counts and missing files), and one-sentence errors for a wrong data root."""

import math
import shutil

import numpy as np
import pandas as pd
import pytest

from mmdg_bench.config import load_config
from mmdg_bench.data import index_report, load_index
from mmdg_bench.data.epic_kitchens import EPIC_CLASSES
from mmdg_bench.data.hac import HAC_CLASSES
from mmdg_bench.data.index import MISSING_COLUMNS
from mmdg_bench.errors import UserError
from tests.media_fixtures import EPIC_FPS, epic_clips, make_epic_mmdg_bench, make_epic_simmmdg, make_hac

# The column contract shared with the loaders (mmdg_bench/data/index.py).
CONTRACT = ["clip_id", "domain", "split", "label", "video_path", "audio_path", "flow_u_path", "flow_v_path",
            "start_frame", "stop_frame", "flow_start", "flow_stop", "start_time", "stop_time"]


def data_config(preset, root, *overrides):
    return load_config(preset, [*overrides], data__root=str(root) if root else None).data


def test_hac_index_follows_the_column_contract(hac_root):
    index = load_index(data_config("hac", hac_root))
    clips = index.clips
    assert list(clips.columns) == CONTRACT
    assert len(clips) == 3 * 2 * 2 and index.classes == HAC_CLASSES and index.target_splits == ("train", "test")
    row = clips[clips.clip_id == "animal/watching_tv_4"].iloc[0]
    assert row.split == "test" and row.label == 1
    assert row.video_path == str(hac_root / "animal" / "videos" / "watching_tv_4.mp4")
    assert row.audio_path == str(hac_root / "animal" / "audio" / "watching_tv_4.wav")
    assert row.flow_u_path == str(hac_root / "animal" / "flow" / "watching_tv_4_flow_x.mp4")
    assert row.flow_v_path == str(hac_root / "animal" / "flow" / "watching_tv_4_flow_y.mp4")
    assert (clips[["start_frame", "stop_frame", "flow_start", "flow_stop"]] == -1).all().all()
    assert clips[["start_time", "stop_time"]].isna().all().all()


def test_hac_index_report_counts_and_missing(hac_root, tmp_path):
    root = shutil.copytree(hac_root, tmp_path / "data")
    counts, missing = index_report(data_config("hac", root, "data.modalities=[video,audio,flow]"))
    assert list(counts.columns) == HAC_CLASSES
    assert counts.index.tolist() == [(d, s) for d in ("human", "animal", "cartoon") for s in ("train", "test")]
    assert counts.loc[("cartoon", "test")].tolist() == [1, 1, 0, 0, 0, 0, 0]
    assert missing.empty and list(missing.columns) == MISSING_COLUMNS
    (root / "human" / "audio" / "h_sleeping_1.wav").unlink()
    (root / "cartoon" / "flow" / "sleeping_3_flow_y.mp4").unlink()
    _, missing = index_report(data_config("hac", root, "data.modalities=[video,audio,flow]"))
    assert missing.values.tolist() == [
        ["human/h_sleeping_1", "human", "train", "audio", str(root / "human/audio/h_sleeping_1.wav")],
        ["cartoon/sleeping_3", "cartoon", "test", "flow", str(root / "cartoon/flow/sleeping_3_flow_y.mp4")],
    ]
    _, without_flow = index_report(data_config("hac", root))  # the preset's modalities: video + audio
    assert without_flow.modality.tolist() == ["audio"]


def test_hac_without_a_split_folder_uses_the_packaged_splits(tmp_path):
    (tmp_path / "human").mkdir()
    index = load_index(data_config("hac", tmp_path))
    sizes = index.clips.groupby(["domain", "split"], sort=False).size()
    assert sizes.tolist() == [1111, 276, 730, 176, 870, 218]
    assert (index.clips.groupby("split").clip_id.apply(lambda ids: ids.is_unique)).all()
    # animal and cartoon reuse file names: their clips stay apart by folder
    animal, cartoon = (index.clips[index.clips.clip_id == f"{d}/door_opening_1"].video_path.iloc[0]
                       for d in ("animal", "cartoon"))
    assert animal != cartoon
    _, missing = index_report(data_config("hac", tmp_path))
    assert len(missing) == 2 * len(index.clips)


def test_epic_simmmdg_index_reads_frame_folders_and_ranges(epic_root):
    index = load_index(data_config("epic_kitchens", epic_root))
    clips = index.clips
    assert list(clips.columns) == CONTRACT
    assert index.domains == ["D1", "D2", "D3"] and index.classes == EPIC_CLASSES
    assert index.target_splits == ("test",)
    table = epic_clips("D1", "train", 2)
    row = clips.iloc[1]
    split_row = table.iloc[1]
    assert row.clip_id == f"D1/P08_01/{split_row.uid}" and row.label == split_row.verb_class
    assert row.video_path == str(epic_root / "rgb/train/D1/P08_01")
    assert row.audio_path == str(epic_root / "rgb/train/D1/P08_01.wav")
    assert row.flow_u_path == str(epic_root / "flow/train/D1/P08_01/u")
    assert (row.start_frame, row.stop_frame) == (split_row.start_frame, split_row.stop_frame)
    # SimMMDG: flow start = ceil(start/2), length = (stop - start)/2
    assert row.flow_start == math.ceil(split_row.start_frame / 2)
    assert row.flow_stop - row.flow_start == (split_row.stop_frame - split_row.start_frame) // 2
    assert row.start_time == pytest.approx(split_row.start_frame / EPIC_FPS, abs=0.01)
    assert row.stop_time == pytest.approx(split_row.stop_frame / EPIC_FPS, abs=0.01)
    target = index.protocol("D2")["target"]
    assert set(target.domain) == {"D2"} and set(target.split) == {"test"}


def test_epic_missing_frames_are_found_at_the_clip_ends(epic_root, tmp_path):
    root = shutil.copytree(epic_root, tmp_path / "data")
    config = data_config("epic_kitchens", root, "data.modalities=[video,audio,flow]")
    assert index_report(config)[1].empty
    clip = load_index(config).clips.iloc[0]
    last_frame = root / "rgb/train/D1/P08_01" / f"frame_{clip.stop_frame - 1:010d}.jpg"
    last_frame.unlink()
    shutil.rmtree(root / "flow/test/D3/P22_09/v")
    (root / "rgb/test/D2/P01_09.wav").unlink()
    missing = index_report(config)[1]
    assert missing[missing.modality == "video"].path.tolist() == [str(last_frame)]
    assert missing[missing.modality == "audio"].path.tolist() == [str(root / "rgb/test/D2/P01_09.wav")] * 2
    assert missing[missing.modality == "flow"].path.tolist() == [str(root / "flow/test/D3/P22_09/v")] * 2


def test_epic_split_pickles_in_the_root_are_read_safely(tmp_path):
    root = make_epic_simmmdg(tmp_path / "data", clips_per_split=1, domains=("D1", "D2", "D3"), split_format="pkl")
    assert not list((root / "MM-SADA_Domain_Adaptation_Splits").glob("*.csv"))
    index = load_index(data_config("epic_kitchens", root))
    assert len(index.clips) == 6 and index.clips.video_path.str.startswith(str(root / "rgb")).all()


def test_epic_packaged_splits_give_the_spec_counts(tmp_path):
    (tmp_path / "rgb").mkdir()
    counts, missing = index_report(data_config("epic_kitchens", tmp_path))
    assert counts.sum(axis=1).tolist() == [1543, 435, 2495, 750, 3897, 974]
    assert counts.loc[("D3", "test"), "mix"] == 1
    assert set(missing.modality) == {"video", "audio"}


@pytest.mark.parametrize("legacy, clips", [(False, ""), (True, "EPIC-mp4/")])  # EPIC-mp4/: its first commits
def test_epic_mmdg_bench_layout_names_one_mp4_per_clip(tmp_path, legacy, clips):
    root = make_epic_mmdg_bench(tmp_path / "data", clips_per_split=1, legacy=legacy)
    config = data_config("epic_kitchens", root, "data.modalities=[video,audio,flow]")
    index = load_index(config)
    row = index.clips.iloc[0]
    assert row.video_path == str(root / f"{clips}video/train/D1/D1_P08_01_7_31_0.mp4")
    # flow clips are named by their flow frame range: ceil(7/2) = 4, 4 + (31-7)/2 = 16
    assert row.flow_u_path == str(root / f"{clips}flow/train/D1/D1_P08_01_4_16_0_u.mp4")
    assert row.flow_v_path == str(root / f"{clips}flow/train/D1/D1_P08_01_4_16_0_v.mp4")
    assert row.audio_path == str(root / "audio/train/D1/P08_01.wav")
    assert (row.start_frame, row.stop_frame, row.flow_start, row.flow_stop) == (-1, -1, -1, -1)
    assert [row.start_time, row.stop_time] == pytest.approx([0.12, 0.52])
    assert index_report(config)[1].empty
    assert load_index(data_config("epic_kitchens", root, "data.layout=mmdg-bench")).clips.equals(index.clips)
    with pytest.raises(UserError, match="epic_kitchens layout: .*/rgb not found"):
        load_index(data_config("epic_kitchens", root, "data.layout=simmmdg"))


def test_auto_tells_simmmdg_flow_folders_from_mmdg_bench_clips(epic_root, tmp_path):
    """Both layouts have a `flow` folder; an MMDG-Bench root may also hold `rgb` (its audio)."""
    assert load_index(data_config("epic_kitchens", epic_root)).clips.video_path.iloc[0] == \
        str(epic_root / "rgb/train/D1/P08_01")
    root = make_epic_mmdg_bench(tmp_path / "data", clips_per_split=1)
    (root / "audio").rename(root / "rgb")
    config = data_config("epic_kitchens", root, "data.modalities=[video,audio,flow]")
    row = load_index(config).clips.iloc[0]
    assert row.video_path == str(root / "video/train/D1/D1_P08_01_7_31_0.mp4")
    assert row.audio_path == str(root / "rgb/train/D1/P08_01.wav") and index_report(config)[1].empty


def test_epic_mmdg_bench_layout_as_in_its_readme(tmp_path):
    """MMDG-Bench's README nests everything in the split folder; audio from rgb/ for a video without
    a wav in audio/ (where `data extract-audio` writes it)."""
    nested = make_epic_mmdg_bench(tmp_path / "data" / "MM-SADA_Domain_Adaptation_Splits", clips_per_split=1)
    for split_csv in (nested / "MM-SADA_Domain_Adaptation_Splits").iterdir():
        split_csv.rename(nested / split_csv.name)
    (nested / "MM-SADA_Domain_Adaptation_Splits").rmdir()
    extracted = nested / "rgb/train/D1/P08_01.wav"
    extracted.parent.mkdir(parents=True)
    (nested / "audio/train/D1/P08_01.wav").rename(extracted)
    config = data_config("epic_kitchens", tmp_path / "data", "data.modalities=[video,audio,flow]")
    audio = load_index(config).clips.set_index("clip_id").audio_path
    assert audio["D1/P08_01/0"] == str(extracted)
    assert audio["D1/P08_09/1"] == str(nested / "audio/test/D1/P08_09.wav")
    assert index_report(config)[1].empty


def test_hac_as_mmdg_bench_lays_it_out_inside_the_split_folder(tmp_path):
    root = make_hac(tmp_path / "data", clips_per_split=1, mmdg_bench=True)
    config = data_config("hac", root, "data.modalities=[video,audio,flow]")
    row = load_index(config).clips.iloc[0]
    assert row.video_path == str(root / "HAC_Splits/human/videos/h_sleeping_1.mp4")
    assert row.flow_v_path == str(root / "HAC_Splits/human/flow/h_sleeping_1_flow_y.mp4")
    assert index_report(config)[1].empty
    for split_csv in (root / "HAC_Splits").glob("*.csv"):  # split files in their domain's folder
        split_csv.rename(root / "HAC_Splits" / split_csv.name.split("_")[-1].removesuffix(".csv") / split_csv.name)
    index = load_index(config)
    assert len(index.clips) == 6 and index.clips.video_path.iloc[0] == row.video_path


@pytest.mark.parametrize("preset, make, overrides, fragments", [
    ("hac", None, [], ["dataset 'hac' needs a data root: pass --data-root PATH"]),
    ("hac", lambda p: p / "absent", [], ["data root {root}/absent does not exist (expected the hac layout: "
                                         "<root>/{{domain}}/videos/<name>.mp4"]),
    ("hac", lambda p: p, [], ["data root {root} does not have the hac layout: {root}/human not found "
                              "(expected <root>/{{domain}}/videos/<name>.mp4"]),
    ("epic_kitchens", lambda p: p, [], ["data root {root} does not have the epic_kitchens layout: "
                                        "{root}/video not found (expected <root>/video/",
                                        " or <root>/EPIC-mp4/video/",
                                        " or <root>/rgb/{{train,test}}/D1/P08_01/frame_0000000001.jpg)"]),
    ("epic_kitchens", lambda p: (p / "rgb").mkdir() or p, ["data.layout=mmdg-bench"],
     ["{root}/video not found"]),
    ("epic_kitchens", lambda p: (p / "flow").mkdir() or p, [],
     ["{root}/video not found"]),  # a flow folder alone says nothing about the layout
])
def test_a_wrong_data_root_is_one_sentence(tmp_path, preset, make, overrides, fragments):
    root = make(tmp_path) if make else None
    with pytest.raises(UserError) as caught:
        load_index(data_config(preset, root, *overrides))
    for fragment in fragments:
        assert fragment.format(root=tmp_path) in str(caught.value)


def test_a_split_folder_that_lacks_a_file_is_named(hac_root, tmp_path):
    root = shutil.copytree(hac_root, tmp_path / "data")
    (root / "HAC_Splits" / "HAC_test_only_cartoon.csv").unlink()
    with pytest.raises(UserError, match="HAC_Splits has no HAC_test_only_cartoon.csv or "
                                        "cartoon/HAC_test_only_cartoon.csv; add it, or remove the folder"):
        load_index(data_config("hac", root))


def test_an_out_of_range_label_is_named(hac_root, tmp_path):
    root = shutil.copytree(hac_root, tmp_path / "data")
    (root / "HAC_Splits" / "HAC_train_only_human.csv").write_text("h_sleeping_1.mp4,9\r\n", newline="")
    with pytest.raises(UserError, match="clip human/h_sleeping_1 has label 9, outside 0..6"):
        load_index(data_config("hac", root))


def test_an_unknown_target_domain_suggests_the_closest(hac_root):
    with pytest.raises(UserError, match="unknown target domain 'humans' \\(did you mean 'human'\\?\\)"):
        load_index(data_config("hac", hac_root)).protocol("humans")


def test_an_unknown_modality_lists_the_dataset_modalities(hac_root):
    with pytest.raises(UserError,
                       match="unknown modality of dataset 'hac' 'depth' \\(choose from: audio, flow, video\\)"):
        load_index(data_config("hac", hac_root, "data.modalities=[depth]", "model.encoders.depth=tiny3d"))


def test_counts_keep_empty_classes_in_label_order(hac_root):
    index = load_index(data_config("hac", hac_root))
    counts = index.counts()
    assert counts.shape == (6, 7) and counts.to_numpy().sum() == len(index.clips)
    assert np.array_equal(counts.loc[("human", "train")].to_numpy(), [1, 1, 0, 0, 0, 0, 0])
    assert isinstance(counts, pd.DataFrame)


@pytest.mark.slow
@pytest.mark.parametrize("preset, make, target, target_clips", [("hac", make_hac, "cartoon", 4),
                                                                ("epic_kitchens", make_epic_simmmdg, "D1", 2)])
def test_the_real_presets_run_on_a_tiny_fixture(tmp_path, preset, make, target, target_clips):
    """The presets' settings, with the inputs made small, train through all three modalities."""
    from mmdg_bench.engine import train_run

    root = make(tmp_path / "data", clips_per_split=2)
    small = ["data.modalities=[video,audio,flow]", "data.num_workers=0", "optim.epochs=1", "optim.batch_size=4",
             "data.video.size=32", "data.video.resize_short=36", "data.video.num_frames=4",
             "data.flow.size=32", "data.flow.resize_short=36", "data.flow.num_frames=4", "data.audio.seconds=1.0"]
    config = load_config(preset, small, data__root=str(root))
    assert (config.optim.lr, config.optim.batch_size, config.model.head_hidden) == (1e-4, 4, 256)
    summary = train_run(config, target, tmp_path / "runs").summary
    assert summary["modalities"] == ["video", "audio", "flow"]
    # HAC tests on the target's train + test splits, EPIC-Kitchens on its test split only.
    assert summary["clips"]["target"] == target_clips
