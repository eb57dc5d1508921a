"""HAC (Human-Animal-Cartoon) layout, SPEC §2; the synthetic set is written in the same layout.

    <root>/HAC_Splits/HAC_{train,test}_only_{domain}.csv   rows "file.mp4,label", CRLF, no header
    <root>/{domain}/videos/<name>.mp4
    <root>/{domain}/audio/<name>.wav
"""

from pathlib import Path

import pandas as pd

from mmdg_bench.data.index import DATASETS, DatasetIndex
from mmdg_bench.errors import UserError

HAC_DOMAINS = ["human", "animal", "cartoon"]
HAC_CLASSES = ["sleeping", "watching tv", "eating", "drinking", "swimming", "running", "opening door"]
SPLIT_PATTERN = "HAC_Splits/HAC_{split}_only_{domain}.csv"
MODALITY_PATHS = {
    "video": "{domain}/videos/{stem}.mp4",
    "audio": "{domain}/audio/{stem}.wav",
}


def read_split_csv(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, header=None, names=["file", "label"], dtype={"file": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise UserError(f"split file {path} is not a 'file.mp4,label' CSV: {err}") from None
    if table.label.isna().any() or not pd.api.types.is_integer_dtype(table.label):
        raise UserError(f"split file {path} has rows without an integer label")
    return table


def index_hac_layout(root: Path | str | None, domains: list[str], classes: list[str],
                     dataset: str) -> DatasetIndex:
    """Index clips in the HAC layout under `root` for the given domains."""
    if root is None:
        raise UserError(f"dataset '{dataset}' needs a data root: pass --data-root PATH")
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"data root {root} does not exist (expected the {dataset} layout with "
                        f"{SPLIT_PATTERN.format(split='train', domain=domains[0])} inside)")
    rows = []
    for domain in domains:
        for split in ("train", "test"):
            split_file = root / SPLIT_PATTERN.format(split=split, domain=domain)
            if not split_file.is_file():
                raise UserError(f"data root {root} does not have the {dataset} layout: "
                                f"{split_file} not found (expected {SPLIT_PATTERN})")
            for file, label in read_split_csv(split_file).itertuples(index=False):
                stem = Path(file.strip()).stem
                row = {"clip_id": f"{domain}/{stem}", "domain": domain, "split": split, "label": int(label)}
                for modality, pattern in MODALITY_PATHS.items():
                    row[f"{modality}_path"] = str(root / pattern.format(domain=domain, stem=stem))
                rows.append(row)
    clips = pd.DataFrame(rows)
    bad = clips[(clips.label < 0) | (clips.label >= len(classes))]
    if not bad.empty:
        raise UserError(f"clip {bad.clip_id.iloc[0]} has label {bad.label.iloc[0]}, outside 0..{len(classes) - 1}")
    return DatasetIndex(clips=clips, domains=list(domains), classes=list(classes), target_splits=("train", "test"))


@DATASETS.register("hac")
def hac_index(data_config) -> DatasetIndex:
    # SimMMDG's HAC protocol tests on the target's train and test splits together (SPEC §1).
    return index_hac_layout(data_config.root, HAC_DOMAINS, HAC_CLASSES, "hac")
