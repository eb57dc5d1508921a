"""A paper-sized sweep from the feature cache, timed as a user runs it (`mmdg-bench bench --part
cached-sweep`): the throughput goal "a 5-strategy x 3-target x 3-seed HAC sweep from the cache in
under 30 minutes on a 2-core CPU".

The cache is written, not extracted (extraction is timed by `features build` itself and by `bench
--part backbones`): random vectors at each backbone's pooled width (SlowFast R101 2304, VGGSound
R18 512, SlowOnly flow 2048) for every clip of the packaged split files, K views per training clip,
in the shard layout and under the key that `features build` gives random-init backbones. A step's
cost does not depend on the values. Then `mmdg-bench sweep --preset P --set data.source=features
...` runs in a subprocess, start-up and evaluation included, and its wall time is the figure.

    mmdg-bench bench --part cached-sweep                       # hac_paper, seeds 0-2, --jobs = CPUs
    mmdg-bench bench --part cached-sweep --seeds 0 --preset epic_kitchens_paper
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from mmdg_bench.bench.step import PAPER_STRATEGIES, device_name, pooled_dims, random_init
from mmdg_bench.config import load_config
from mmdg_bench.data import load_index
from mmdg_bench.data.hac import HAC_DOMAINS
from mmdg_bench.errors import UserError
from mmdg_bench.features.build import plan_shards, write_manifest
from mmdg_bench.features.cache import KEY, cache_folder, cache_key, save_shard, write_json
from mmdg_bench.models.encoders import encoder_spec
from mmdg_bench.settings import Config
from mmdg_bench.sweep.plan import parse_names, parse_seeds

GOAL_MINUTES = 30  # for 5 strategies x 3 targets x 3 seeds on HAC (the CPU goal)
# An empty data root that each real layout indexes from its packaged split files: HAC's domain
# folders, EPIC-Kitchens' `video/` (mmdg_bench/data/hac.py, epic_kitchens.py).
SKELETON = ("video", *HAC_DOMAINS)


def cached_overrides(preset: str, root: Path, features_dir: Path) -> list[str]:
    """The settings of a run from the cache: every encoder frozen, random-init (no weight files)."""
    config = load_config(preset)
    modalities = config.data.modalities
    for m in modalities:
        name, _, settings = encoder_spec(config.model.encoders[m], f"model.encoders.{m}")
        if not hasattr(settings, "regime"):
            raise UserError(f"a feature cache holds pre-trained backbones' features, but preset {preset}'s {m} "
                            f"encoder ({name}) is not one: use hac_paper or epic_kitchens_paper")
    return [*random_init(preset), "data.source=features", f"data.root={root}", f"features.dir={features_dir}",
            *[f"model.encoders.{m}.regime=frozen" for m in modalities]]


def write_random_cache(config: Config, index, seed: int = 0) -> dict[str, Path]:
    """A finished cache of random features for every clip of `index` (`config`'s), per modality."""
    dims = pooled_dims(config)
    generator = torch.Generator().manual_seed(seed)
    folders = {}
    for modality in config.data.modalities:
        key = cache_key(config, modality)
        folder = cache_folder(config, modality, key)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / KEY, key)
        shards = plan_shards(folder, index.clips, config.features.views, config.features.shard_clips)
        for shard in shards:
            shape = (len(shard.clip_keys), *((config.features.views,) if shard.kind == "train" else ()), dims[modality])
            save_shard(shard.path, shard.clip_keys, torch.randn(shape, generator=generator))
        write_manifest(folder, key, index.clips, shards, config, device="random (bench)")
        folders[modality] = folder
    return folders


def run_echoing_runs(command: list[str], console: Console) -> tuple[int, str]:
    """Run the sweep, echoing its line per finished run (not its lines per epoch); (exit code, its
    last other line: the error, when it failed). One pipe for both streams: nothing can block."""
    last = ""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as sweep:
        for line in sweep.stdout:
            if line.startswith(("done ", "failed ", "finished:")):
                console.print(line.rstrip(), highlight=False)
            elif line.strip() and " epoch " not in line:
                last = line.strip()
    return sweep.returncode, last


