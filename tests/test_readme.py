"""Every Python example in the README runs.

* A program (a block with ``asyncio.run(``) that listens is a server: it is started
  on a free port (the README's ``9000`` replaced), must accept connections, and is
  stopped by its PID after every client program has talked to it.
* A program that dials ``ws://127.0.0.1:9000`` is a client: it runs against each
  server example and must exit 0.
* Any other program runs on its own and must exit 0.
* A fragment (no ``asyncio.run(``) runs with ``peer``, ``client``, ``server`` and
  ``fn`` bound to real objects, top-level ``await`` allowed.
"""

from __future__ import annotations

import ast
import asyncio
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from browser_ocpp import OCPPClient, OCPPServer, RPCPeer
from browser_ocpp.emulator import Station

README = Path(__file__).parent.parent / "README.md"
README_PORT = "9000"
RUN_TIMEOUT = 60  # seconds per program


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def _programs() -> list[str]:
    return [block for block in _blocks() if "asyncio.run(" in block]


SERVERS = [p for p in _programs() if ".listen(" in p]
CLIENTS = [p for p in _programs() if p not in SERVERS and f":{README_PORT}" in p]
ALONE = [p for p in _programs() if p not in SERVERS and p not in CLIENTS]
FRAGMENTS = [block for block in _blocks() if "asyncio.run(" not in block]


def _id(block: str) -> str:
    lines = [line for line in block.splitlines() if line.strip() and "import" not in line]
    return lines[0][:40] if lines else "empty"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(program: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def test_the_readme_has_examples_of_each_kind() -> None:
    assert SERVERS and CLIENTS and ALONE and FRAGMENTS


@pytest.mark.parametrize("program", ALONE, ids=_id)
def test_program_runs(program: str) -> None:
    done = _run(program)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "an example should show what it did"


class Server:
    """A server example on a free port, stopped by its PID."""

    def __init__(self, program: str) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-c", program.replace(README_PORT, str(self.port))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + RUN_TIMEOUT
        while not self._accepts():
            assert self.process.poll() is None, self.stop()
            assert time.monotonic() < deadline, "the server example never listened"
            time.sleep(0.05)  # polling a port that is not open yet: bounded by the deadline

    def _accepts(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> str:
        self.process.kill()
        out, err = self.process.communicate(timeout=RUN_TIMEOUT)
        return out + err


@pytest.fixture(params=SERVERS, ids=_id)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    running = Server(request.param)
    yield running
    running.stop()


@pytest.mark.parametrize("client", CLIENTS, ids=_id)
def test_client_talks_to_the_server(server: Server, client: str) -> None:
    done = _run(client.replace(README_PORT, str(server.port)))
    assert done.returncode == 0, done.stderr
    assert "Accepted" in done.stdout
    output = server.stop()
    assert "connected:" in output


async def _run_fragment(fragment: str) -> None:
    code = compile(fragment, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict[str, Any] = {
        "peer": RPCPeer(),
        "client": OCPPClient(identity="CP-1", endpoint="ws://127.0.0.1:9"),
        "server": OCPPServer(),
        "fn": lambda ctx: {},
        "station": Station(OCPPClient(identity="CP-2", endpoint="ws://127.0.0.1:9")),
    }
    result = eval(code, namespace)
    if asyncio.iscoroutine(result):
        await result


@pytest.mark.parametrize("fragment", FRAGMENTS, ids=_id)
async def test_fragment_runs(fragment: str) -> None:
    await _run_fragment(fragment)
