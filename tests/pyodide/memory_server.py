"""In-memory stand-ins for ``OCPPServer`` and ``OCPPClient``, for tests run where there
are no sockets (Pyodide).

They take the arguments the emulator's fixtures give the real classes and behave as
the real ones do for those fixtures: the server makes one ``RPCPeer`` per connection
with its own options, picks the first of its subprotocols the station offers, emits
``client`` before the first frame is read, closes an older connection of the same
identity (4000) and answers ``send_to_client``; a connect takes a turn of the loop, as a
handshake does. A station's URL names the server by its (made-up) port and the station
by its last path segment, as the real handshake reads it. Frames move through
``browser_ocpp.peer.memory_pair``.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from browser_ocpp.peer import EventEmitter, RPCClient, RPCPeer, memory_pair
from browser_ocpp.peer.transport import MemoryTransport
from browser_ocpp.rpc.errors import ConnectionClosedError

__all__ = ["MemoryClient", "MemoryServer"]

CLOSE_REPLACED = (4000, "replaced by a new connection with the same identity")
CLOSE_SHUTDOWN = (1001, "server shutting down")

_listening: dict[int, MemoryServer] = {}
_ports = itertools.count(40000)


class MemoryServer(EventEmitter):
    """``OCPPServer(protocols=[...], **peer_options)`` without sockets."""

    events = frozenset({"client"})

    def __init__(self, protocols: Sequence[str] = (), **peer_options: Any) -> None:
        super().__init__()
        self.protocols = list(protocols)
        self._peer_options = peer_options
        self._clients: dict[str, RPCPeer] = {}
        self._port: int | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def clients(self) -> Mapping[str, RPCPeer]:
        return self._clients

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server is not listening")
        return self._port

    async def listen(self, port: int = 0, host: str = "127.0.0.1") -> int:
        if self._port is not None:
            raise RuntimeError("the server is already listening")
        self._port = port or next(_ports)
        _listening[self._port] = self
        return self._port

    async def close(self, code: int = CLOSE_SHUTDOWN[0], reason: str = CLOSE_SHUTDOWN[1]) -> None:
        if self._port is not None:
            del _listening[self._port]
            self._port = None
        await asyncio.gather(
            *(c.close(code, reason, await_pending=False) for c in list(self._clients.values())),
            return_exceptions=True,
        )

    def accept(self, url: str, offered: Sequence[str]) -> tuple[MemoryTransport, str]:
        """A station dials ``url`` offering ``offered``: its end and the agreed protocol."""
        protocol = next((p for p in self.protocols if p in offered), None)
        if protocol is None:
            raise ConnectionRefusedError(f"no common subprotocol (offered: {list(offered)})")
        identity = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        station_end, csms_end = memory_pair()
        client = RPCPeer(**self._peer_options)
        previous = self._clients.get(identity)
        self._clients[identity] = client
        if previous is not None:
            task = asyncio.ensure_future(previous.close(*CLOSE_REPLACED, await_pending=False))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        client.once("close", lambda event: self._forget(identity, client))
        client.attach(csms_end, protocol)
        self.emit("client", client)
        csms_end.start(client)
        return station_end, protocol

    def _forget(self, identity: str, client: RPCPeer) -> None:
        if self._clients.get(identity) is client:
            del self._clients[identity]

    async def send_to_client(self, identity: str, *args: Any, **options: Any) -> dict[str, Any]:
        client = self._clients.get(identity)
        if client is None:
            raise ConnectionClosedError(f"no station with identity {identity!r} is connected")
        result: dict[str, Any] = await client.call(*args, **options)
        return result


class MemoryClient(RPCClient):
    """``OCPPClient(endpoint=f"ws://127.0.0.1:{server.port}/...", ...)`` without sockets."""

    __slots__ = ()
    component = "OCPPClient"

    async def _open_transport(self, url: str) -> tuple[MemoryTransport, str]:
        # A real handshake takes turns of the loop: without this one the connect ended
        # in the turn that emitted "connecting", so what a listener spawned there
        # (set_offline(True), say) could only run after the station had started.
        await asyncio.sleep(0)
        server = _listening.get(urlsplit(url).port or 0)
        if server is None:
            raise ConnectionRefusedError(f"no in-memory server listens at {url}")
        return server.accept(url, self.options.protocols)
