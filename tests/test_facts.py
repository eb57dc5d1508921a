"""One place per fact: every built-in entry registers with its record of mmdg_bench/facts.py, and no
other table of the project disagrees with those records (the paper's tables, Table 4's blocks, the
Makefile's leaderboard, the precisions)."""

import re
from pathlib import Path

import pytest

from mmdg_bench.device import DTYPES
from mmdg_bench.facts import (
    FUSION_FACTS,
    MAIN,
    METHOD_FACTS,
    PAPER_STRATEGIES,
    PROJECTION,
    STRATEGY_FACTS,
    FusionInfo,
    StrategyInfo,
)
from mmdg_bench.methods import METHODS
from mmdg_bench.models.fusion import FUSIONS
from mmdg_bench.results.reference import TABLE2, TABLE2_NOT_IMPLEMENTED, TABLE3, TABLE4, TABLE4_BLOCKS, TABLE5
from mmdg_bench.settings import PRECISIONS
from mmdg_bench.strategies import STRATEGIES

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("registry, facts", [(STRATEGIES, STRATEGY_FACTS), (METHODS, METHOD_FACTS),
                                             (FUSIONS, FUSION_FACTS)], ids=["strategies", "methods", "fusions"])
def test_every_built_in_entry_registers_with_its_record(registry, facts):
    assert sorted(registry.names()) == sorted(facts), "an entry without a record, or a record without an entry"
    for name, record in facts.items():
        assert registry.facts(name) == record
        assert registry.info(name) == record.given()  # what a summary.json records


def test_a_fact_the_record_does_not_have_is_refused():
    with STRATEGIES.scoped(), pytest.raises(TypeError, match="colur"):
        STRATEGIES.register("typo", order=1, colur="#000000")


def rows_to_strategies(table: dict) -> dict[str, list[str]]:
    return {row: [name for name, facts in STRATEGY_FACTS.items() if facts.paper_row == row] for row in table}


def test_each_published_strategy_row_is_one_strategy_and_each_paper_row_is_published():
    assert all(len(names) == 1 for names in rows_to_strategies({**TABLE2, **TABLE4}).values())
    assert all(not names for names in rows_to_strategies(TABLE2_NOT_IMPLEMENTED).values())
    stated = {facts.paper_row for facts in STRATEGY_FACTS.values() if facts.paper_row}
    assert stated <= set(TABLE2) | set(TABLE4)


def test_table4_blocks_hold_the_strategies_of_that_block():
    for block in TABLE4_BLOCKS:
        assert set(block.rows) <= set(TABLE4) and (block.full in block.rows or not block.rows)
        for row in block.rows:
            (name,) = rows_to_strategies({row: None})[row]
            assert STRATEGY_FACTS[name].block == (MAIN if block.name == "both" else block.name), name


def test_methods_and_fusions_name_their_published_rows():
    assert {f.paper_row for f in METHOD_FACTS.values() if f.paper_row} == set(TABLE3)
    assert {f.paper_row for f in FUSION_FACTS.values() if f.paper_row} == set(TABLE5)
    assert [f for f in FUSION_FACTS.values() if f.assumed] == [FusionInfo("Activation", 3, assumed=True)]


def test_the_paper_strategies_are_table_2_and_pcgrad():
    assert all(STRATEGY_FACTS[name].paper_row in TABLE2 or STRATEGY_FACTS[name].block == PROJECTION
               for name in PAPER_STRATEGIES)
    assert {STRATEGY_FACTS[name].paper_row for name in PAPER_STRATEGIES} == set(TABLE2) | {"PCGrad"}


def test_the_leaderboard_names_registered_entries():
    makefile = (ROOT / "Makefile").read_text()
    named = {
        STRATEGIES: {n for arg in re.findall(r"--strategies (\S+)", makefile) for n in arg.split(",")},
        METHODS: {n for arg in re.findall(r"--methods (\S+)", makefile) for n in arg.split(",")},
        FUSIONS: set(re.search(r"for fusion in ([\w ]+);", makefile).group(1).split()),
    }
    for registry, names in named.items():
        assert names and names <= set(registry.names()), f"the Makefile names unknown {registry.kind} entries"


def test_every_precision_has_its_autocast():
    assert tuple(DTYPES) == PRECISIONS
    assert isinstance(STRATEGY_FACTS["gmp"], StrategyInfo)
