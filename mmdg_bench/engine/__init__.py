"""The engine only loops: one (config, target domain) -> one run folder."""

__all__ = ["RunResult", "train_run"]


def __getattr__(name: str):
    # Lazy (PEP 562): `compare` reads run folders without paying for torch's import.
    if name in __all__:
        from mmdg_bench.engine import train

        return getattr(train, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
