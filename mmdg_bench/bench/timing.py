"""How every benchmark times: the median over repeats, measured in one process tree on this machine."""

import statistics
import subprocess
import sys
import time


def median_seconds(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_command(*args: str) -> None:
    """The command as a user types it, imports and start-up included."""
    subprocess.run([sys.executable, "-m", "mmdg_bench", *args], check=True, stdout=subprocess.DEVNULL)
