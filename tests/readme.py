"""The code blocks of the README and its docs/ pages, for the tests that execute them (the cookbook in
docs/extending.md, the notebook example in docs/commands.md)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_block(first_line_contains: str) -> str:
    """The one ```python block of README.md or a docs/ page whose first line contains the text."""
    blocks = [b for page in PAGES for b in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)]
    (block,) = [b for b in blocks if first_line_contains in b.splitlines()[0]]
    return block


def registered_name(block: str, registry: str = "STRATEGIES") -> str:
    return re.search(rf'{registry}\.register\(\s*"([^"]+)"', block).group(1)
