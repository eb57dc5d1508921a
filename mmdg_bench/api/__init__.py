"""The benchmark as Python functions, for notebooks and scripts: each `mmdg-bench` command is the
function of the same name (`data index` -> `data_index`) with the same options, returning run
folders, pandas DataFrames or reports instead of printing (the CLI, mmdg_bench/cli/, prints them).

    from mmdg_bench import api
    runs = api.run(strategy="gmp", targets=["day"], overrides=["optim.epochs=4"], out="results/nb")
    api.sweep(strategies=["baseline", "gmp"], seeds="0-1", out="results/nb", jobs=2)
    tables = api.compare("results/nb")       # {table title: DataFrame}, as `compare` prints them
    tables["Fused target accuracy (%) (Table 2 layout)"]

Each function lives in the module of its command group (runs, sweeps, results, evaluation, catalogue,
data, features, weights, benchmarks) and is imported on first use, so `compare` never imports torch.
"""

import importlib

MODULES = {
    "runs": ["run"],
    "sweeps": ["sweep", "sweep_status"],
    "results": ["compare", "plot"],
    "reports": ["report"],
    "evaluation": ["evaluate"],
    "catalogue": ["strategies", "methods", "presets", "presets_show", "presets_copy", "presets_validate"],
    "data": ["data_synth", "data_index", "data_verify", "data_extract_audio", "data_download"],
    "features": ["features_build", "features_verify"],
    "weights": ["weights_list", "weights_download", "weights_check"],
    "benchmarks": ["bench"],
}
__all__ = sorted(name for names in MODULES.values() for name in names)
MODULE_OF = {name: module for module, names in MODULES.items() for name in names}


def __getattr__(name: str):
    # PEP 562: the function's module is imported when the function is first asked for.
    if name in MODULE_OF:
        return getattr(importlib.import_module(f"{__name__}.{MODULE_OF[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return [*globals(), *__all__]
