"""`--logger tensorboard`: event files in <run>/logs/tensorboard (every metric as a scalar by epoch,
the config and the summary as text); `tensorboard --logdir results/runs` shows every run."""

import json
from pathlib import Path

import yaml

from mmdg_bench.loggers.base import LOGGERS, LOGS, require

FOLDER = "tensorboard"


@LOGGERS.register("tensorboard")
class TensorBoardLogger:
    def __init__(self):
        require("tensorboard", "tensorboard", "tensorboard")

    def start(self, run_name: str, folder: Path, config: dict) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(folder / LOGS / FOLDER))
        self.writer.add_text("config", f"```\n{yaml.safe_dump(config, sort_keys=False)}```")

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, epoch)
        self.writer.flush()

    def finish(self, summary: dict | None) -> None:
        if summary is not None:
            self.writer.add_text("summary", f"```\n{json.dumps(summary.get('selection'), indent=1)}\n```")
        self.writer.close()
