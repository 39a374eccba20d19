"""Accepting at the file-descriptor limit: a server in a subprocess with a low
RLIMIT_NOFILE, and more connections than it can hold."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path

import pytest

from browser_ocpp import OCPPServer

from ..peer.conftest import wait
from .conftest import BOOT16, BOOT_OK, ClientFactory, boot_handlers

resource = pytest.importorskip("resource")

ROOT = Path(__file__).resolve().parents[2]
FILE_LIMIT = 64
SERVER = """
import asyncio, json, logging, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), hard))
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
logging.getLogger("websockets").setLevel(logging.WARNING)
from browser_ocpp import OCPPServer

BOOT_OK = json.loads(sys.argv[2])


async def main():
    server = OCPPServer(protocols=["ocpp1.6"])
    server.on("client", lambda client: client.handle("BootNotification", lambda ctx: BOOT_OK))
    print(await server.listen(0), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.readline():  # each line: report the CPU time used so far
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(json.dumps(usage.ru_utime + usage.ru_stime), flush=True)
    await server.close()


asyncio.run(main())
"""


async def test_at_the_file_limit_accepting_backs_off_quietly(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    """asyncio logs a traceback per failed accept() and multiplies its retries (some
    4,000 tracebacks in 6 s, and a busy core); the server pauses accepting instead,
    logs the limit once, and accepts again once files are free."""
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as stderr:
        server = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            SERVER,
            str(FILE_LIMIT),
            json.dumps(BOOT_OK),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            cwd=ROOT,
        )
    assert server.stdin is not None and server.stdout is not None
    socks: list[socket.socket] = []

    async def cpu() -> float:
        server.stdin.write(b"cpu\n")  # type: ignore[union-attr]
        return float(await wait(server.stdout.readline()))  # type: ignore[union-attr]

    try:
        port = int(await wait(server.stdout.readline(), 10))
        before = await cpu()
        for _ in range(3 * FILE_LIMIT):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            socks.append(sock)
        await asyncio.sleep(2.0)
        busy = await cpu() - before
        for sock in socks:
            sock.close()
        socks.clear()
        station = make_client(f"ws://127.0.0.1:{port}/ocpp", reconnect=False)
        await wait(station.connect(), 10)  # files are free again: accepted
        assert await wait(station.call("BootNotification", BOOT16)) == BOOT_OK
        await station.close()
    finally:
        for sock in socks:
            sock.close()
        server.stdin.close()
        await wait(server.wait(), 10)
    log = errors.read_text().splitlines()
    assert not [line for line in log if "out of system resource" in line], log[:20]
    assert not [line for line in log if line.startswith("asyncio")], log[:20]
    limit = [line for line in log if "file descriptor limit" in line]
    assert 1 <= len(limit) <= 2, log
    assert busy < 0.5, f"{busy:.2f} s of CPU in 2 s at the limit"


@pytest.mark.parametrize("host", ["", "127.0.0.1", "::1", "localhost"])
async def test_listen_binds_as_asyncio_would(make_client: ClientFactory, host: str) -> None:
    """Our own listening socket: "" is every interface (IPv4 and IPv6), an address is
    itself, and a name with several addresses is left to asyncio (a socket each)."""
    assert socket.has_ipv6, "these tests bind ::1"
    server = OCPPServer(protocols=["ocpp1.6"])
    server.on("client", boot_handlers)
    port = await server.listen(0, host)
    try:
        targets = {"": ["127.0.0.1", "[::1]"], "127.0.0.1": ["127.0.0.1"], "::1": ["[::1]"]}
        for number, target in enumerate(targets.get(host, ["localhost"])):
            station = make_client(f"ws://{target}:{port}/ocpp", identity=f"CP-{number}")
            await wait(station.connect())
            assert await wait(station.call("BootNotification", BOOT16)) == BOOT_OK
    finally:
        await server.close()


@pytest.mark.parametrize("host", ["", "127.0.0.1"])
async def test_accepted_connections_send_without_delay(
    make_client: ClientFactory, host: str
) -> None:
    """TCP_NODELAY on every station's socket, as asyncio sets it on the sockets it
    accepts for itself: without it Nagle holds a reply back until the station's next
    frame acknowledges the one before (2 ms late at 500 calls a second)."""
    server = OCPPServer(protocols=["ocpp1.6"])
    server.on("client", boot_handlers)
    port = await server.listen(0, host)
    try:
        station = make_client(f"ws://127.0.0.1:{port}/ocpp", identity="CP-FAST")
        await wait(station.connect())
        connection = server.clients["CP-FAST"]._transport.connection  # type: ignore[union-attr]
        sock = connection.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        await server.close()
