"""The package's imports run one way: every module sits on a floor of docs/layout.md and imports only
from lower floors (or from its own package); no files import each other in a circle. Imports inside
functions count as much as those at the top."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mmdg_bench"


def floors() -> dict[str, int]:
    """Unit (a module or package of mmdg_bench, e.g. "models" or "config") -> its floor."""
    table = {}
    for line in (ROOT / "docs" / "layout.md").read_text().splitlines():
        match = re.match(r"\| (\d+) \| (.+?) \|", line)
        if match:
            for unit in re.findall(r"`([\w/]+)`", match.group(2)):
                table[unit.rstrip("/")] = int(match.group(1))
    return table


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def imported(path: Path, known: dict[str, Path]) -> set[str]:
    """The mmdg_bench modules that `path` imports, wherever the import stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in known else node.module
                     for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in known}
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(path, known) - {name} for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_floor():
    table = floors()
    unplaced = sorted({unit_of(m) for m in modules()} - set(table) - {""})
    assert not unplaced, f"modules without a floor in docs/layout.md: {unplaced}"


def test_imports_only_run_downward():
    table = floors()
    upward = [f"{source} (floor {table[unit_of(source)]}) imports {target} (floor {table[unit_of(target)]})"
              for source, targets in graph().items() if unit_of(source)
              for target in sorted(targets)
              if unit_of(target) and unit_of(target) != unit_of(source)
              and table[unit_of(target)] >= table[unit_of(source)]]
    assert not upward, "imports that do not run downward:\n" + "\n".join(upward)


def test_no_import_circles():
    assert not cycles(graph()), f"files that import each other in a circle: {cycles(graph())}"


def test_the_checks_catch_an_upward_import_and_a_circle():
    # Guards the walker itself: a made-up graph with one circle and one upward import.
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    table = floors()
    assert table["errors"] < table["settings"] < table["config"] < table["engine"] < table["cli"]
    assert "mmdg_bench.settings" in imported(PACKAGE / "config.py", modules())
