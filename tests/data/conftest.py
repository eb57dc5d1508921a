"""Fixtures of the data tests: small datasets in the real on-disk layouts, built once per module."""

import pytest

from tests.media_fixtures import make_epic_simmmdg, make_hac


@pytest.fixture(scope="module")
def hac_root(tmp_path_factory):
    return make_hac(tmp_path_factory.mktemp("hac") / "data", clips_per_split=2)


@pytest.fixture(scope="module")
def epic_root(tmp_path_factory):
    return make_epic_simmmdg(tmp_path_factory.mktemp("epic") / "data", clips_per_split=2)
