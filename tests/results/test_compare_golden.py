"""Golden test of `compare` on a committed toy results folder (DomainBed's habit).

tests/results/golden/runs/ holds hand-written FAKE run folders, preset/dataset hac: baseline, gmp and
gmp-no-k on targets human/animal/cartoon with seeds 0 and 1. gmp-no-k/cartoon/seed1 has a
summary.json (fused 99.0) but no `done` marker: it is an unfinished run and must be ignored.
The fused target accuracies were chosen so the statistics can be checked by hand:
gmp − baseline over the 6 pairs = 3, 2, 2, 3.5, 1, 3: mean 2.42, all positive, p = 2/64 → "*";
gmp-no-k − baseline over its 5 pairs = 1, 1.5, 0.5, 2, 0.5: mean 1.10, p = 2/32 = 0.0625, no mark.

To change the expected output on purpose, render it again and review the diff this test prints:
    python -c "from mmdg_bench.results.collect import collect; \
from mmdg_bench.results.render import render_compare; \
print(render_compare(collect('tests/results/golden/runs'), 'best-val', 'md', reference='paper'), end='')" \
> tests/results/golden/expected.md          # the same with 'csv' for expected.csv
"""

import difflib
from pathlib import Path

import pytest

from mmdg_bench.results.collect import collect
from mmdg_bench.results.render import render_compare

GOLDEN = Path(__file__).parent / "golden"
UNFINISHED = GOLDEN / "runs" / "hac__gmp-no-k__cartoon__seed1__golden00"


@pytest.mark.parametrize("fmt, expected", [("md", "expected.md"), ("csv", "expected.csv")])
def test_compare_matches_the_golden_output(fmt, expected):
    want = (GOLDEN / expected).read_text()
    got = render_compare(collect(GOLDEN / "runs"), "best-val", fmt, reference="paper")
    diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), expected, "rendered now"))
    assert got == want, f"compare output differs from tests/results/golden/{expected}:\n{diff}"


def test_the_golden_folder_holds_an_unfinished_run():
    # Guards the fixture itself: without this folder the test above would not test skipping it.
    assert (UNFINISHED / "summary.json").is_file() and not (UNFINISHED / "done").exists()
    assert "99.0" not in (GOLDEN / "expected.csv").read_text()
