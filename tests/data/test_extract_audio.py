"""`mmdg-bench data extract-audio`: EPIC-Kitchens' per-video 16 kHz mono wavs made from the raw
videos, where the loaders read them, resumable, and its mistakes in one sentence."""

import wave

import numpy as np
import pytest
from typer.testing import CliRunner

from mmdg_bench.cli import app
from mmdg_bench.data.extract_audio import extract_audio
from mmdg_bench.errors import MediaError, UserError
from tests.media_fixtures import SAMPLE_RATE, grey_frames, make_raw_epic_videos, write_mp4

runner = CliRunner()
LENGTHS = {"train/P08_01": 1.5, "test/P01_09": 0.5}


def samples(path) -> tuple[wave.Wave_read, np.ndarray]:
    with wave.open(str(path)) as wav:
        return wav, np.frombuffer(wav.readframes(wav.getnframes()), "<i2")


def test_each_raw_video_gets_a_16_khz_mono_wav_beside_the_frame_folders(tmp_path):
    root = make_raw_epic_videos(tmp_path / "epic", LENGTHS)
    report = extract_audio(root)
    wavs = [root / "rgb/test/D2/P01_09.wav", root / "rgb/train/D1/P08_01.wav"]
    assert report.written == wavs and report.skipped == []
    wav, ramp = samples(wavs[1])
    assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (SAMPLE_RATE, 1, 2)
    assert 1.5 * SAMPLE_RATE <= len(ramp) <= 1.5 * SAMPLE_RATE + 2048  # AAC pads to whole 1024-sample frames
    # The ramp (sample s has value s) comes back, behind by AAC's encoder delay of about 1024 samples.
    delay = 8000 - int(ramp[8000])
    assert 900 <= delay <= 1100 and abs(int(ramp[12000]) - int(ramp[8000]) - 4000) <= 20
    assert not list(root.rglob("*.part"))


def test_a_rerun_skips_finished_wavs_and_redoes_an_interrupted_one(tmp_path):
    root = make_raw_epic_videos(tmp_path / "epic", LENGTHS)
    extract_audio(root)
    finished, interrupted = root / "rgb/train/D1/P08_01.wav", root / "rgb/test/D2/P01_09.wav"
    stamp = finished.stat().st_mtime_ns
    interrupted.unlink()
    interrupted.with_name(interrupted.name + ".part").write_bytes(b"RIFF half a file")
    calls = []
    report = extract_audio(root, progress=lambda done, total, video: calls.append((done, total, video.name)))
    assert report.written == [interrupted] and report.skipped == [finished]
    assert finished.stat().st_mtime_ns == stamp and len(samples(interrupted)[1]) >= 0.5 * SAMPLE_RATE
    assert calls[0] == (0, 2, "P01_09.MP4") and calls[-1][:2] == (2, 2)


def test_the_command_prints_what_it_wrote(tmp_path):
    root = make_raw_epic_videos(tmp_path / "epic", {"train/P08_01": 0.5})
    result = runner.invoke(app, ["data", "extract-audio", "--data-root", str(root)])
    assert result.exit_code == 0, result.output
    assert "wrote 1 wav file(s)" in result.output and (root / "rgb/train/D1/P08_01.wav").is_file()


def test_a_root_without_raw_videos_is_one_sentence_saying_how_to_get_them(tmp_path):
    result = runner.invoke(app, ["data", "extract-audio", "--data-root", str(tmp_path)])
    assert result.exit_code == 2
    assert "no raw EPIC-Kitchens videos under" in result.output
    assert "--modalities raw_video" in result.output
    with pytest.raises(UserError, match="does not exist"):
        extract_audio(tmp_path / "absent")


def test_a_video_without_sound_is_named(tmp_path):
    silent = write_mp4(tmp_path / "videos/train/D1/P08_01.MP4", grey_frames(range(4), 32, 24), 12)
    with pytest.raises(MediaError, match="no audio stream") as err:
        extract_audio(tmp_path)
    assert str(silent) in str(err.value) and not (tmp_path / "rgb/train/D1/P08_01.wav").exists()
