"""One small decorator registry, used for strategies, datasets and encoders (timm's pattern).

An entry registers with its facts (`**info`: e.g. a strategy's family, its paper row and ablation
block, display order and colour), so that tables, plots and run summaries read them instead of
guessing from names.
"""

import fnmatch
import importlib
import pkgutil
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from mmdg_bench.errors import unknown

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._info: dict[str, dict[str, Any]] = {}

    def register(self, name: str, **info: Any) -> Callable[[T], T]:
        def add(entry: T) -> T:
            if name in self._entries:
                warnings.warn(f"{self.kind} '{name}' registered twice; the later one wins", stacklevel=2)
            self._entries[name] = entry
            self._info[name] = dict(info)
            return entry

        return add

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise unknown(self.kind, name, self._entries)
        return self._entries[name]

    def info(self, name: str) -> dict[str, Any]:
        """The facts `name` registered with (a copy)."""
        self.get(name)
        return dict(self._info[name])

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    @contextmanager
    def scoped(self) -> Iterator["Registry[T]"]:
        """Registrations made inside the block are undone when it ends (test-only entries, a plugin
        tried out in a notebook): `with STRATEGIES.scoped(): STRATEGIES.register("x")(X)`. A plugin
        module is imported once per process, so one loaded inside the block is gone for good after it."""
        entries, info = dict(self._entries), dict(self._info)
        try:
            yield self
        finally:
            self._entries, self._info = entries, info


def import_submodules(package: str) -> None:
    """Import every module of `package`, so that its registrations run (no hand-kept import list)."""
    module = importlib.import_module(package)
    for found in pkgutil.iter_modules(module.__path__):
        importlib.import_module(f"{package}.{found.name}")
