"""Loaders on tiny fixtures in the real layouts: the right frames, flow and audio window of each
clip, SimMMDG's pre-processing, temporal jitter, per-item augmentation randomness over a cache, and
bad files named."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from mmdg_bench.config import load_config
from mmdg_bench.data.dataset import AudioLoader, ClipDataset, FramesLoader
from mmdg_bench.data.decoding import FrameSource, frame_indices, latest_start, read_audio
from mmdg_bench.data.sampling import EpochSampler
from mmdg_bench.data.transforms import LogSpectrogram, crop_box, random_flip, tukey_window, zero_frequency_band
from mmdg_bench.errors import MediaError, UserError
from mmdg_bench.settings import DataConfig, FlowConfig
from tests.media_fixtures import (
    EPIC_FPS,
    SAMPLE_RATE,
    epic_clips,
    flow_frames,
    frame_level,
    grey_frames,
    make_epic_mmdg_bench,
    make_epic_simmmdg,
    make_hac,
    mmdg_bench_clip_name,
    ramp_audio,
    ramp_sample_index,
    truncate,
    write_mp4,
)

WHOLE = {"start_frame": -1, "stop_frame": -1, "flow_start": -1, "flow_stop": -1,
         "start_time": np.nan, "stop_time": np.nan}


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("layouts")
    return {"simmmdg": make_epic_simmmdg(base / "simmmdg", domains=("D1",)),
            "mmdg-bench": make_epic_mmdg_bench(base / "mmdg", domains=("D1",)),
            "hac": make_hac(base / "hac", domains=("human",), frames=24)}


def epic_row(root, layout: str, clip: int = 1) -> pd.Series:
    """Row `clip` of D1's train split, with the columns the index gives for `layout`."""
    c = epic_clips("D1", "train", 2).iloc[clip]
    flow = flow_frames(c.start_frame, c.stop_frame)
    row = {"clip_id": f"D1/{c.uid}", "domain": "D1", "split": "train", "label": c.verb_class,
           "start_time": c.start_frame / EPIC_FPS, "stop_time": c.stop_frame / EPIC_FPS}
    if layout == "simmmdg":
        frames, flows = root / "rgb/train/D1", root / "flow/train/D1" / c.video_id
        return pd.Series({**row, "video_path": str(frames / c.video_id),
                          "audio_path": str(frames / f"{c.video_id}.wav"),
                          "flow_u_path": str(flows / "u"), "flow_v_path": str(flows / "v"),
                          "start_frame": c.start_frame, "stop_frame": c.stop_frame,
                          "flow_start": flow.start, "flow_stop": flow.stop})
    video = mmdg_bench_clip_name("D1", c.video_id, c.start_frame, c.stop_frame, c.verb_class)
    flow_name = mmdg_bench_clip_name("D1", c.video_id, flow.start, flow.stop, c.verb_class)
    mp4s = root
    return pd.Series({**row, **{k: v for k, v in WHOLE.items() if "time" not in k},
                      "video_path": str(mp4s / f"video/train/D1/{video}.mp4"),
                      "audio_path": str(root / f"audio/train/D1/{c.video_id}.wav"),
                      "flow_u_path": str(mp4s / f"flow/train/D1/{flow_name}_u.mp4"),
                      "flow_v_path": str(mp4s / f"flow/train/D1/{flow_name}_v.mp4")})


def hac_row(root, name: str = "h_sleeping_1", label: int = 0) -> pd.Series:
    return pd.Series({"clip_id": f"human/{name}", "domain": "human", "split": "train", "label": label,
                      "video_path": str(root / f"human/videos/{name}.mp4"),
                      "audio_path": str(root / f"human/audio/{name}.wav"),
                      "flow_u_path": str(root / f"human/flow/{name}_flow_x.mp4"),
                      "flow_v_path": str(root / f"human/flow/{name}_flow_y.mp4"), **WHOLE})


