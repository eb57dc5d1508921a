"""HAC (Human-Animal-Cartoon) layout, as SimMMDG and the Hugging Face dataset lay it out; the
synthetic set is written in the same layout.

    <root>/HAC_Splits/HAC_{train,test}_only_{domain}.csv   rows "file.mp4,label", CRLF, no header
    <root>/{domain}/videos/<name>.mp4
    <root>/{domain}/audio/<name>.wav
    <root>/{domain}/flow/<name>_flow_x.mp4, <name>_flow_y.mp4

MMDG-Bench (the GMP authors' benchmark) keeps the domain folders inside the split folder,
`<root>/HAC_Splits/{domain}/videos/...`: a domain without `<root>/{domain}` is read there. A split
file may also sit in its domain's folder, `<root>/HAC_Splits/{domain}/HAC_train_only_{domain}.csv`.

HAC's split files are packaged (resources/splits/hac/); a `HAC_Splits` folder in the data root
overrides them. Every clip is a whole file: frame ranges are -1 and audio times NaN.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from mmdg_bench.data.index import DATASETS, INDEX_COLUMNS, WHOLE_FILE, DatasetIndex, check_root
from mmdg_bench.data.splits import PACKAGED, read_hac_split_file, split_file
from mmdg_bench.errors import UserError

HAC_DOMAINS = ["human", "animal", "cartoon"]
HAC_CLASSES = ["sleeping", "watching tv", "eating", "drinking", "swimming", "running", "opening door"]
SPLIT_FOLDER = "HAC_Splits"
SPLIT_NAME = "HAC_{split}_only_{domain}.csv"
SPLIT_PATTERN = f"{SPLIT_FOLDER}/{SPLIT_NAME}"
PATH_PATTERNS = {
    "video_path": "{domain}/videos/{stem}.mp4",
    "audio_path": "{domain}/audio/{stem}.wav",
    "flow_u_path": "{domain}/flow/{stem}_flow_x.mp4",
    "flow_v_path": "{domain}/flow/{stem}_flow_y.mp4",
}
LAYOUT = ("<root>/{domain}/videos/<name>.mp4, audio/<name>.wav, flow/<name>_flow_x.mp4, or the same in "
          "<root>/HAC_Splits/{domain}/")


def media_root(root: Path, domain: str) -> Path:
    """The folder that holds `{domain}/videos`: the data root, or its split folder (MMDG-Bench)."""
    nested = root / SPLIT_FOLDER
    return nested if not (root / domain).is_dir() and (nested / domain).is_dir() else root


def domain_clips(root: Path, domain: str, split: str, split_path: Path) -> pd.DataFrame:
    table = read_hac_split_file(split_path)
    stems = [Path(file).stem for file in table.file]
    clips = pd.DataFrame({"clip_id": [f"{domain}/{stem}" for stem in stems], "domain": domain,
                          "split": split, "label": table.label.astype(int)})
    media = media_root(root, domain)
    for column, pattern in PATH_PATTERNS.items():
        clips[column] = [str(media / pattern.format(domain=domain, stem=stem)) for stem in stems]
    return clips.assign(start_frame=WHOLE_FILE, stop_frame=WHOLE_FILE, flow_start=WHOLE_FILE,
                        flow_stop=WHOLE_FILE, start_time=np.nan, stop_time=np.nan)


def index_hac_layout(root: Path | str | None, domains: list[str], classes: list[str], dataset: str,
                     packaged: Path | None = None) -> DatasetIndex:
    """Index clips in the HAC layout under `root`; split files from `root/HAC_Splits`, else `packaged`."""
    root = check_root(root, dataset, LAYOUT)
    parts = []
    for domain in domains:
        for split in ("train", "test"):
            name = SPLIT_NAME.format(split=split, domain=domain)
            path = split_file(root / SPLIT_FOLDER, [name, f"{domain}/{name}"], packaged)
            if path is None:
                raise UserError(f"data root {root} does not have the {dataset} layout: "
                                f"{root / SPLIT_FOLDER / name} not found (expected <root>/{SPLIT_PATTERN})")
            parts.append(domain_clips(root, domain, split, path))
    if not any((media_root(root, domain) / domain).is_dir() for domain in domains):
        raise UserError(f"data root {root} does not have the {dataset} layout: {root / domains[0]} not "
                        f"found (expected {LAYOUT})")
    clips = pd.concat(parts, ignore_index=True)[INDEX_COLUMNS]
    bad = clips[(clips.label < 0) | (clips.label >= len(classes))]
    if not bad.empty:
        raise UserError(f"clip {bad.clip_id.iloc[0]} has label {bad.label.iloc[0]}, outside 0..{len(classes) - 1}")
    return DatasetIndex(clips=clips, domains=list(domains), classes=list(classes), target_splits=("train", "test"))


@DATASETS.register("hac")
def hac_index(data_config) -> DatasetIndex:
    # SimMMDG's HAC protocol tests on the target's train and test splits together (its HAC loader).
    return index_hac_layout(data_config.root, HAC_DOMAINS, HAC_CLASSES, "hac", packaged=PACKAGED / "hac")