def run_summaries(out: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(out.glob("*/summary.json"))]


def bench_cached_sweep(console: Console, preset: str = "hac_paper", seeds: str = "0-2", jobs: int = 0,
                       strategies: list[str] = PAPER_STRATEGIES, targets: str = "all",
                       overrides: list[str] = ()) -> dict:
    """Write the random cache, time the sweep (`jobs` 0: one per CPU), print and return the figures."""
    jobs = jobs or os.cpu_count() or 1
    planned_seeds = parse_seeds(seeds)  # a bad --seeds stops here, before anything is written
    scratch = Path(tempfile.mkdtemp(prefix="mmdg-bench-cached-sweep-"))
    try:
        root = scratch / "data"
        for name in SKELETON:
            (root / name).mkdir(parents=True)
        settings = [*cached_overrides(preset, root, scratch / "features"), *overrides]
        config = load_config(preset, settings)
        index = load_index(config.data)
        started = time.perf_counter()
        write_random_cache(config, index)
        cache_s = time.perf_counter() - started
        out = scratch / "runs"
        command = [sys.executable, "-m", "mmdg_bench", "sweep", "--preset", preset, "--seeds", seeds,
                   "--targets", targets, "--strategies", ",".join(strategies), "--jobs", str(jobs),
                   "--out", str(out), *[arg for s in settings for arg in ("--set", s)]]
        started = time.perf_counter()
        returncode, error = run_echoing_runs(command, console)
        sweep_s = time.perf_counter() - started
        summaries = run_summaries(out)
        planned = len(strategies) * len(planned_seeds) * len(parse_names(targets, index.domains, "target domain"))
        if returncode != 0 or len(summaries) != planned:
            raise UserError(f"the timed sweep finished {len(summaries)} of {planned} runs: "
                            f"{error or 'no error printed'}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    train_s = per_strategy(summaries)
    report = {"preset": preset, "runs": len(summaries), "jobs": jobs, "epochs": config.optim.epochs,
              "cache_s": cache_s, "sweep_s": sweep_s, "train_s": {s: train_s[s] for s in strategies}}
    console.print(cached_sweep_table(report, config))
    return report


def per_strategy(summaries: list[dict]) -> dict[str, float]:
    """Median training seconds of one run, per strategy (the runs' own clocks, inside the sweep)."""
    seconds = defaultdict(list)
    for summary in summaries:
        seconds[summary["strategy"]].append(summary["wall_s"])
    return {name: statistics.median(values) for name, values in seconds.items()}


def cached_sweep_table(report: dict, config: Config) -> Table:
    minutes = report["sweep_s"] / 60
    threads = max(1, (os.cpu_count() or 1) // report["jobs"])  # as `sweep --jobs` splits the cores
    goal = GOAL_MINUTES * report["runs"] / 45  # the goal's pace, scaled to the runs timed
    table = Table(title=f"A {report['preset']} sweep from the feature cache ({', '.join(config.data.modalities)}; "
                        f"{report['runs']} runs x {report['epochs']} epochs, --jobs {report['jobs']}, "
                        f"{threads} thread(s) each), measured on {device_name('cpu')}, torch {torch.__version__}; "
                        f"random features at the backbones' widths, written in {report['cache_s']:.0f} s")
    for column in ("what", "seconds", "minutes", "goal"):
        table.add_column(column, justify="left" if column == "what" else "right")
    table.add_row("the whole sweep (`mmdg-bench sweep`, wall)", f"{report['sweep_s']:.0f}", f"{minutes:.1f}",
                  f"<= {goal:.1f} min")
    for name, seconds in report["train_s"].items():
        table.add_row(f"one {name} run (median, own clock)", f"{seconds:.1f}", "", "")
    return table