def data_config(*overrides: str) -> DataConfig:
    """The synth preset's data settings, timed for the 24 fps fixtures (synth itself is 8 fps)."""
    return load_config("synth", ["model.encoders.flow=tiny3d", "data.audio.frame_rate=24", *overrides]).data


def levels(clip: torch.Tensor, cfg) -> np.ndarray:
    """Mean 0..255 level of each frame of each channel of a normalised (C, T, H, W) clip."""
    mean, std = torch.tensor(cfg.mean).view(-1, 1), torch.tensor(cfg.std).view(-1, 1)
    return (clip.mean(dim=(2, 3)) * std + mean).numpy()


def dataset(rows, modalities, cfg=None, **kwargs) -> ClipDataset:
    cfg = cfg or data_config()
    return ClipDataset(pd.DataFrame(rows), modalities, cfg, ["D1", "human"], **kwargs)


# The right frames, flow and audio of each clip ----------------------------------------------

def test_frame_folder_reads_the_clip_range_centred(roots):
    cfg = data_config("data.video.num_frames=4", "data.video.stride=2")
    row = epic_row(roots["simmmdg"], "simmmdg")  # frames 37..60: 4 at interval 2, centred = 45, 47, 49, 51
    clip = dataset([row], ["video"], cfg)[0]["video"]
    assert clip.shape == (3, 4, 32, 32)
    expected = [frame_level(n) for n in (45, 47, 49, 51)]
    np.testing.assert_allclose(levels(clip, cfg.video), np.tile(expected, (3, 1)), atol=3)


def sample_frames(total: int, clip_len: int, interval: int, offset: int | None = None) -> list[int]:
    """mmaction's SampleFrames as SimMMDG configures it (num_clips=1, out_of_bound_opt='loop'), written
    out from its code: a clip takes clip_len x interval frames; an evaluation clip starts at
    int((total - that + 1) / 2) when it fits, else at 0; the indices are taken modulo the clip's length."""
    length = clip_len * interval
    if offset is None:
        offset = int((total - length + 1) / 2.0) if total > length - 1 else 0
    return [int(i) for i in np.mod(offset + np.arange(clip_len) * interval, total)]


def training_offsets(total: int, clip_len: int, interval: int) -> set[int]:
    """The starts SampleFrames draws a training clip from: randint(total - length + 1) when positive, else 0."""
    spread = total - clip_len * interval + 1
    return set(range(spread)) if spread > 0 else {0}


@pytest.mark.parametrize("clip_len, interval", [(1, 1), (4, 2), (8, 1), (8, 4), (32, 2)])
def test_frame_sampling_is_simmmdgs_sampleframes(clip_len, interval):
    for total in range(1, 3 * clip_len * interval):
        assert frame_indices(total, clip_len, interval) == sample_frames(total, clip_len, interval), total
        starts = set(range(latest_start(total, clip_len, interval) + 1))
        assert starts == training_offsets(total, clip_len, interval), total
        for start in starts:  # a jittered start loops as SampleFrames does
            assert frame_indices(total, clip_len, interval, start) == sample_frames(total, clip_len, interval, start)


def test_a_short_clip_loops_to_its_start_or_repeats_its_last_frame(roots):
    """24 frames asked for 16 at interval 2 (32 frames): frames 0..22, then back to 0 (SimMMDG's loop);
    `past_end: clamp` repeats frame 23 instead. The audio window is [first, last] of the frames read."""
    row = hac_row(roots["hac"])
    expected = {"loop": list(range(0, 24, 2)) + [0, 2, 4, 6], "clamp": list(range(0, 24, 2)) + [23] * 4}
    for past_end, numbers in expected.items():
        cfg = data_config("data.video.num_frames=16", "data.video.stride=2", f"data.video.past_end={past_end}")
        clip = dataset([row], ["video"], cfg)[0]["video"]
        np.testing.assert_allclose(levels(clip, cfg.video)[0], [frame_level(n) for n in numbers], atol=3)
        frames = FramesLoader("video", cfg.video, True).sampled_frames(FrameSource(row.video_path), row,
                                                                      torch.Generator().manual_seed(0))
        assert frames == numbers  # a training clip too short to move starts at its first frame
        assert AudioLoader(cfg.audio, False).window(row, frames) == (0.0, numbers[-1] / 24)


