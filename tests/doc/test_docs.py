"""The docs cover what exists: every command and option of the CLI is on docs/commands.md, in its
command's section; every registered strategy, method and encoder is named in README.md or docs/."""

import re
from pathlib import Path

import pytest
import typer

from mmdg_bench.cli import app
from mmdg_bench.methods import METHODS
from mmdg_bench.models import ENCODERS
from mmdg_bench.strategies import STRATEGIES

ROOT = Path(__file__).resolve().parents[2]
COMMANDS_PAGE = ROOT / "docs" / "commands.md"


def commands(group=None, path=()) -> dict[tuple[str, ...], object]:
    """Every command of the CLI by its words (("data", "index"): its click command), groups included."""
    group = group or typer.main.get_command(app)
    found = {}
    for name, command in group.commands.items():
        found[(*path, name)] = command
        if hasattr(command, "commands"):
            found.update(commands(command, (*path, name)))
    return found


def options(command) -> list[str]:
    return [opt for param in command.params for opt in getattr(param, "opts", []) if opt.startswith("--")]


def section(text: str, word: str) -> str:
    """The text of the `## ` section whose heading names `word`, up to the next `## ` heading."""
    parts = re.split(r"^## ", text, flags=re.M)
    found = [part for part in parts[1:] if re.search(rf"\b{re.escape(word)}\b", part.splitlines()[0])]
    assert found, f"docs/commands.md has no section for `{word}`"
    return found[0]


@pytest.mark.parametrize("path", sorted(commands()), ids=" ".join)
def test_every_command_and_option_is_on_the_commands_page(path):
    text = COMMANDS_PAGE.read_text()
    assert f"mmdg-bench {' '.join(path)}" in text, f"no usage line for `mmdg-bench {' '.join(path)}`"
    shown = section(text, path[0])
    missing = [opt for opt in options(commands()[path]) if opt not in shown]
    assert not missing, f"options of `{' '.join(path)}` not in its section of docs/commands.md: {missing}"


def test_the_global_options_are_on_the_commands_page():
    text = COMMANDS_PAGE.read_text()
    assert all(opt in text for opt in options(typer.main.get_command(app)))


@pytest.mark.parametrize("registry", [STRATEGIES, METHODS, ENCODERS], ids=lambda r: r.kind)
def test_every_registered_name_is_in_the_docs(registry):
    text = "\n".join(page.read_text() for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
    missing = [name for name in registry.names() if f"`{name}`" not in text]
    assert not missing, f"registered {registry.kind} names the docs never mention: {missing}"


def test_every_relative_link_of_the_readme_and_the_docs_leads_to_a_file():
    """The README once said "see the cookbook" with nothing there."""
    from tests.readme import PAGES

    dead = [(page.name, target) for page in PAGES
            for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text())
            if not target.startswith(("http://", "https://")) and not (page.parent / target).exists()]
    assert not dead, f"links to nothing: {dead}"
