"""Plugins: a user's own strategies, methods, encoders, datasets or loggers, from outside the package.

A plugin is a Python module whose import registers entries (`@STRATEGIES.register("mine", ...)`).
It is named by a `.py` path or a dotted module name, on the command line (`mmdg-bench --plugin
my_strategy.py run ...`, repeatable) or in a preset (`plugins: [my_strategy.py]`, a relative path
read from the preset's folder), or installed as an entry point of the group `mmdg_bench.plugins`
(every one installed is loaded):

    [project.entry-points."mmdg_bench.plugins"]
    my_strategies = "my_package.strategies"

Plugins are loaded before a config is resolved, so their names are known to `--strategy`, `--set`
and the preset's sections; sweep workers and Slurm jobs load them again (they are in the run's config).
"""

import hashlib
import importlib
import importlib.util
import sys
from importlib.metadata import entry_points
from pathlib import Path

from mmdg_bench.errors import UserError

ENTRY_POINT_GROUP = "mmdg_bench.plugins"
_loaded: set[str] = set()  # resolved plugin names already imported in this process
_files: set[str] = set()  # the source files of the plugins imported: an error raised in one is the plugin's


def is_path(plugin: str) -> bool:
    return plugin.endswith(".py") or "/" in plugin or "\\" in plugin


def resolve_plugin(plugin: str, base: Path | None = None) -> str:
    """A `.py` path made absolute (relative to `base`, else the working folder), so that a worker or
    a job started elsewhere finds it; a module name as it is."""
    if not is_path(plugin):
        return plugin
    path = Path(plugin).expanduser()
    return str((Path(base or Path.cwd()) / path).resolve() if not path.is_absolute() else path)


def _import_path(path: Path):
    if not path.is_file():
        raise UserError(f"plugin file {path} does not exist; check the --plugin path")
    # A name unique to the file, so two plugins both called strategy.py do not collide.
    name = f"mmdg_bench_plugin_{path.stem}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _failure(what: str, err: BaseException) -> UserError:
    reason = str(err).splitlines()[0] if str(err) else ""
    return UserError(f"plugin {what} could not be imported ({type(err).__name__}: {reason}); fix it or leave it out")


def load_plugin(plugin: str) -> None:
    """Import one plugin (a `.py` path or a module name) once per process; a failure is one sentence."""
    resolved = resolve_plugin(plugin)
    if resolved in _loaded:
        return
    try:
        module = _import_path(Path(resolved)) if is_path(resolved) else importlib.import_module(resolved)
    except UserError:
        raise
    except ModuleNotFoundError as err:
        if err.name == resolved:
            raise UserError(f"plugin module '{resolved}' is not installed or not on the Python path; "
                            f"give a .py path or install it") from None
        raise _failure(f"'{plugin}'", err) from None
    except (Exception, SystemExit) as err:  # the user's code: any error (or exit) it raises while importing
        raise _failure(f"'{plugin}'", err) from None
    _loaded.add(resolved)
    _remember(module)


def _remember(module) -> None:
    """Note the plugin's source files (a package's whole folder), to tell its errors from ours."""
    source = getattr(module, "__file__", None)
    if source:
        folder = Path(source).parent
        _files.update(str(p) for p in (folder.rglob("*.py") if Path(source).name == "__init__.py" else [source]))


def plugin_files() -> set[str]:
    """The source files of every plugin imported in this process."""
    return set(_files)


def load_entry_points() -> None:
    """Import every installed entry point of the group `mmdg_bench.plugins`, once per process (the
    installed packages are scanned once: a sweep resolves a config per run)."""
    if ENTRY_POINT_GROUP in _loaded:
        return
    for point in entry_points(group=ENTRY_POINT_GROUP):
        key = f"entry-point:{point.value}"
        if key in _loaded:
            continue
        try:
            point.load()
        except (Exception, SystemExit) as err:
            raise _failure(f"'{point.name}' (entry point {point.value} of {ENTRY_POINT_GROUP})", err) from None
        _loaded.add(key)
        _remember(importlib.import_module(point.module))
    _loaded.add(ENTRY_POINT_GROUP)


def load_plugins(plugins=()) -> None:
    """The installed entry points, then `plugins` in order."""
    load_entry_points()
    for plugin in plugins:
        load_plugin(plugin)
