"""`synth`: the embedded synthetic dataset (the default, like DomainBed's ColoredMNIST).

Generated deterministically from a seed as real mp4 + wav files in the HAC layout, then read back
through the same index and decoders as real HAC data. It carries the phenomena GMP addresses:

- video is the *fast but domain-specific* modality: each frame is tinted with a colour that
  follows the clip's class through a colour map that differs per domain (class y -> colour
  (y + domain) mod K, with probability `video_shortcut`). On the source domains the tint,
  read together with the domain's style, predicts the class almost perfectly and is learned in a
  few steps; on an unseen target domain the map is different, so the shortcut misleads.
  `target_shortcut` says what the cue does on a run's held-out domain: "flipped" (that domain's own
  map, as above), "absent" (one grey for every class) or "random" (a colour drawn apart from the
  class). The held-out domain changes from run to run while the set is generated once, so under
  "absent" or "random" every domain's videos are also rendered a second time, as a held-out domain
  (same clips, only the tint differs; in `held-out-<mode>/`), and the index hands a run those for its
  target: the sources' clips are the same under every mode.
  The *invariant* video cue is a small blob moving in a class-specific direction, harder to learn.
- audio is the *slow but domain-invariant* modality: a tone at a class-specific pitch buried in
  noise (`audio_snr_db`; video's pixel noise is `video_noise`); the noise colour and a hum change
  with the domain but carry no class.
- every domain has its own style (background brightness and stripes, noise colour), scaled by
  `domain_shift`, so the held-out target is always shifted and the domains are discriminable.

    mmdg-bench data synth --out /tmp/synth --seed 0
"""

import hashlib
import json
import os
import shutil
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mmdg_bench.data.hac import SPLIT_PATTERN, index_hac_layout
from mmdg_bench.data.index import DATASETS, DatasetIndex
from mmdg_bench.errors import UserError
from mmdg_bench.files import cache_dir
from mmdg_bench.settings import SYNTH_LATER_DEFAULTS, SynthConfig

MANIFEST = "synth.json"
SPLITS = {"train": 0, "test": 1}
TINT = 0.4  # share of the frame colour that comes from the class/domain colour map
BLOB = 6  # side of the moving blob, pixels
SPEED = 2.5  # blob speed, pixels per frame
HELD_OUT = "held-out-{mode}"  # folder of every domain's videos rendered as a held-out domain


def class_names(num_classes: int) -> list[str]:
    """Classes are motion directions of the blob, named by their angle in degrees."""
    return [f"dir{round(360 * y / num_classes):03d}" for y in range(num_classes)]


def _palette(num_colours: int) -> np.ndarray:
    hues = np.arange(num_colours) / num_colours
    # Saturated colours evenly spaced on the hue circle (a piecewise-linear HSV -> RGB).
    channels = [np.clip(np.abs((hues * 6 + shift) % 6 - 3) - 1, 0, 1) for shift in (0, 4, 2)]
    return np.stack(channels, axis=1) * 255.0


def recorded(cfg: SynthConfig) -> dict:
    """The settings that name the set (its cache folder and manifest): the later knobs at the values
    that render the set as before they existed are left out, so that set keeps its name and bytes."""
    settings = asdict(cfg)
    for key, default in SYNTH_LATER_DEFAULTS.items():
        if settings[key] == default:
            settings.pop(key)
    return settings


def held_out_tint(rng: np.random.Generator, colour: int, cfg: SynthConfig) -> np.ndarray:
    """The tint of a clip rendered as the held-out domain, whose source rendering has `colour`. The
    random colour comes from a child of the clip's stream, which leaves the stream where it was: the blob
    and the noise stay those of the source rendering, so the two renderings differ in the tint only."""
    palette = _palette(cfg.classes)
    if cfg.target_shortcut == "absent":
        return palette.mean(axis=0)  # the mean of all colours: the same for every class
    if cfg.target_shortcut == "random":
        return palette[int(rng.spawn(1)[0].integers(cfg.classes))]
    return palette[colour]


