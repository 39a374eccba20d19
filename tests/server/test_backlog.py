"""Memory bounds on what the server has yet to send, against raw clients that send
pings (or anything else) and never read what comes back."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

from websockets.frames import Frame, Opcode

from browser_ocpp import OCPPServer, OCPPServerClient

from ..peer.conftest import wait
from .conftest import BOOT16, BOOT_OK, ClientFactory, ServerFactory
from .test_transport import upgrade_request

MiB = 1024 * 1024
CONNECTION_LIMIT = 4 * MiB
"""Unsent bytes one connection may hold (transport.BACKLOG_LIMIT)."""
READ_SLACK = 512 * 1024
"""What one read of the socket can add before the check that follows it."""
PINGS = b"".join(
    Frame(Opcode.PING, b"p" * 125).serialize(mask=True, extensions=[]) for _ in range(1000)
)
"""1,000 pings of the largest size, 131 KB: each is answered with a 127-byte pong."""


async def flooder(port: int, identity: str = "CP-1") -> socket.socket:
    """A station that completed the upgrade and will never read again (its receive
    buffer is small, so the server's buffer fills quickly)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await wait(loop.sock_connect(sock, ("127.0.0.1", port)))
    request = upgrade_request(port).replace(b"/ocpp/CP-1", f"/ocpp/{identity}".encode())
    await wait(loop.sock_sendall(sock, request))
    head = b""
    while not head.endswith(b"\r\n\r\n"):  # byte by byte: nothing after the head is read
        head += await wait(loop.sock_recv(sock, 1))
    assert head.startswith(b"HTTP/1.1 101")
    return sock


async def flood(sock: socket.socket, total: int) -> int:
    """Send pings until ``total`` bytes went out or the server dropped us."""
    loop = asyncio.get_running_loop()
    sent = 0
    with contextlib.suppress(ConnectionError):
        while sent < total:
            await loop.sock_sendall(sock, PINGS)
            sent += len(PINGS)
    return sent


@contextlib.asynccontextmanager
async def peak_buffered(server: OCPPServer) -> AsyncIterator[list[int]]:
    """Samples the bytes the server holds unsent, over all connections, every loop
    turn; yields a one-item list holding the peak seen."""
    peak = [0]

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], server.stats()["web_sockets"]["buffered_amount"])
            await asyncio.sleep(0)

    sampler = asyncio.ensure_future(sample())
    try:
        yield peak
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler


class Closes(dict[str, Any]):
    """identity -> close event of each station of ``server``, filled as they close."""

    def __init__(self, server: OCPPServer) -> None:
        super().__init__()
        self._changed = asyncio.Event()
        server.on("client", self._watch)

    def _watch(self, client: OCPPServerClient) -> None:
        client.on("close", lambda event: self._add(client.identity, event))

    def _add(self, identity: str, event: Any) -> None:
        self.setdefault(identity, event)
        self._changed.set()

    async def wait_len(self, count: int) -> None:
        while len(self) < count:
            self._changed.clear()
            await self._changed.wait()


async def test_a_ping_flood_that_reads_nothing_is_dropped_at_the_limit(
    make_server: ServerFactory,
) -> None:
    """Pongs count like replies: a station that pings without reading the pongs is
    dropped (1008) once 4 MiB wait for it, instead of growing the server's memory."""
    server = await make_server()
    closed = Closes(server)
    sock = await flooder(server.port)
    try:
        async with peak_buffered(server) as peak:
            sent = await wait(flood(sock, 48 * MiB), 60)
            await wait(closed.wait_len(1))
    finally:
        sock.close()
    event = closed["CP-1"]
    assert (event.code, event.reason) == (1008, "sent frames are not being read")
    assert peak[0] <= CONNECTION_LIMIT + READ_SLACK
    assert sent < 48 * MiB  # dropped long before the flood ended


async def test_flooders_together_are_held_to_the_server_wide_budget(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    """Each flooder stays under the per-connection limit, but together they pass
    max_buffered_bytes: the ones holding the most are dropped, a reading station
    keeps working."""
    budget = 2 * MiB
    server = await make_server(max_buffered_bytes=budget)
    closed = Closes(server)
    station = make_client(server, identity="READER")
    await wait(station.connect())
    socks = [await flooder(server.port, f"F-{i}") for i in range(4)]
    try:
        async with peak_buffered(server) as peak:
            await wait(asyncio.gather(*(flood(sock, 6 * MiB) for sock in socks)), 60)
            await wait(closed.wait_len(2))
    finally:
        for sock in socks:
            sock.close()
    reasons = {(event.code, event.reason) for event in closed.values()}
    assert reasons == {(1008, "server send buffers are full")}
    assert peak[0] <= budget + 2 * READ_SLACK
    assert peak[0] < CONNECTION_LIMIT  # the budget acted, not the per-connection limit
    assert "READER" not in closed
    assert await wait(station.call("BootNotification", BOOT16)) == BOOT_OK
