"""The README's runnable examples run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def _examples() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return [block for block in blocks if "asyncio.run(" in block]


def test_readme_has_runnable_examples() -> None:
    assert _examples()


def test_engine_example_prints_the_boot_response() -> None:
    example = next(block for block in _examples() if "memory_pair" in block)
    out = subprocess.run(
        [sys.executable, "-c", example], capture_output=True, text=True, timeout=60, check=True
    )
    assert "'status': 'Accepted'" in out.stdout
