"""The engine only loops: one (config, target domain) -> one run folder."""

from mmdg_bench.engine.train import RunResult, train_run

__all__ = ["RunResult", "train_run"]
