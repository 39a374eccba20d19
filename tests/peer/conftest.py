"""Peers wired through in-memory transports, and a hub that in-memory clients dial."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from browser_ocpp.peer import RPCClient, RPCPeer, memory_pair
from browser_ocpp.peer.transport import MemoryTransport

PairFactory = Callable[..., Awaitable[tuple[RPCPeer, RPCPeer]]]


def wire(a: RPCPeer, b: RPCPeer, protocol: str | None) -> tuple[MemoryTransport, MemoryTransport]:
    left, right = memory_pair()
    a.attach(left, protocol)
    b.attach(right, protocol)
    left.start(a)
    right.start(b)
    return left, right


@pytest.fixture
async def pair() -> AsyncIterator[PairFactory]:
    """``await pair(protocol, a_options, b_options)``: two connected peers."""
    made: list[RPCPeer] = []

    async def make(
        protocol: str | None = "ocpp2.0.1",
        a: dict[str, Any] | None = None,
        b: dict[str, Any] | None = None,
    ) -> tuple[RPCPeer, RPCPeer]:
        left, right = RPCPeer(**(a or {})), RPCPeer(**(b or {}))
        wire(left, right, protocol)
        made.extend((left, right))
        return left, right

    yield make
    for peer in made:
        await peer.close(force=True)


class Hub:
    """Where in-memory clients connect: each connection gets a fresh server peer."""

    def __init__(self, protocol: str = "ocpp1.6", **server_options: Any) -> None:
        self.protocol = protocol
        self.server_options = server_options
        self.refuse_with: Exception | None = None
        self.setup: Callable[[RPCPeer], None] | None = None
        self.servers: list[RPCPeer] = []
        self.connections: asyncio.Queue[RPCPeer] = asyncio.Queue()
        self.attempts = 0

    async def open(self, url: str) -> tuple[MemoryTransport, str]:
        self.attempts += 1
        if self.refuse_with is not None:
            raise self.refuse_with
        left, right = memory_pair()
        server = RPCPeer(**self.server_options)
        if self.setup is not None:
            self.setup(server)
        server.attach(right, self.protocol)
        right.start(server)
        self.servers.append(server)
        self.connections.put_nowait(server)
        return left, self.protocol

    async def drop(self) -> None:
        """Drop the newest connection as a network failure would (1006)."""
        await self.servers[-1].close(force=True)


class MemoryClient(RPCClient):
    component = "MemoryClient"

    def __init__(self, hub: Hub, **options: Any) -> None:
        options.setdefault("identity", "CP-1")
        options.setdefault("endpoint", "ws://memory/ocpp")
        super().__init__(**options)
        self.hub = hub

    async def _open_transport(self, url: str) -> tuple[MemoryTransport, str]:
        return await self.hub.open(url)


@pytest.fixture
async def clients() -> AsyncIterator[list[RPCPeer]]:
    """Closes every client a test puts in the list."""
    made: list[RPCPeer] = []
    yield made
    for client in made:
        await client.close(force=True)


def expect(peer: RPCPeer, name: str) -> asyncio.Future[Any]:
    """A future for the next ``name`` event of ``peer`` (registered at once)."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def done(*args: Any) -> None:
        if not future.done():
            future.set_result(args[0] if args else None)

    peer.once(name, done)
    return future


async def wait(awaitable: Awaitable[Any], seconds: float = 5) -> Any:
    """Await with a bound, so a broken behaviour fails instead of hanging."""
    return await asyncio.wait_for(awaitable, seconds)


class Recorder(list[Any]):
    """Every event of one name from a peer, with a bounded wait for more."""

    def __init__(self, peer: RPCPeer, name: str) -> None:
        super().__init__()
        self._changed = asyncio.Event()
        peer.on(name, self._add)

    def _add(self, *args: Any) -> None:
        self.append(args[0] if args else None)
        self._changed.set()

    async def wait_until(self, predicate: Callable[[list[Any]], bool], seconds: float = 5) -> None:
        """Return once ``predicate(self)`` holds, woken by each new event."""
        async with asyncio.timeout(seconds):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

    async def wait_len(self, count: int, seconds: float = 5) -> None:
        await self.wait_until(lambda items: len(items) >= count, seconds)


def collect(peer: RPCPeer, name: str) -> Recorder:
    """Every ``name`` event of ``peer`` from now on."""
    return Recorder(peer, name)
