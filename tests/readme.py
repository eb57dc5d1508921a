"""The README's code blocks, for the tests that execute them (the cookbook, the notebook example)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block(first_line_contains: str) -> str:
    """The ```python block of README.md whose first line contains the text."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (block,) = [b for b in blocks if first_line_contains in b.splitlines()[0]]
    return block


def registered_name(block: str, registry: str = "STRATEGIES") -> str:
    return re.search(rf'{registry}\.register\(\s*"([^"]+)"', block).group(1)
