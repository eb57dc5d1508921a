"""The pipeline on the synth preset, as a user meets it: generating the set, one run, every run
(`mmdg-bench bench --part pipeline`).

    mmdg-bench bench --part pipeline --repeats 3
"""

import os
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mmdg_bench.bench.timing import median_seconds, run_command
from mmdg_bench.config import load_config
from mmdg_bench.data.synthetic import ensure_generated, generate


def bench_pipeline(console: Console, repeats: int) -> None:
    config = load_config("synth")
    ensure_generated(config.data.synth)
    scratch = Path(tempfile.mkdtemp(prefix="mmdg-bench-"))
    try:
        def generate_fresh():
            target = scratch / f"synth-{time.perf_counter_ns()}"
            generate(config.data.synth, target)
            shutil.rmtree(target)

        out = str(scratch / "runs")
        first = config.data.synth.domains[0]
        rows = [
            ("generate the synthetic set", median_seconds(generate_fresh, repeats), 30),
            (f"`mmdg-bench run --target {first}` (data generated)",
             median_seconds(lambda: run_command("run", "--target", first, "--out", out, "--force"), repeats), 60),
            ("`mmdg-bench run` (all 3 held-out domains)",
             median_seconds(lambda: run_command("run", "--out", out, "--force"), repeats), 180),
        ]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    table = Table(title=f"Pipeline speed on the synth preset ({os.cpu_count()} CPUs, median of {repeats})")
    for column in ("what", "seconds", "target s"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for what, seconds, target in rows:
        table.add_row(what, f"{seconds:.1f}", f"<= {target}")
    console.print(table)
