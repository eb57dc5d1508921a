"""The examples in the docstrings of the pure strategy math and frame sampling run as written (TorchJD's
tests/doc/ habit): a docstring that shows a call shows its real result."""

import doctest

import pytest
import torch

import mmdg_bench.data.decoding
import mmdg_bench.strategies.functional

MODULES = [mmdg_bench.strategies.functional, mmdg_bench.data.decoding]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples_run_as_written(module):
    results = doctest.testmod(module, extraglobs={"torch": torch}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert results.attempted > 0, f"{module.__name__} shows no example"
    assert results.failed == 0


def test_every_public_function_of_the_math_shows_an_example():
    module = mmdg_bench.strategies.functional
    without = [name for name in module.__all__ if callable(getattr(module, name))
               and name != "CagpChoice" and ">>>" not in (getattr(module, name).__doc__ or "")]
    assert not without, f"functions without a docstring example: {without}"
