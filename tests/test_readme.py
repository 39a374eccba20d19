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


def test_csms_example_registers_its_decorated_listener() -> None:
    """The CSMS example (``@server.on("client")``), with a station dialling it
    instead of waiting forever."""
    example = next(block for block in _examples() if '@server.on("client")' in block)
    station = """
    from browser_ocpp import OCPPClient
    client = OCPPClient(identity="CP-1", endpoint=f"ws://127.0.0.1:{server.port}",
                        protocols=["ocpp1.6"])
    await client.connect()
    print(await client.call("BootNotification",
                            {"chargePointVendor": "ACME", "chargePointModel": "One"}))
    await client.close()
    await server.close()
"""
    assert "server.listen(9000)" in example and "await asyncio.Event().wait()\n" in example
    example = example.replace("server.listen(9000)", "server.listen(0)")
    example = example.replace("    await asyncio.Event().wait()\n", station)
    out = subprocess.run(
        [sys.executable, "-c", example], capture_output=True, text=True, timeout=60, check=True
    )
    assert "connected: CP-1 ocpp1.6" in out.stdout
    assert "'status': 'Accepted'" in out.stdout
