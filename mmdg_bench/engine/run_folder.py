"""A run folder per (preset, strategy, target, seed, config hash), DomainBed's pattern.

    config.yaml     the resolved config
    metrics.jsonl   one line per epoch: losses, every accuracy, strategy diagnostics
    summary.json    identifiers, model selections, clip counts (written atomically)
    done            written last: a folder without it is unfinished and is never read as a result
"""

import json
import os
import shutil
from pathlib import Path

import yaml

DONE = "done"
SUMMARY = "summary.json"
METRICS = "metrics.jsonl"
CONFIG = "config.yaml"


def run_name(preset: str, strategy: str, target: str, seed: int, config_hash: str) -> str:
    return f"{preset}__{strategy}__{target}__seed{seed}__{config_hash}"


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary sibling, then rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class RunFolder:
    def __init__(self, path: Path):
        self.path = Path(path)

    def is_done(self) -> bool:
        return (self.path / DONE).is_file()

    def start(self, config: dict) -> None:
        """Begin a fresh run: an unfinished earlier attempt in this folder is discarded."""
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)
        write_atomic(self.path / CONFIG, yaml.safe_dump(config, sort_keys=False))

    def metrics(self) -> list[dict]:
        path = self.path / METRICS
        return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []

    def keep_metrics(self, epochs: int) -> list[dict]:
        """Drop metric lines past `epochs` (written after the last checkpoint); returns those kept."""
        kept = self.metrics()[:epochs]
        write_atomic(self.path / METRICS, "".join(json.dumps(line) + "\n" for line in kept))
        return kept

    def append_metrics(self, line: dict) -> None:
        with open(self.path / METRICS, "a") as out:
            out.write(json.dumps(line) + "\n")

    def finish(self, summary: dict) -> None:
        write_atomic(self.path / SUMMARY, json.dumps(summary, indent=2))
        (self.path / DONE).write_text("")

    def summary(self) -> dict:
        return json.loads((self.path / SUMMARY).read_text())
