"""The peer's transport over a ``websockets`` asyncio connection (client or server)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from websockets.asyncio.connection import Connection
from websockets.exceptions import ConnectionClosed

if TYPE_CHECKING:
    from ..peer import RPCPeer

__all__ = ["WebSocketTransport"]

CLOSE_TIMEOUT_S = 5.0


class WebSocketTransport:
    """Moves text frames between a websockets connection and a peer."""

    __slots__ = ("connection", "reader")

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.reader: asyncio.Task[None] | None = None

    async def send(self, text: str) -> None:
        await self.connection.send(text)

    async def close(self, code: int, reason: str, *, force: bool = False) -> None:
        if force:
            self.connection.transport.abort()
        else:
            await self.connection.close(code, reason)
        if self.reader is not None and self.reader is not asyncio.current_task():
            await asyncio.wait([self.reader], timeout=CLOSE_TIMEOUT_S)

    def start(self, peer: RPCPeer) -> None:
        self.reader = asyncio.ensure_future(self.run(peer))

    async def run(self, peer: RPCPeer) -> None:
        """Deliver frames to ``peer`` until the connection closes (the server runs this
        in its connection handler, so a connection costs one task, not two)."""
        connection = self.connection
        try:
            async for message in connection:
                await peer.receive(message, self)  # type: ignore[arg-type]  # bytes: bad message
        except ConnectionClosed:
            pass
        finally:
            peer.connection_lost(*self.close_info(), self)

    def close_info(self) -> tuple[int, str]:
        """The close frame received; else the one we sent (a dead peer: 1011
        "keepalive ping timeout"); else 1006, closed without any."""
        protocol = self.connection.protocol
        frame = protocol.close_rcvd or protocol.close_sent
        if frame is None:
            return 1006, ""
        return int(frame.code), frame.reason

    @property
    def buffered_amount(self) -> int:
        transport = self.connection.transport
        return transport.get_write_buffer_size() if transport is not None else 0
