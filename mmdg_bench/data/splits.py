"""Split files: the packaged copies, a data root's own split folder, and safe reading of pickles.

The official splits ship inside the package as CSV (resources/splits/, see its README.md for their
origin, licence and the md5s of the files they were converted from). A split folder inside the
data root overrides them: `<root>/MM-SADA_Domain_Adaptation_Splits/D1_train.{csv,pkl}` for
EPIC-Kitchens, `<root>/HAC_Splits/HAC_train_only_human.csv` for HAC.

A pickle can run code when it is loaded, so a `.pkl` split is loaded with pandas only when its md5
is one of the official ones; any other pickle goes through an unpickler that admits nothing but
the pandas/numpy classes a DataFrame is made of.
"""

import hashlib
import io
import pickle
from functools import cache
from pathlib import Path

import pandas as pd

from mmdg_bench.errors import UserError

PACKAGED = Path(__file__).resolve().parent / "resources" / "splits"
SOURCE_MD5SUMS = PACKAGED / "SOURCE_MD5SUMS"

EPIC_COLUMNS = ["uid", "participant_id", "video_id", "narration", "start_timestamp", "stop_timestamp",
                "start_frame", "stop_frame", "verb", "verb_class"]
EPIC_TEXT_COLUMNS = ["participant_id", "video_id", "narration", "start_timestamp", "stop_timestamp", "verb"]

# What a DataFrame of ints, floats and strings unpickles from, in pandas 1.x to 3.x and numpy 1.x/2.x.
# Object arrays unpickle their items through the same unpickler, so nothing else slips in.
DATAFRAME_GLOBALS = frozenset({
    ("builtins", "slice"), ("__builtin__", "slice"), ("_codecs", "encode"),
    ("numpy", "dtype"), ("numpy", "ndarray"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("pandas", "DataFrame"), ("pandas.core.frame", "DataFrame"),
    ("pandas", "Index"), ("pandas.core.indexes.base", "Index"), ("pandas.core.indexes.base", "_new_Index"),
    ("pandas", "RangeIndex"), ("pandas.core.indexes.range", "RangeIndex"),
    ("pandas.core.internals.managers", "BlockManager"), ("pandas._libs.internals", "_unpickle_block"),
    ("pandas", "StringDtype"), ("pandas.core.arrays.string_", "StringDtype"),
    ("pandas.arrays", "StringArray"), ("pandas.core.arrays.string_", "StringArray"),
    ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"),
})


class ForbiddenGlobal(pickle.UnpicklingError):
    def __init__(self, module: str, name: str):
        self.qualified = f"{module}.{name}"
        super().__init__(f"forbidden global {self.qualified}")


class DataFrameUnpickler(pickle.Unpickler):
    """Refuses every global but the pandas/numpy classes a DataFrame needs, before importing it."""

    def find_class(self, module: str, name: str):
        if (module, name) not in DATAFRAME_GLOBALS:
            raise ForbiddenGlobal(module, name)
        return super().find_class(module, name)


@cache
def official_md5s() -> dict[str, str]:
    """md5 -> upstream file name, for the split files of SOURCE_MD5SUMS."""
    pairs = (line.split(maxsplit=1) for line in SOURCE_MD5SUMS.read_text().splitlines() if line.strip())
    return {md5: name.strip() for md5, name in pairs}


def read_pickle_split(path: Path) -> pd.DataFrame:
    """A DataFrame from a `.pkl` split: pandas for the official files, the restricted unpickler otherwise."""
    data = Path(path).read_bytes()
    if hashlib.md5(data).hexdigest() in official_md5s():
        return pd.read_pickle(io.BytesIO(data))
    try:
        table = DataFrameUnpickler(io.BytesIO(data)).load()
    except ForbiddenGlobal as err:
        raise UserError(f"split file {path} has an unknown md5 and contains {err.qualified}, which a "
                        f"split does not need; convert it to CSV") from None
    except Exception as err:  # a truncated or foreign file fails in many ways inside pickle
        raise UserError(f"split file {path} has an unknown md5 and is not a readable pickle "
                        f"({type(err).__name__}); convert it to CSV") from None
    if not isinstance(table, pd.DataFrame):
        raise UserError(f"split file {path} holds a {type(table).__name__}, not a pandas DataFrame")
    return table


def read_epic_split_file(path: Path) -> pd.DataFrame:
    """An MM-SADA split (`.csv` or `.pkl`) with its ten columns, text columns as str."""
    path = Path(path)
    if path.suffix == ".pkl":
        table = read_pickle_split(path)
    else:
        try:
            table = pd.read_csv(path, dtype={c: str for c in EPIC_TEXT_COLUMNS}, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise UserError(f"split file {path} is not a CSV: {err}") from None
    absent = [c for c in EPIC_COLUMNS if c not in table.columns]
    if absent:
        raise UserError(f"split file {path} lacks the column '{absent[0]}' (expected {', '.join(EPIC_COLUMNS)})")
    table = table[EPIC_COLUMNS].reset_index(drop=True)
    for column in ("uid", "start_frame", "stop_frame", "verb_class"):
        if not pd.api.types.is_integer_dtype(table[column]):
            raise UserError(f"split file {path} has non-integer values in column '{column}'")
    table = table.astype({c: str for c in EPIC_TEXT_COLUMNS})
    for column in ("start_timestamp", "stop_timestamp"):
        malformed = ~table[column].str.fullmatch(r"\d+:\d{2}:\d{2}(\.\d+)?")
        if malformed.any():
            raise UserError(f"split file {path} has the {column} '{table[column][malformed].iloc[0]}', "
                            f"not HH:MM:SS.ss")
    return table


def read_hac_split_file(path: Path) -> pd.DataFrame:
    """A HAC split: rows `file.mp4,label`, CRLF, no header."""
    try:
        table = pd.read_csv(path, header=None, names=["file", "label"], dtype={"file": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise UserError(f"split file {path} is not a 'file.mp4,label' CSV: {err}") from None
    if table.label.isna().any() or not pd.api.types.is_integer_dtype(table.label):
        raise UserError(f"split file {path} has rows without an integer label")
    return table.assign(file=table.file.str.strip())


def split_file(folder: Path, names: list[str], packaged: Path | None) -> Path | None:
    """The split file to read: from the data root's split `folder` when it exists, else the packaged
    copy (None when there is none). `names` are the accepted file names, preferred first."""
    if not folder.is_dir():
        return packaged / names[0] if packaged is not None else None
    for name in names:
        if (folder / name).is_file():
            return folder / name
    fallback = "; add it, or remove the folder to use the packaged splits" if packaged is not None else ""
    raise UserError(f"split folder {folder} has no {' or '.join(names)}{fallback}")
