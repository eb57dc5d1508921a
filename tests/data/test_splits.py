"""Packaged split files (the MM-SADA and HAC split counts), split folders in a data root, and safe reading of
pickles."""

import hashlib
import os
import pickle
from decimal import Decimal

import pandas as pd
import pytest

from mmdg_bench.data import splits
from mmdg_bench.data.epic_kitchens import EPIC_CLASSES, EPIC_DOMAINS
from mmdg_bench.data.hac import HAC_CLASSES, HAC_DOMAINS
from mmdg_bench.data.splits import (
    PACKAGED,
    official_md5s,
    read_epic_split_file,
    read_hac_split_file,
    read_pickle_split,
    split_file,
)
from mmdg_bench.errors import UserError

EPIC_SIZES = {("D1", "train"): 1543, ("D1", "test"): 435, ("D2", "train"): 2495, ("D2", "test"): 750,
              ("D3", "train"): 3897, ("D3", "test"): 974}
HAC_SIZES = {("human", "train"): 1111, ("human", "test"): 276, ("animal", "train"): 730,
             ("animal", "test"): 176, ("cartoon", "train"): 870, ("cartoon", "test"): 218}
# Clips per class, counted from the split files (classes in label order).
EPIC_PER_CLASS = {
    ("D1", "train"): [421, 383, 231, 128, 223, 71, 42, 44],
    ("D1", "test"): [124, 104, 52, 34, 66, 13, 20, 22],
    ("D2", "test"): [208, 217, 68, 56, 136, 14, 26, 25],
    ("D3", "test"): [241, 280, 102, 71, 245, 29, 1, 5],  # D3 test has one "mix"
}
HAC_PER_CLASS = {
    ("human", "train"): [159, 158, 160, 158, 158, 158, 160],
    ("animal", "test"): [36, 26, 25, 21, 24, 27, 17],
    ("cartoon", "train"): [83, 93, 135, 104, 121, 163, 171],
}


def epic_packaged(domain, split):
    return read_epic_split_file(PACKAGED / "epic_kitchens" / f"{domain}_{split}.csv")


def hac_packaged(domain, split):
    return read_hac_split_file(PACKAGED / "hac" / f"HAC_{split}_only_{domain}.csv")


def test_packaged_epic_splits_match_spec():
    for (domain, split), size in EPIC_SIZES.items():
        table = epic_packaged(domain, split)
        assert len(table) == size
        assert set(table.participant_id) == {EPIC_DOMAINS[domain]}
        assert table.uid.is_unique
        counts = table.verb_class.value_counts().reindex(range(len(EPIC_CLASSES)), fill_value=0).tolist()
        assert counts == EPIC_PER_CLASS.get((domain, split), counts)
    row = epic_packaged("D1", "train").iloc[0]
    assert (row.video_id, row.start_timestamp, row.start_frame, row.stop_frame, row.verb_class) == \
        ("P08_01", "00:00:04.09", 245, 350, 2)


def test_packaged_hac_splits_match_spec():
    tables = {key: hac_packaged(*key) for key in HAC_SIZES}
    for key, size in HAC_SIZES.items():
        assert len(tables[key]) == size
        assert tables[key].label.between(0, len(HAC_CLASSES) - 1).all()
        counts = tables[key].label.value_counts().reindex(range(len(HAC_CLASSES)), fill_value=0).tolist()
        assert counts == HAC_PER_CLASS.get(key, counts)
    human_both = set(tables["human", "train"].file) & set(tables["human", "test"].file)
    assert len(human_both) == 24
    assert "door_opening_1.mp4" in set(tables["animal", "train"].file) & set(tables["cartoon", "train"].file)
    assert sorted(HAC_DOMAINS) == sorted({d for d, _ in HAC_SIZES})


def test_packaged_hac_files_are_the_official_bytes_and_every_source_is_recorded():
    md5s = official_md5s()
    assert sorted(md5s.values()) == sorted(
        [f"epic_kitchens/{d}_{s}.pkl" for d in EPIC_DOMAINS for s in ("train", "test")]
        + [f"hac/HAC_{s}_only_{d}.csv" for d in HAC_DOMAINS for s in ("train", "test")])
    for md5, name in md5s.items():
        if name.startswith("hac/"):
            assert hashlib.md5((PACKAGED / name).read_bytes()).hexdigest() == md5
    readme = (PACKAGED / "README.md").read_text()
    for origin in ("jonmun/MM-SADA_Domain_Adaptation_Splits", "donghao51/SimMMDG", "CC BY-NC 4.0", "Apache-2.0"):
        assert origin in readme