def test_flow_folders_read_u_and_v_at_half_the_frame_index(roots):
    cfg = data_config("data.flow.num_frames=3", "data.flow.stride=2")
    row = epic_row(roots["simmmdg"], "simmmdg")  # flow 19..30: 3 at interval 2, centred = 22, 24, 26
    clip = dataset([row], ["flow"], cfg)[0]["flow"]
    assert clip.shape == (2, 3, 32, 32)
    u = [frame_level(n) for n in (22, 24, 26)]
    np.testing.assert_allclose(levels(clip, cfg.flow), [u, [255 - x for x in u]], atol=3)


def test_mmdg_bench_mp4s_give_the_frames_of_the_folder_layout(roots):
    cfg = data_config("data.video.num_frames=4", "data.video.stride=2", "data.flow.num_frames=3",
                      "data.flow.stride=2")
    folders = dataset([epic_row(roots["simmmdg"], "simmmdg")], ["video", "flow"], cfg)[0]
    mp4s = dataset([epic_row(roots["mmdg-bench"], "mmdg-bench")], ["video", "flow"], cfg)[0]
    for modality, section in (("video", cfg.video), ("flow", cfg.flow)):
        np.testing.assert_allclose(levels(mp4s[modality], section), levels(folders[modality], section), atol=4)


@pytest.mark.parametrize("layout", ["simmmdg", "mmdg-bench"])
def test_epic_audio_is_the_per_video_wav_cut_at_the_clip_timestamps(roots, layout):
    row = epic_row(roots[layout], layout)
    cfg = data_config().audio
    offset, stop = AudioLoader(cfg, False).window(row)
    samples = read_audio(row.audio_path, SAMPLE_RATE, 1.0, offset, stop)
    first, length = round(row.start_time * SAMPLE_RATE), round((row.stop_time - row.start_time) * SAMPLE_RATE)
    assert ramp_sample_index(samples[0]) == first
    assert ramp_sample_index(samples[length - 1]) == first + length - 1
    np.testing.assert_array_equal(samples[length:2 * length], samples[:length])  # 0.4 s tiled to 1 s


def test_hac_audio_is_the_span_of_the_sampled_frames_at_24_fps_tiled(roots):
    cfg = data_config("data.video.num_frames=4", "data.video.stride=2")
    row = hac_row(roots["hac"])
    frames = FramesLoader("video", cfg.video, False).sampled_frames(FrameSource(row.video_path), row)
    assert frames == [8, 10, 12, 14]  # 24 frames, 4 at interval 2, centred
    loader = AudioLoader(cfg.audio, False)
    offset, stop = loader.window(row, frames)
    assert (offset, stop) == (8 / 24, 14 / 24)  # [first, last] / 24 s, not to the end of the file
    samples = read_audio(row.audio_path, SAMPLE_RATE, 0.5, offset, stop)
    first, last = round(8 / 24 * SAMPLE_RATE), round(14 / 24 * SAMPLE_RATE)
    assert [ramp_sample_index(samples[i]) for i in (0, last - first - 1, last - first)] == [first, last - 1, first]
    unaligned = AudioLoader(data_config("data.audio.frame_rate=0").audio, False)
    assert unaligned.window(row, frames) == (0.0, None)


def test_without_video_the_audio_is_timed_by_the_flow_frames(roots):
    cfg = data_config("data.flow.num_frames=3", "data.video.num_frames=8")
    row = hac_row(roots["hac"])
    audio = dataset([row], ["flow", "audio"], cfg)[0]["audio"]
    loader = AudioLoader(cfg.audio, False)
    flow_timed = loader.features(read_audio(row.audio_path, SAMPLE_RATE, 1.0, 6 / 24, 14 / 24))  # flow 6, 10, 14
    video_timed = dataset([row], ["video", "audio"], cfg)[0]["audio"]  # video frames 8..15
    assert torch.equal(audio, flow_timed) and not torch.equal(audio, video_timed)


