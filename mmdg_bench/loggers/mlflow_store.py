"""`--logger mlflow`: an MLflow run in a local file store, <run>/logs/mlruns (or wherever
MLFLOW_TRACKING_URI points), experiment "mmdg-bench": the flat config as parameters, every metric by
epoch, config.yaml and summary.json as artifacts. `mlflow ui --backend-store-uri <run>/logs/mlruns`.
An interrupted training leaves its MLflow run KILLED; resuming it continues that run."""

import os
import time
from pathlib import Path

from mmdg_bench.loggers.base import LOGGERS, LOGS, flat_config, require

STORE = "mlruns"
EXPERIMENT = "mmdg-bench"
BATCH = 100  # MLflow's limit on parameters per log_batch call
FOLDER_TAG = "mmdg_bench.folder"  # the run folder an MLflow run logs: a resume finds its run by it


@LOGGERS.register("mlflow")
class MLflowLogger:
    def __init__(self):
        require("mlflow", "mlflow", "mlflow")

    def start(self, run_name: str, folder: Path, config: dict) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            uri = (folder / LOGS / STORE).resolve().as_uri()
            # MLflow 3 keeps its file store in maintenance mode, behind this opt-in: a local store
            # needs no database package (mlflow-skinny has none).
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=uri)
        found = self.client.get_experiment_by_name(EXPERIMENT)
        experiment = found.experiment_id if found else self.client.create_experiment(EXPERIMENT)
        interrupted = self.interrupted_run(experiment, folder)
        if interrupted:  # a resumed training continues its MLflow run (its parameters are there already)
            self.run_id = interrupted
            self.client.update_run(self.run_id, status="RUNNING")
            return
        self.run_id = self.client.create_run(experiment, run_name=run_name, tags={FOLDER_TAG: str(folder)}).info.run_id
        params = [Param(key, value[:6000]) for key, value in flat_config(config).items()]
        for i in range(0, len(params), BATCH):
            self.client.log_batch(self.run_id, params=params[i:i + BATCH])
        self.client.log_dict(self.run_id, config, "config.yaml")

    def interrupted_run(self, experiment: str, folder: Path) -> str | None:
        """The newest MLflow run that an interrupted training of `folder` left (status KILLED, as
        `finish(None)` leaves it), if any."""
        runs = self.client.search_runs([experiment], filter_string="attributes.status = 'KILLED'",
                                       order_by=["attributes.start_time DESC"])
        return next((run.info.run_id for run in runs if run.data.tags.get(FOLDER_TAG) == str(folder)), None)

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(key, value, now, epoch) for key, value in metrics.items()])

    def finish(self, summary: dict | None) -> None:
        if summary is not None:
            self.client.log_dict(self.run_id, summary, "summary.json")
        self.client.set_terminated(self.run_id, "FINISHED" if summary is not None else "KILLED")
