"""EPIC-Kitchens-55, MM-SADA domain split: 8 verb classes, D1/D2/D3 = kitchens P08/P01/P22.

Two file layouts; `data.layout` picks one (auto: by the folders found in the data root).

simmmdg (SimMMDG: frame folders, whole-video audio cut at the clip's timestamps):
    <root>/rgb/{train,test}/D1/P08_01/frame_0000000001.jpg
    <root>/rgb/{train,test}/D1/P08_01.wav
    <root>/flow/{train,test}/D1/P08_01/{u,v}/frame_0000000001.jpg
mmdg-bench (MMDG-Bench, the GMP authors' benchmark: one mp4 per clip, a flow clip named by its flow
frame range, whole-video audio cut at the clip's timestamps):
    <base>/video/{train,test}/D1/D1_P08_01_<start>_<stop>_<label>.mp4
    <base>/flow/{train,test}/D1/D1_P08_01_<flow start>_<flow stop>_<label>_{u,v}.mp4
    <base>/audio/{train,test}/D1/P08_01.wav   (a video without one there: <base>/rgb/..., where
                                               `mmdg-bench data extract-audio` writes it)
    <base> is <root>, or <root>/MM-SADA_Domain_Adaptation_Splits as in MMDG-Bench's README. Its first
    commits kept the mp4 folders in <base>/EPIC-mp4/{video,flow}/: read when <base>/video is absent.

Both have a `flow` folder, so auto-detection looks only at `video` and `EPIC-mp4` (mmdg-bench) and
`rgb` (simmmdg; an MMDG-Bench root may also hold `rgb` for its audio, hence that order).

Split files: `<root>/MM-SADA_Domain_Adaptation_Splits/D1_train.{csv,pkl}` when that folder exists,
else the packaged CSVs. SimMMDG protocol: the target is tested on its `test` split only.
"""

from pathlib import Path

import pandas as pd

from mmdg_bench.data.index import DATASETS, INDEX_COLUMNS, WHOLE_FILE, DatasetIndex, check_root
from mmdg_bench.data.splits import PACKAGED, read_epic_split_file, split_file
from mmdg_bench.errors import UserError, unknown

EPIC_DOMAINS = {"D1": "P08", "D2": "P01", "D3": "P22"}
EPIC_CLASSES = ["take", "put", "open", "close", "wash", "cut", "mix", "pour"]
SPLIT_FOLDER = "MM-SADA_Domain_Adaptation_Splits"
CLIP_NAME = "D1_P08_01_<start>_<stop>_<label>.mp4"
# (layout, the folder that identifies it, where its clip folders are below <base>, the pattern shown
# when it is not found), in the order "auto" tries them.
MARKERS = [
    ("mmdg-bench", "video", ".", f"<root>/video/{{train,test}}/D1/{CLIP_NAME}"),
    ("mmdg-bench", "EPIC-mp4", "EPIC-mp4", f"<root>/EPIC-mp4/video/{{train,test}}/D1/{CLIP_NAME}"),
    ("simmmdg", "rgb", ".", "<root>/rgb/{train,test}/D1/P08_01/frame_0000000001.jpg"),
]
LAYOUTS = sorted({marker[0] for marker in MARKERS})


def resolve_layout(root: Path, layout: str) -> tuple[str, Path, Path]:
    """(layout, base folder, folder of its clip folders): `layout`, or for "auto" the first whose
    marker folder exists in <root> or <root>/MM-SADA_Domain_Adaptation_Splits."""
    if layout != "auto" and layout not in LAYOUTS:
        raise unknown("EPIC-Kitchens layout (data.layout)", layout, ["auto", *LAYOUTS])
    candidates = [m for m in MARKERS if layout in ("auto", m[0])]
    for name, marker, clips, _ in candidates:
        for base in (root, root / SPLIT_FOLDER):
            if (base / marker).is_dir():
                return name, base, base / clips
    expected = " or ".join(m[3] for m in candidates)
    raise UserError(f"data root {root} does not have the epic_kitchens layout: {root / candidates[0][1]} "
                    f"not found (expected {expected})")


def timestamp_seconds(stamps: pd.Series) -> pd.Series:
    """EPIC's HH:MM:SS.ss timestamps as float seconds."""
    parts = stamps.str.split(":", expand=True).astype(float)
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


