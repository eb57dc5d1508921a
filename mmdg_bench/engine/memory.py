"""Peak memory of one piece of work (a run, a strategy's bench steps), not of the whole process.

A sweep worker trains run after run in one process, and the step bench times strategy after strategy:
a process-wide high-water mark would only grow from one to the next. So `reset` starts a fresh peak:
CUDA's peak allocation statistics on a GPU, and on Linux the resident high-water mark (VmHWM in
/proc/self/status, reset by writing 5 to /proc/self/clear_refs). Where the kernel refuses that
reset, the process's peak (ru_maxrss) is reported under its own name, `process_peak_rss_mib`.
"""

import resource
from pathlib import Path

import torch

CLEAR_REFS = Path("/proc/self/clear_refs")
STATUS = Path("/proc/self/status")


def resident_high_water_mib() -> float | None:
    """VmHWM, the resident high-water mark since the process started or since its last reset (Linux)."""
    try:
        line = next((x for x in STATUS.read_text().splitlines() if x.startswith("VmHWM")), None)
    except OSError:
        return None
    return int(line.split()[1]) / 1024 if line else None


class PeakMemory:
    """Peak memory of what runs between `reset` and `read`, MiB: allocated on a GPU, resident on Linux."""

    def __init__(self, device: str):
        self.device = device
        self.rss_reset = False  # whether the resident high-water mark was reset: the RSS peak is the work's own

    def reset(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats(self.device)
        try:
            CLEAR_REFS.write_text("5")  # 5: reset VmHWM to the current resident size; nothing else
            self.rss_reset = True
        except OSError:
            self.rss_reset = False

    def gpu_mib(self) -> float | None:
        return torch.cuda.max_memory_allocated(self.device) / 2**20 if self.device.startswith("cuda") else None

    def rss_mib(self) -> float | None:
        """The resident peak since `reset` (None where it could not be reset)."""
        return resident_high_water_mib() if self.rss_reset else None

    def read(self) -> float | None:
        """The peak that bounds this device: GPU allocation on a GPU, else resident memory."""
        return self.gpu_mib() if self.device.startswith("cuda") else self.rss_mib()

    def summary(self) -> dict[str, float]:
        """A run's `memory` record: `rss_mib` (resident peak since the reset; the process's own peak,
        labelled `process_peak_rss_mib`, where it could not be reset) and on a GPU `gpu_allocated_mib`."""
        rss = self.rss_mib()
        if rss is not None:
            peak = {"rss_mib": round(rss, 1)}
        else:
            peak = {"process_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
        gpu = self.gpu_mib()
        if gpu is not None:
            peak["gpu_allocated_mib"] = round(gpu, 1)
        return peak