def render_video(rng: np.random.Generator, label: int, domain: int, cfg: SynthConfig,
                 held_out: bool = False) -> np.ndarray:
    """(frames, size, size, 3) uint8 frames of one clip; `held_out`: as its domain is seen when held out."""
    size, frames, k = cfg.size, cfg.frames, cfg.classes
    x = np.arange(size)
    # Domain style: brightness and stripe frequency/orientation differ per domain.
    brightness = 70.0 + 110.0 * ((domain * 0.618) % 1.0)
    stripes = np.sin(2 * np.pi * (1 + 2 * domain) * x / size)
    style = brightness + cfg.domain_shift * 40.0 * (stripes[None, :] if domain % 2 else stripes[:, None])
    style = np.broadcast_to(style, (size, size))[..., None].repeat(3, axis=2)
    follows = rng.random() < cfg.video_shortcut
    colour = (label + domain) % k if follows else int(rng.integers(k))
    tint = held_out_tint(rng, colour, cfg) if held_out else _palette(k)[colour]
    background = (1 - TINT) * style + TINT * tint
    angle = 2 * np.pi * label / k
    start = rng.uniform(0, size, 2)
    clip = np.empty((frames, size, size, 3))
    for t in range(frames):
        row, col = (start + SPEED * t * np.array([-np.sin(angle), np.cos(angle)])) % size
        rows = (np.arange(BLOB) + int(row)) % size
        cols = (np.arange(BLOB) + int(col)) % size
        frame = background.copy()
        frame[np.ix_(rows, cols)] += cfg.video_motion * 90.0
        clip[t] = frame + rng.normal(0, cfg.video_noise, frame.shape)
    return np.clip(clip, 0, 255).astype(np.uint8)


def render_audio(rng: np.random.Generator, label: int, domain: int, cfg: SynthConfig) -> np.ndarray:
    """Mono int16 samples of one clip."""
    n = int(cfg.sample_rate * cfg.seconds)
    t = np.arange(n) / cfg.sample_rate
    # Domain style: white noise mixed with brown noise and a hum whose pitch depends on the domain.
    white = rng.normal(0, 1, n)
    brown = np.cumsum(rng.normal(0, 1, n))
    brown = (brown - brown.mean()) / (brown.std() + 1e-8)
    hum = np.sin(2 * np.pi * 60.0 * (domain + 1) * t) * np.sqrt(2)
    mix = 0.03 * cfg.domain_shift * (domain % 3)
    noise = (1 - mix) * white + mix * brown + 0.1 * cfg.domain_shift * hum
    noise /= noise.std() + 1e-8
    # Class cue: a tone at a class-specific pitch, on for a random part of the clip.
    pitch = 300.0 * 2 ** (4 * label / cfg.classes) * rng.uniform(0.97, 1.03)
    on = np.zeros(n)
    length = int(n * rng.uniform(0.4, 0.8))
    begin = int(rng.integers(0, n - length + 1))
    on[begin:begin + length] = 1.0
    tone = np.sqrt(2) * np.sin(2 * np.pi * pitch * t + rng.uniform(0, 2 * np.pi)) * on
    signal = noise + 10 ** (cfg.audio_snr_db / 20) * tone
    return np.clip(signal / 5.0 * 32767, -32768, 32767).astype(np.int16)


def write_mp4(path: Path, frames: np.ndarray, fps: int) -> None:
    # PyAV only where clips are written: reading a set generated elsewhere needs decord alone (the GPU
    # machine's carried wheels leave av out: its 34 MiB do not fit the 64 MiB a call may carry).
    import av

    with av.open(str(path), "w") as container:
        # One encoder thread keeps the bytes identical from run to run.
        stream = container.add_stream("libx264", rate=fps, options={"crf": "12", "preset": "ultrafast",
                                                                     "threads": "1"})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(samples.tobytes())


def held_out_folder(cfg: SynthConfig) -> str | None:
    """The folder, inside the set, of the videos rendered as held-out domains; None under "flipped",
    where a held-out domain reads its source clips."""
    return None if cfg.target_shortcut == "flipped" else HELD_OUT.format(mode=cfg.target_shortcut)


def _write_domain(root: Path, cfg: SynthConfig, domain: int, clip_written=lambda: None,
                  held_out: bool = False) -> None:
    """One domain's clips and split files; `held_out`: only its videos, rendered as a held-out domain
    (its audio and split files are those of its source rendering)."""
    name = cfg.domains[domain]
    videos = (root / held_out_folder(cfg) if held_out else root) / name / "videos"
    videos.mkdir(parents=True)
    if not held_out:
        (root / name / "audio").mkdir(parents=True)
    for split, split_id in SPLITS.items():
        per_class = cfg.train_per_class if split == "train" else cfg.test_per_class
        rows = []
        for label, cls in enumerate(class_names(cfg.classes)):
            for j in range(per_class):
                # Each clip has its own seed, so no clip depends on the generation order.
                rng = np.random.default_rng([cfg.seed, domain, split_id, label, j])
                stem = f"{cls}_{split}_{j:03d}"
                write_mp4(videos / f"{stem}.mp4", render_video(rng, label, domain, cfg, held_out), cfg.fps)
                if not held_out:
                    write_wav(root / name / "audio" / f"{stem}.wav", render_audio(rng, label, domain, cfg),
                              cfg.sample_rate)
                clip_written()
                rows.append(f"{stem}.mp4,{label}\r\n")  # HAC split files use CRLF, no header
        if not held_out:
            (root / SPLIT_PATTERN.format(split=split, domain=name)).write_text("".join(rows), newline="")