def test_hac_flow_comes_from_the_x_and_y_mp4s(roots):
    cfg = data_config("data.flow.num_frames=3")
    clip = dataset([hac_row(roots["hac"])], ["flow"], cfg)[0]["flow"]
    u = [frame_level(n) for n in (6, 10, 14)]  # 24 frames, 3 at interval 4 (a 12-frame clip) centred: 6 to 14
    np.testing.assert_allclose(levels(clip, cfg.flow), [u, [255 - x for x in u]], atol=3)


def test_all_three_modalities_of_one_clip(roots):
    item = dataset([hac_row(roots["hac"])], ["video", "audio", "flow"])[0]
    assert item["video"].shape[0] == 3 and item["flow"].shape[0] == 2 and item["audio"].shape[0] == 1
    assert item["label"] == 0 and item["domain"] == 1


def test_audio_from_an_mp4_with_sound(tmp_path):
    path = write_mp4(tmp_path / "clip.mp4", grey_frames(range(12), 16, 16), 24, audio=ramp_audio(SAMPLE_RATE // 2))
    samples = read_audio(path, SAMPLE_RATE, 0.25)
    assert samples.shape == (SAMPLE_RATE // 4,) and np.abs(samples).max() > 0.05


# Bad input: one sentence naming the file ------------------------------------------------------

def test_an_mp4_without_audio_stream_is_named(tmp_path):
    path = write_mp4(tmp_path / "silent.mp4", grey_frames(range(4), 16, 16), 24)
    with pytest.raises(MediaError, match="no audio stream") as err:
        read_audio(path, SAMPLE_RATE, 1.0)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def damaged_clip(tmp_path, damage: str):
    """(clip row, modality to load, the damaged file)."""
    if damage == "missing frame":  # frame 47 is among the 8 frames sampled from 37..60
        root = make_epic_simmmdg(tmp_path / "epic", domains=("D1",))
        named = root / "rgb/train/D1/P08_01/frame_0000000047.jpg"
        named.unlink()
        return epic_row(root, "simmmdg"), "video", named
    root = make_hac(tmp_path / "hac", domains=("human",), with_flow=False)
    if damage == "truncated mp4":
        return hac_row(root), "video", truncate(root / "human/videos/h_sleeping_1.mp4")
    named = root / "human/audio/h_sleeping_1.wav"
    named.unlink()
    return hac_row(root), "audio", named


@pytest.mark.parametrize("damage, expected", [
    ("missing file", "file not found"), ("truncated mp4", "not decodable"),
    ("missing frame", "is missing from its folder"),
])
def test_bad_media_is_one_sentence_naming_the_file(tmp_path, damage, expected):
    row, modality, named = damaged_clip(tmp_path, damage)
    with pytest.raises(MediaError) as err:
        dataset([row], [modality])[0]
    message = str(err.value)
    assert str(named) in message and expected in message and "\n" not in message, message


def test_skip_drops_an_unreadable_clip(roots, tmp_path):
    broken = hac_row(roots["hac"]).copy()
    broken["video_path"] = str(tmp_path / "gone.mp4")
    ds = dataset([hac_row(roots["hac"]), broken], ["video"], cache=True)
    failures = ds.drop_unreadable()
    assert len(ds) == 1 and len(failures) == 1 and "gone.mp4" in failures[0]


def test_a_flow_modality_without_flow_columns_is_a_user_error(roots):
    row = hac_row(roots["hac"]).drop(["flow_u_path", "flow_v_path"])
    with pytest.raises(UserError, match="no 'flow_u_path' column"):
        dataset([row], ["video", "flow"])


@pytest.mark.parametrize("override, fragment", [
    ("data.audio.features=spectogram", "did you mean 'spectrogram'"),
    ("data.flow.mean=[1.0, 2.0, 3.0]", "'data.flow.mean' and '.std' need 2 values"),
    ("data.video.crop_scale=[0.5, 0.1]", "'data.video.crop_scale' must be [low, high]"),
])
def test_bad_pre_processing_settings_are_named(roots, override, fragment):
    with pytest.raises(UserError) as err:
        dataset([hac_row(roots["hac"])], ["video", "audio", "flow"], data_config(override))
    assert fragment in str(err.value)


# SimMMDG's pre-processing -----------------------------------------------------------------------

def test_reference_spectrogram_is_257_by_1004_and_peaks_at_the_tone():
    t = np.arange(10 * SAMPLE_RATE) / SAMPLE_RATE
    tone = np.sin(2 * np.pi * 1000.0 * t).astype(np.float32)
    spec = LogSpectrogram(SAMPLE_RATE, window=512, hop=159)(tone)
    assert spec.shape == (1, 257, 1004)
    assert abs(spec.mean().item()) < 1e-5 and spec.std(correction=0).item() == pytest.approx(1.0, abs=1e-4)
    assert spec[0].mean(dim=1).argmax().item() == 32  # 1000 Hz / (16000 Hz / 512) = bin 32


def test_tukey_window_tapers_a_quarter_of_the_window():
    window = tukey_window(512).numpy()
    assert window[0] == 0 and window[64:449].min() == pytest.approx(1.0)
    assert 0 < window[32] < 1 and window[32] == pytest.approx(window[512 - 32])  # periodic symmetry


def test_reference_audio_settings_give_the_reference_input(roots):
    cfg = data_config("data.audio.features=spectrogram", "data.audio.seconds=10", "data.audio.n_fft=512",
                      "data.audio.hop_length=159")
    assert dataset([hac_row(roots["hac"])], ["audio"], cfg)[0]["audio"].shape == (1, 257, 1004)


def test_resize_short_side_then_centre_crop_in_eval(tmp_path):
    # 128x64 frames, bright from column 64: short side 32 -> 64x32 bright from column 32; the centre
    # crop 32 keeps columns 16..47, dark then bright.
    frames = np.zeros((4, 64, 128, 3), np.uint8)
    frames[..., 64:, :] = 255
    path = write_mp4(tmp_path / "wide.mp4", frames, 24)
    row = pd.Series({"clip_id": "x", "domain": "human", "split": "test", "label": 0, "video_path": str(path), **WHOLE})
    cfg = data_config("data.video.num_frames=2", "data.video.resize_short=32", "data.video.size=32")
    clip = dataset([row], ["video"], cfg)[0]["video"]
    assert clip.shape == (3, 2, 32, 32)
    np.testing.assert_allclose(levels(clip, cfg.video), 127.5, atol=6)  # the middle: half dark, half bright
    assert levels(clip[..., :16], cfg.video).max() < 10 and levels(clip[..., 16:], cfg.video).min() > 245


def test_random_resized_crop_box_stays_inside_and_in_range():
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        top, left, h, w = crop_box(40, 60, [0.08, 1.0], [0.75, 4 / 3], generator)
        assert 0 <= top and top + h <= 40 and 0 <= left and left + w <= 60
        assert 0.07 * 2400 <= h * w <= 2400


def test_flipping_flow_mirrors_it_and_inverts_u():
    frames = torch.arange(2 * 2 * 2 * 3, dtype=torch.uint8).view(2, 2, 2, 3)  # (T, C=u,v, H, W)
    generator = torch.Generator().manual_seed(0)
    outcomes = [random_flip(frames, generator, invert_channel=0) for _ in range(20)]
    flipped = [f for f in outcomes if not torch.equal(f, frames)]
    assert 0 < len(flipped) < 20  # a coin toss per clip
    torch.testing.assert_close(flipped[0][:, 0], 255 - frames[:, 0].flip(-1))
    torch.testing.assert_close(flipped[0][:, 1], frames[:, 1].flip(-1))


def test_band_mask_zeroes_one_band_of_rows():
    spec = torch.ones(1, 257, 20)
    masked = zero_frequency_band(spec, 9, torch.Generator().manual_seed(3))
    zero_rows = (masked[0] == 0).all(dim=1).nonzero().flatten()
    assert len(zero_rows) == 9 and (zero_rows.diff() == 1).all() and masked.sum() == 248 * 20


# Training clips: temporal jitter and augmentation, drawn per (seed, epoch, clip) ---------------

AUGMENT = ["data.video.train_augment=true", "data.video.resize_short=40", "data.video.size=32",
           "data.flow.train_augment=true", "data.flow.sampling=centre", "data.audio.train_noise=0.05",
           "data.audio.band_mask_rows=9"]
MODALITIES = ("video", "audio", "flow")


@pytest.fixture(scope="module")
def textured(tmp_path_factory):
    """Two clips (the second mirrored) whose frames and flow are horizontal ramps, so that every crop
    and flip shows."""
    folder = tmp_path_factory.mktemp("textured")
    ramp = np.broadcast_to(np.linspace(0, 255, 64).astype(np.uint8)[None, None, :, None], (16, 48, 64, 3))
    rows = []
    for i in range(2):
        paths = {f"{k}_path": str(write_mp4(folder / f"{i}_{k}.mp4", ramp[:, :, ::1 - 2 * i].copy(), 24))
                 for k in ("video", "flow_u", "flow_v")}
        rows.append(pd.Series({**hac_row(folder, f"clip{i}", label=i), **paths, "audio_path": str(
            write_mp4(folder / f"{i}_audio.mp4", ramp[:2], 24, audio=ramp_audio(SAMPLE_RATE)))}))
    return rows


def augmented(rows, train=True, cache=True, seed=0):
    return dataset(rows, list(MODALITIES), data_config(*AUGMENT), cache=cache, train=train, seed=seed)


def same(a: dict, b: dict, modalities=MODALITIES) -> bool:
    return all(torch.equal(a[m], b[m]) for m in modalities)


def test_augmentation_is_fresh_each_epoch_over_a_decoded_cache(textured, monkeypatch):
    ds = augmented(textured)
    first = ds[(0, 1)]
    cached = {m: ds.cache[0][m].clone() for m in MODALITIES}
    monkeypatch.setattr(ds.loaders["video"], "decode", lambda *args: pytest.fail("a cached clip was decoded again"))
    second = ds[(0, 2)]
    for modality in MODALITIES:
        assert not torch.equal(first[modality], second[modality]), modality
        assert torch.equal(ds.cache[0][modality], cached[modality]), modality  # the cache is untouched
    assert first["video"].shape == (3, 8, 32, 32) and cached["video"].shape[-2:] == (40, 53)


def test_an_items_augmentation_depends_only_on_seed_epoch_and_clip(textured):
    ds = augmented(textured)
    wanted = ds[(1, 3)]
    assert same(ds[(1, 3)], wanted)  # asked again
    fresh = augmented(textured)
    fresh[(0, 1)], fresh[(1, 2)]  # another access history (another worker, a resumed run)
    assert same(fresh[(1, 3)], wanted)
    assert not torch.equal(augmented(textured, seed=1)[(1, 3)]["video"], wanted["video"])
    assert not torch.equal(ds[(1, 4)]["video"], wanted["video"])


def test_int_keys_give_the_unaugmented_evaluation_view(textured):
    evaluation, training = augmented(textured, train=False), augmented(textured)
    assert same(evaluation[1], evaluation[1]) and same(evaluation[(1, 3)], evaluation[1])
    assert same(training[1], evaluation[1])  # a training set's rows without augmentation
    assert evaluation[1]["video"].shape == (3, 8, 32, 32)


@pytest.mark.e2e
def test_loader_batches_do_not_depend_on_the_number_of_workers(textured):
    def epoch(workers):
        ds = augmented(textured, cache=False)
        sampler = EpochSampler(len(ds), shuffle=True, generator=torch.Generator().manual_seed(0))
        sampler.set_epoch(2)
        loader = DataLoader(ds, batch_size=1, sampler=sampler, num_workers=workers)
        return [batch for batch in loader]

    alone, with_workers = epoch(0), epoch(2)
    assert len(alone) == 2 and all(same(a, b) for a, b in zip(alone, with_workers))


def test_default_settings_leave_training_clips_unaugmented(roots):
    cfg = data_config()
    assert dataclasses.asdict(cfg.flow) == dataclasses.asdict(FlowConfig())
    ds = dataset([hac_row(roots["hac"])], ["video", "audio"], cfg, train=True)
    assert same(ds[(0, 1)], ds[(0, 2)], ["video", "audio"]) and same(ds[(0, 1)], ds[0], ["video", "audio"])


JITTER = ["data.video.sampling=jitter", "data.video.num_frames=4", "data.video.stride=2", "data.cache_decoded=false"]


def first_frames(ds, keys) -> list[int]:
    """The frame number each key's video starts at, checking that its frames are 2 apart."""
    starts = []
    for key in keys:
        frame_levels = levels(ds[key]["video"], ds.loaders["video"].cfg)[0]
        np.testing.assert_allclose(np.diff(frame_levels), 8, atol=3)  # frame_level: 4 per frame
        starts.append(int(round(frame_levels[0] / 4)))
    return starts


def test_training_clips_start_at_a_random_frame_that_fits_the_clip(roots):
    ds = dataset([hac_row(roots["hac"])], ["video"], data_config(*JITTER), train=True)
    starts = first_frames(ds, [(0, epoch) for epoch in range(1, 41)])
    assert min(starts) >= 0 and max(starts) <= 24 - 7 and len(set(starts)) > 5  # 24 frames, span 7
    assert first_frames(ds, [(0, 7)]) == starts[6:7]  # the same draw for the same key
    assert first_frames(ds, [0]) == [8]  # evaluation: centred
    centre = data_config(*JITTER, "data.video.sampling=centre")
    centred = dataset([hac_row(roots["hac"])], ["video"], centre, train=True)
    assert first_frames(centred, [(0, epoch) for epoch in range(1, 6)]) == [8] * 5


def test_the_audio_window_follows_the_jittered_frames(roots):
    cfg = data_config(*JITTER)
    row = hac_row(roots["hac"])
    ds = dataset([row], ["video", "audio"], cfg, train=True)
    for epoch in (1, 2, 3):
        (start,) = first_frames(ds, [(0, epoch)])
        expected = AudioLoader(cfg.audio, False).features(
            read_audio(row.audio_path, SAMPLE_RATE, 1.0, start / 24, (start + 6) / 24))
        assert torch.equal(ds[(0, epoch)]["audio"], expected), epoch


@pytest.mark.parametrize("overrides, fragment", [
    (["data.video.sampling=jitter"], "'data.cache_decoded' keeps one decoded clip, so it needs "
                                     "'data.video.sampling: centre'"),
    (["data.modalities=[audio,flow]", "data.flow.sampling=jitter"], "needs 'data.flow.sampling: centre'"),
    (["data.video.sampling=random"], "'data.video.sampling' must be one of jitter, centre, got 'random'"),
    (["data.layout=simdg"], "'data.layout' must be one of auto, simmmdg, mmdg-bench, got 'simdg' "
                            "(did you mean 'simmmdg'?)"),
    (["data.flow.eval_size=-1"], "'data.flow.eval_size' must be positive, or 0 for 'size'"),
])
def test_settings_that_cannot_work_are_refused_when_the_config_loads(overrides, fragment):
    with pytest.raises(UserError) as err:
        load_config("synth", ["model.encoders.flow=tiny3d", *overrides])
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_a_cached_training_set_with_jitter_is_refused(roots):
    with pytest.raises(UserError, match="needs centred frame sampling"):
        dataset([hac_row(roots["hac"])], ["video"], data_config(*JITTER), train=True, cache=True)


# Flow as the real HAC files are ----------------------------------------------------------------

def test_a_short_flow_y_repeats_its_last_frame(tmp_path):
    root = make_hac(tmp_path / "hac", clips_per_split=1, domains=("human",), short_flow_y=3)
    cfg = data_config("data.flow.num_frames=8", "data.flow.stride=3")  # 0, 3, ..., 21; y has frames 0..20
    clip = dataset([hac_row(root)], ["flow"], cfg)[0]["flow"]
    numbers = range(0, 22, 3)
    u, v = [frame_level(n) for n in numbers], [255 - frame_level(min(n, 20)) for n in numbers]
    np.testing.assert_allclose(levels(clip, cfg.flow), [u, v], atol=3)


def test_flow_videos_are_read_as_luma_not_one_channel(tmp_path):
    colour = np.broadcast_to(np.array([200, 50, 50], np.uint8), (4, 24, 32, 3)).copy()
    grey = FrameSource(write_mp4(tmp_path / "flow_x.mp4", colour, 24)).read([0, 3], grey=True)
    assert grey.shape == (2, 24, 32, 1)
    assert abs(float(grey.mean()) - (0.299 * 200 + 0.587 * 50 + 0.114 * 50)) < 4  # 95; R would be 200


def test_flow_is_centre_cropped_at_eval_size_outside_training(roots):
    cfg = data_config("data.flow.resize_short=28", "data.flow.size=16", "data.flow.eval_size=24",
                      "data.flow.sampling=centre")
    ds = dataset([hac_row(roots["hac"])], ["flow"], cfg, train=True)
    assert ds[(0, 1)]["flow"].shape[-2:] == (16, 16) and ds[0]["flow"].shape[-2:] == (24, 24)


# EPIC-Kitchens: a video without its wav ------------------------------------------------------

@pytest.fixture
def epic_without_a_wav(tmp_path):
    root = make_epic_simmmdg(tmp_path / "epic", domains=("D1",))
    wav = root / "rgb/train/D1/P08_01.wav"
    wav.unlink()
    rows = [epic_row(root, "simmmdg", clip) for clip in (0, 1)]
    test_row = epic_row(root, "simmmdg", 0).copy()  # a clip of another video, whose wav exists
    test_row[["clip_id", "split", "audio_path"]] = ["D1/9", "test", str(root / "rgb/test/D1/P08_09.wav")]
    return wav, [*rows, test_row]


def test_a_missing_epic_wav_stops_a_run_naming_it_and_what_to_do(epic_without_a_wav):
    wav, rows = epic_without_a_wav
    ds = dataset(rows, ["audio"])
    with pytest.raises(MediaError) as before:
        ds.require_files()
    with pytest.raises(MediaError) as reading:
        ds[0]
    for err in (before, reading):
        message = str(err.value)
        assert str(wav) in message and "mmdg-bench data extract-audio --data-root" in message, message
        assert "data.on_corrupt=skip" in message and "\n" not in message
    assert "2 clip(s) miss a file" in str(before.value)


def test_skip_leaves_out_the_clips_of_a_missing_wav_with_one_warning(epic_without_a_wav):
    wav, rows = epic_without_a_wav
    ds = dataset(rows, ["video", "audio"], cache=True)
    calls = []
    with pytest.warns(UserWarning) as caught:
        failures = ds.drop_unreadable(lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert [str(w.message) for w in caught] == [f"{wav} is missing: leaving out its 2 clip(s)"]
    assert len(failures) == 2 and all(str(wav) in f for f in failures)
    assert ds.clips.clip_id.tolist() == ["D1/9"] and ds[0]["audio"].shape[0] == 1
