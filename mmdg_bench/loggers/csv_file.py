"""`--logger csv`: <run>/logs/metrics.csv, one row per epoch, one column per metric (the header
widens when a diagnostic first appears later). Needs nothing beyond the standard library."""

import csv
import io
from pathlib import Path

from mmdg_bench.files import write_text_atomically
from mmdg_bench.loggers.base import LOGGERS, LOGS

FILE = "metrics.csv"


@LOGGERS.register("csv")
class CSVLogger:
    def start(self, run_name: str, folder: Path, config: dict) -> None:
        self.path = folder / LOGS / FILE
        self.rows = list(csv.DictReader(io.StringIO(self.path.read_text()))) if self.path.is_file() else []

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        # A resumed run repeats the epochs after its checkpoint: their earlier rows are dropped.
        self.rows = [row for row in self.rows if int(row["epoch"]) < epoch] + [{"epoch": epoch, **metrics}]
        columns = list(dict.fromkeys(key for row in self.rows for key in row))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomically(self.path, out.getvalue())

    def finish(self, summary: dict | None) -> None:
        pass
