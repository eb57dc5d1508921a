"""`--logger wandb`: a Weights & Biases run in offline mode under <run>/logs/wandb (the config, every
metric by epoch, the summary's selections); `wandb sync <run>/logs/wandb/offline-run-*` uploads it."""

from pathlib import Path

from mmdg_bench.loggers.base import LOGGERS, LOGS, flat_metrics, require

PROJECT = "mmdg-bench"


@LOGGERS.register("wandb")
class WandbLogger:
    def __init__(self):
        self.wandb = require("wandb", "wandb", "wandb")

    def start(self, run_name: str, folder: Path, config: dict) -> None:
        self.run = self.wandb.init(mode="offline", dir=str(folder / LOGS), project=PROJECT, name=run_name,
                                   config=config, reinit="create_new",
                                   settings=self.wandb.Settings(silent=True, x_disable_stats=True))

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        self.run.log({"epoch": epoch, **metrics})

    def finish(self, summary: dict | None) -> None:
        if summary is not None:
            self.run.summary.update(flat_metrics({"selection": summary["selection"]}))
        self.run.finish(exit_code=0 if summary is not None else 1)
        # finish() can return before wandb's service process has written the run's file: stopping the
        # service waits for it (unless a run of the user's own still needs it, e.g. in a notebook).
        if self.wandb.run is None:
            self.wandb.teardown()
