"""How long `compare` takes over many run folders (target: 1,000 in at most 5 s). A benchmark,
not a timed test: it writes fake run folders to a temporary folder and times reading them
(collect), building every table and rendering Markdown, as `compare --format md` does.

    python -m mmdg_bench.bench.compare 1000
"""

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from mmdg_bench.bench.timing import median_seconds, run_command
from mmdg_bench.engine.run_folder import DONE, SUMMARY
from mmdg_bench.results.collect import collect
from mmdg_bench.results.render import render_compare
from mmdg_bench.settings import run_name

STRATEGIES = ["baseline", "ogm-ge", "grad-blending", "pcgrad", "gmp", "gmp-no-k", "gmp-no-p",
              "gmp-unified", "gmp-cagp-only", "gmp-igdm-only"]
TARGETS = ["D1", "D2", "D3"]
MODALITIES = ["video", "audio"]


def fake_heads(rng: np.random.Generator) -> dict:
    return {head: round(float(rng.uniform(30, 80)), 2) for head in ["fused", *MODALITIES]} | {"loss": 1.0}


def fake_summary(strategy: str, target: str, seed: int, rng: np.random.Generator) -> dict:
    return {"preset": "epic_kitchens", "dataset": "epic_kitchens", "strategy": strategy, "target_domain": target,
            "seed": seed, "config_hash": "0" * 8, "modalities": MODALITIES,
            "selection": {rule: {"epoch": 1, "val": fake_heads(rng), "target": fake_heads(rng)}
                          for rule in ("best-val", "last", "oracle")},
            "diagnostics": {"video/rho": float(rng.uniform(0.5, 2))} if strategy.startswith("gmp") else {}}


def write_fake_runs(root: Path, n: int) -> None:
    """n finished run folders: strategies × targets × as many seeds as it takes."""
    rng = np.random.default_rng(0)
    per_seed = len(STRATEGIES) * len(TARGETS)
    for i in range(n):
        seed, rest = divmod(i, per_seed)
        strategy, target = STRATEGIES[rest // len(TARGETS)], TARGETS[rest % len(TARGETS)]
        folder = root / run_name("epic_kitchens", strategy, target, seed, "0" * 8)
        folder.mkdir(parents=True)
        (folder / SUMMARY).write_text(json.dumps(fake_summary(strategy, target, seed, rng)))
        (folder / DONE).write_text("")


def bench_compare(n: int = 1000, repeats: int = 3) -> dict[str, float]:
    """Median seconds over n fake run folders: in process (collect + every table + Markdown), and
    the command a user types (`mmdg-bench compare DIR --format md`, start-up included)."""
    with tempfile.TemporaryDirectory(prefix="mmdg-compare-") as scratch:
        write_fake_runs(Path(scratch), n)

        def in_process():
            render_compare(collect(scratch), "best-val", "md", reference="paper")

        def command():
            run_command("compare", scratch, "--format", "md")

        return {what: median_seconds(action, repeats) for what, action in (("in process", in_process),
                                                                           ("command", command))}


if __name__ == "__main__":
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    print(f"compare over {runs} run folders: {bench_compare(runs)}")
