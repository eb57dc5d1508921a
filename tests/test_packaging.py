"""A plain `pip install .` ships everything a run needs: the presets are package data.

The wheel's files are what setuptools' `build_py` collects (bdist_wheel packs its output), so the
test runs that step on a copy of the source, with the setuptools of the venv and no network, and
uses the presets from the result alone."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mmdg_bench.settings import list_presets

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.e2e
def test_the_built_package_holds_every_preset_and_uses_them(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "mmdg_bench", source / "mmdg_bench", ignore=shutil.ignore_patterns("__pycache__"))
    built = tmp_path / "lib"
    subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py",
                    "--build-lib", str(built)], cwd=source, check=True, capture_output=True, timeout=300)
    shipped = sorted(p.stem for p in (built / "mmdg_bench" / "presets").glob("*.yaml"))
    assert shipped == list_presets() and "synth" in shipped
    elsewhere = tmp_path / "elsewhere"  # not the repository: only the built package can be imported
    elsewhere.mkdir()
    check = ("from mmdg_bench.config import load_config\nfrom mmdg_bench.settings import PRESET_DIR, list_presets\n"
             "print(PRESET_DIR, *[load_config(name).preset for name in list_presets()])")
    proc = subprocess.run([sys.executable, "-c", check], cwd=elsewhere, env={"PYTHONPATH": str(built)},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(built / "mmdg_bench" / "presets"), *shipped]