def test_a_dataframe_pickle_with_an_unknown_md5_loads_through_the_restricted_unpickler(tmp_path):
    table = epic_packaged("D1", "test")
    for protocol in (2, 4, 5):
        path = tmp_path / f"D1_test_{protocol}.pkl"
        path.write_bytes(pickle.dumps(table, protocol=protocol))
        loaded = read_epic_split_file(path)
        assert loaded.equals(table)


class RunsAShell:
    """A pickle payload: unpickling it runs a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class WritesAFile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('owned')",)


@pytest.mark.parametrize("payload, forbidden", [(RunsAShell, f"{os.system.__module__}.system"),
                                                (WritesAFile, "builtins.exec")])
@pytest.mark.parametrize("inside_a_dataframe", [False, True])
def test_a_malicious_pickle_is_refused_and_does_nothing(tmp_path, payload, forbidden, inside_a_dataframe):
    marker = tmp_path / "pwned"
    obj = payload(marker)
    if inside_a_dataframe:  # the payload hides in a cell of an otherwise ordinary split table
        obj = epic_packaged("D1", "test").head(3).astype({"narration": object})
        obj.loc[1, "narration"] = payload(marker)
    path = tmp_path / "D1_train.pkl"
    path.write_bytes(pickle.dumps(obj))
    with pytest.raises(UserError, match=f"{path} has an unknown md5 and contains {forbidden}.*convert it to CSV"):
        read_pickle_split(path)
    assert not marker.exists()


def test_an_official_md5_admits_what_the_restricted_unpickler_refuses(tmp_path, monkeypatch):
    table = pd.DataFrame({"x": [Decimal("1.5")]})  # decimal.Decimal is not a DataFrame class
    path = tmp_path / "D1_train.pkl"
    path.write_bytes(pickle.dumps(table))
    with pytest.raises(UserError, match="contains decimal.Decimal"):
        read_pickle_split(path)
    official = {**official_md5s(), hashlib.md5(path.read_bytes()).hexdigest(): "epic_kitchens/D1_train.pkl"}
    monkeypatch.setattr(splits, "official_md5s", lambda: official)
    assert read_pickle_split(path).x.iloc[0] == Decimal("1.5")


def test_a_split_folder_in_the_root_overrides_the_packaged_copy(tmp_path):
    packaged = PACKAGED / "epic_kitchens"
    names = ["D1_train.csv", "D1_train.pkl"]
    assert split_file(tmp_path / "absent", names, packaged) == packaged / "D1_train.csv"
    assert split_file(tmp_path / "absent", names, None) is None
    folder = tmp_path / "splits"
    folder.mkdir()
    with pytest.raises(UserError, match=f"split folder {folder} has no D1_train.csv or D1_train.pkl; add it, "
                                        "or remove the folder"):
        split_file(folder, names, packaged)
    (folder / "D1_train.pkl").write_bytes(b"")
    assert split_file(folder, names, packaged) == folder / "D1_train.pkl"
    (folder / "D1_train.csv").write_text("")
    assert split_file(folder, names, packaged) == folder / "D1_train.csv"  # CSV first: no pickle needed


@pytest.mark.parametrize("name, content, message", [
    ("D2_test.pkl", pickle.dumps([1, 2, 3]), "holds a list, not a pandas DataFrame"),
    ("D2_test.pkl", b"\x80\x04not a pickle at all", "unknown md5 and is not a readable pickle"),
    ("D1_train.csv", b"uid,video_id\n1,P08_01\n", "lacks the column 'participant_id'"),
    ("D1_train.csv", b"", "is not a CSV"),
])
def test_a_malformed_split_file_is_a_user_error(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        read_epic_split_file(path)


@pytest.mark.parametrize("column, value, message", [
    ("start_frame", "soon", "non-integer values in column 'start_frame'"),
    ("stop_timestamp", "5 minutes", "has the stop_timestamp '5 minutes', not HH:MM:SS.ss"),
])
def test_a_malformed_value_is_named(tmp_path, column, value, message):
    table = epic_packaged("D1", "test").head(2).astype({column: str})
    table.loc[0, column] = value
    path = tmp_path / "D1_test.csv"
    table.to_csv(path, index=False)
    with pytest.raises(UserError, match=message):
        read_epic_split_file(path)