def generate(cfg: SynthConfig, out: Path, report=lambda done, total: None) -> Path:
    """Write the synthetic set to `out` atomically (a temporary sibling folder, then a rename);
    `report(done, total)` follows the clips."""
    if len(cfg.domains) < 2 or cfg.classes < 2:
        raise UserError("the synthetic set needs at least 2 domains and 2 classes")
    if len(set(cfg.domains)) != len(cfg.domains):
        raise UserError(f"synthetic domain names must be distinct, got {cfg.domains}")
    cfg.check()
    out = Path(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / SPLIT_PATTERN.split("/")[0]).mkdir(parents=True)
    try:
        renderings = [False] if held_out_folder(cfg) is None else [False, True]
        total = len(renderings) * len(cfg.domains) * cfg.classes * (cfg.train_per_class + cfg.test_per_class)
        written = iter(range(1, total + 1))
        for held_out in renderings:
            for domain in range(len(cfg.domains)):
                _write_domain(tmp, cfg, domain, lambda: report(next(written), total), held_out)
        (tmp / MANIFEST).write_text(json.dumps(recorded(cfg), indent=2))
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def cached_root(cfg: SynthConfig) -> Path:
    digest = hashlib.sha256(json.dumps(recorded(cfg), sort_keys=True).encode()).hexdigest()[:10]
    return cache_dir() / f"synth-{digest}"


def ensure_generated(cfg: SynthConfig) -> Path:
    root = cached_root(cfg)
    if not (root / MANIFEST).is_file():
        root.parent.mkdir(parents=True, exist_ok=True)
        try:
            generate(cfg, root)
        except OSError:
            if not (root / MANIFEST).is_file():  # not a concurrent generation that won the rename
                raise
    return root


def read_manifest(root: Path) -> SynthConfig:
    try:
        return SynthConfig(**json.loads((Path(root) / MANIFEST).read_text()))
    except FileNotFoundError:
        raise UserError(f"{root} is not a synthetic dataset ({MANIFEST} not found); "
                        f"create one with `mmdg-bench data synth --out {root}`") from None


@dataclass
class SynthIndex(DatasetIndex):
    """The synthetic set's clips; a run's target reads its domain's held-out rendering where there is one."""

    held_out: Path | None = None  # the folder of the held-out renderings; None: a target reads its source clips

    def protocol(self, target: str) -> dict[str, pd.DataFrame]:
        parts = super().protocol(target)
        if self.held_out is not None:
            videos = self.held_out / target / "videos"
            parts["target"]["video_path"] = [str(videos / Path(path).name) for path in parts["target"].video_path]
        return parts


@DATASETS.register("synth")
def synth_index(data_config) -> DatasetIndex:
    wanted = data_config.synth.target_shortcut
    if data_config.root is None:
        root, cfg = ensure_generated(data_config.synth), data_config.synth
    else:
        root = Path(data_config.root)
        if not root.is_dir():
            raise UserError(f"data root {root} does not exist; create the synthetic set there with "
                            f"`mmdg-bench data synth --out {root}` or leave --data-root out")
        cfg = read_manifest(root)
        if wanted != "flipped" and wanted != cfg.target_shortcut:
            raise UserError(f"the synthetic set in {root} was generated with data.synth.target_shortcut "
                            f"'{cfg.target_shortcut}', not '{wanted}'; leave --data-root out to generate one")
    folder = held_out_folder(cfg)
    if folder is not None and data_config.source == "features":
        raise UserError(f"data.synth.target_shortcut '{cfg.target_shortcut}' gives each held-out domain its own "
                        f"videos, which the feature cache does not hold; use it with data.source 'clips'")
    index = index_hac_layout(root, cfg.domains, class_names(cfg.classes), "synth")
    return SynthIndex(index.clips, index.domains, index.classes, index.target_splits,
                      held_out=None if folder is None else root / folder)