def flow_range(start: pd.Series, stop: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Flow frames are at half the RGB rate: start = ceil(start/2), length = (stop-start)/2 (SimMMDG's and
    MMDG-Bench's EPIC loaders)."""
    flow_start = -(-start // 2)
    return flow_start, flow_start + (stop - start) // 2


def per_video_wavs(base: Path, split: str, domain: str, video_ids: pd.Series) -> pd.Series:
    """MMDG-Bench's audio path of each video: <base>/audio/..., or <base>/rgb/... where only that exists."""
    paths = {}
    for video_id in video_ids.unique():
        audio, rgb = (base / folder / split / domain / f"{video_id}.wav" for folder in ("audio", "rgb"))
        paths[video_id] = str(rgb if rgb.is_file() and not audio.is_file() else audio)
    return video_ids.map(paths)


def layout_columns(base: Path, clips_folder: Path, layout: str, table: pd.DataFrame, domain: str,
                   split: str) -> dict:
    """Path and range columns of one domain's split in `layout`."""
    video_id = table.video_id
    flow_start, flow_stop = flow_range(table.start_frame, table.stop_frame)
    times = {"start_time": timestamp_seconds(table.start_timestamp),
             "stop_time": timestamp_seconds(table.stop_timestamp)}
    if layout == "simmmdg":
        frames, flow = f"{base}/rgb/{split}/{domain}/", f"{base}/flow/{split}/{domain}/"
        return {"video_path": frames + video_id, "audio_path": frames + video_id + ".wav",
                "flow_u_path": flow + video_id + "/u", "flow_v_path": flow + video_id + "/v",
                "start_frame": table.start_frame, "stop_frame": table.stop_frame,
                "flow_start": flow_start, "flow_stop": flow_stop, **times}
    label = "_" + table.verb_class.astype(str)
    clip = f"{domain}_" + video_id + "_"
    video_name = clip + table.start_frame.astype(str) + "_" + table.stop_frame.astype(str) + label
    flow_name = clip + flow_start.astype(str) + "_" + flow_stop.astype(str) + label
    flow = f"{clips_folder}/flow/{split}/{domain}/" + flow_name
    return {"video_path": f"{clips_folder}/video/{split}/{domain}/" + video_name + ".mp4",
            "audio_path": per_video_wavs(base, split, domain, video_id),
            "flow_u_path": flow + "_u.mp4", "flow_v_path": flow + "_v.mp4",
            "start_frame": WHOLE_FILE, "stop_frame": WHOLE_FILE, "flow_start": WHOLE_FILE,
            "flow_stop": WHOLE_FILE, **times}


def domain_clips(root: Path, layout: tuple[str, Path, Path], domain: str, split: str) -> pd.DataFrame:
    name = f"{domain}_{split}"
    path = split_file(root / SPLIT_FOLDER, [f"{name}.csv", f"{name}.pkl"], PACKAGED / "epic_kitchens")
    table = read_epic_split_file(path)
    bad = table[(table.verb_class < 0) | (table.verb_class >= len(EPIC_CLASSES))]
    if not bad.empty:
        raise UserError(f"split file {path} gives clip uid {bad.uid.iloc[0]} the verb_class "
                        f"{bad.verb_class.iloc[0]}, outside 0..{len(EPIC_CLASSES) - 1}")
    clips = pd.DataFrame({"clip_id": f"{domain}/" + table.video_id + "/" + table.uid.astype(str),
                          "domain": domain, "split": split, "label": table.verb_class.astype(int)})
    layout_name, base, clips_folder = layout
    return clips.assign(**layout_columns(base, clips_folder, layout_name, table, domain, split))


@DATASETS.register("epic_kitchens")
def epic_index(data_config) -> DatasetIndex:
    root = check_root(data_config.root, "epic_kitchens", " or ".join(m[3] for m in MARKERS))
    layout = resolve_layout(root, data_config.layout)
    parts = [domain_clips(root, layout, domain, split) for domain in EPIC_DOMAINS for split in ("train", "test")]
    return DatasetIndex(clips=pd.concat(parts, ignore_index=True)[INDEX_COLUMNS], domains=list(EPIC_DOMAINS),
                        classes=list(EPIC_CLASSES), target_splits=("test",))
