"""One small decorator registry, used for strategies, methods, fusions, datasets, encoders and loggers
(timm's pattern).

An entry registers with its facts (`**facts`: e.g. a strategy's family, its paper row and ablation
block, display order and colour), checked against the registry's typed record (mmdg_bench/facts.py),
so that tables, plots and run summaries read them instead of guessing from names.
"""

import fnmatch
import importlib
import pkgutil
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from mmdg_bench.errors import unknown

T = TypeVar("T")
# A name becomes part of run folder names (<preset>__<method>+<strategy>__...) and of file names.
NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]|_(?!_))*")


class Registry(Generic[T]):
    def __init__(self, kind: str, facts: type | None = None):
        self.kind = kind
        self.facts_type = facts  # the typed record of an entry's facts; None: any keywords
        self._entries: dict[str, T] = {}
        self._info: dict[str, Any] = {}

    def register(self, name: str, *, replace: bool = False, **facts: Any) -> Callable[[T], T]:
        """A decorator that registers an entry with its facts. A fact the record does not have, or of the
        wrong type, is a TypeError, and a name a folder cannot hold a ValueError (a plugin's mistake
        fails at its import, in one sentence); an entry already registered under `name` is replaced
        only with `replace=True`."""
        if not (isinstance(name, str) and NAME.fullmatch(name)):
            raise ValueError(f"{self.kind} name {name!r} must be letters, digits, '.', '-' and single '_' "
                             f"(it becomes part of run folder names)")
        record = self.facts_type(**facts) if self.facts_type is not None else dict(facts)

        def add(entry: T) -> T:
            if name in self._entries and not replace:
                raise ValueError(f"{self.kind} '{name}' is already registered; register yours under another "
                                 f"name, or with replace=True to replace it")
            self._entries[name] = entry
            self._info[name] = record
            return entry

        return add

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise unknown(self.kind, name, self._entries)
        return self._entries[name]

    def info(self, name: str) -> dict[str, Any]:
        """The facts `name` registered with, as a dict (what a run's summary.json records)."""
        self.get(name)
        record = self._info[name]
        return record.given() if self.facts_type is not None else dict(record)

    def facts(self, name: str):
        """The typed record of `name`'s facts (unset fields None)."""
        self.get(name)
        return self._info[name]

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
