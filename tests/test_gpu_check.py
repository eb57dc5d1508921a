"""The prepared GPU call (scripts/gpu-wheels, scripts/gpu-check): its steps fit one call's budget, the wheels
it carries are the versions this project pins, and what it cannot carry (PyAV) is needed only to write media."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from mmdg_bench.data.synthetic import ensure_generated
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 420  # of a call's 600 s, the rest for the machine's start and the transfers (issue 21)


def step_limits() -> dict[str, int]:
    """{step: seconds} from the script's `step NAME LIMIT ...` and `gpu_step NAME LIMIT` lines."""
    script = (ROOT / "scripts" / "gpu-check").read_text()
    steps = re.findall(r"^(?:LOG=\S+ )?(?:gpu_)?step ([\w-]+) (\d+)\b", script, flags=re.MULTILINE)
    assert steps, "no steps found in scripts/gpu-check"
    names = [name for name, _ in steps]
    assert len(set(names)) == len(names), f"a step runs twice: {names}"
    return {name: int(limit) for name, limit in steps}


def test_the_gpu_checks_fit_one_call_and_run_every_step():
    limits = step_limits()
    assert sum(limits.values()) <= BUDGET_S, limits
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gpu_check
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert set(gpu_check.STEPS) - {"media"} <= set(limits), "a step of scripts/gpu_check.py is never run"
    assert list(limits)[:3] == ["install", "probe", "cuda-tests"]


def pins(lines: list[str]) -> dict[str, str]:
    found = [re.fullmatch(r"\s*([A-Za-z0-9_.-]+)==([^\s;#]+).*", line) for line in lines]
    return {m.group(1).lower().replace("_", "-"): m.group(2) for m in found if m}


def test_the_carried_wheels_are_the_pinned_versions():
    carried = pins([line for line in (ROOT / "scripts" / "gpu-wheels.txt").read_text().splitlines()
                    if not line.startswith("#")])
    pinned = pins(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    assert {"decord", "typer", "pydantic", "pydantic-core"} <= set(carried)
    assert {name: carried[name] for name in carried if name in pinned} == \
        {name: pinned[name] for name in carried if name in pinned}


@pytest.mark.e2e
def test_a_generated_synthetic_set_is_read_without_pyav(tiny_config):
    """The GPU machine has no PyAV (its wheel does not fit a call): a set generated elsewhere is read with decord."""
    ensure_generated(tiny_config().data.synth)  # here, with PyAV
    code = ("import sys; sys.modules['av'] = None  # import av fails, as where it is not installed\n"
            "from mmdg_bench.config import load_config\n"
            "from mmdg_bench.data import ClipDataset, load_index\n"
            "config = load_config('synth', sys.argv[1:])\n"
            "index = load_index(config.data)\n"
            "clip = ClipDataset(index.protocol('toon')['train'], config.data.modalities, config.data,\n"
            "                   index.sources('toon'))[0]\n"
            "print(sorted(k for k in clip if k in config.data.modalities), tuple(clip['video'].shape))\n")
    result = subprocess.run([sys.executable, "-c", code, *TINY], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("['audio', 'video'] (3, 8, 32, 32)"), result.stdout
