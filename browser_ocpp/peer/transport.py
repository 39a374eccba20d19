"""The transport interface the peer runs on, and an in-memory pair of transports.

A transport moves text frames.  The peer calls :meth:`Transport.send` and
:meth:`Transport.close`; the transport calls back :meth:`RPCPeer.receive` for each
text frame and :meth:`RPCPeer.connection_lost` once when the connection is gone.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .peer import RPCPeer

__all__ = ["MemoryTransport", "Transport", "memory_pair"]


class Transport(Protocol):
    """What the peer needs from a connection."""

    async def send(self, text: str) -> None:
        """Send one text frame and wait until the transport can take more; raise if the
        connection is gone."""

    def send_now(self, text: str) -> None:
        """Send one text frame without waiting (the peer's replies); raise if the
        connection is gone."""

    async def close(self, code: int, reason: str, *, force: bool = False) -> None:
        """Close (``force``: drop at once, no closing handshake); return when closed."""

    def start(self, peer: RPCPeer) -> None:
        """Begin delivering received frames (and the loss of the connection) to ``peer``,
        as ``peer.receive(text, self)`` and ``peer.connection_lost(code, reason, self)``."""


class MemoryTransport:
    """One end of an in-memory connection, delivering frames in order through a task."""

    def __init__(self) -> None:
        self.other: MemoryTransport | None = None
        self.peer: RPCPeer | None = None
        self.closed = False
        self._inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._close_info: tuple[int, str] = (1006, "")

    def start(self, peer: RPCPeer) -> None:
        self.peer = peer
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.peer is not None
        while (text := await self._inbox.get()) is not None:
            self.peer.receive(text, self)
        self.peer.connection_lost(*self._close_info, self)

    async def send(self, text: str) -> None:
        self.send_now(text)

    def send_now(self, text: str) -> None:
        if self.closed or self.other is None or self.other.closed:
            raise ConnectionError("in-memory connection is closed")
        self.other._inbox.put_nowait(text)

    def _shut(self, code: int, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self._close_info = (code, reason)
            self._inbox.put_nowait(None)

    async def close(self, code: int, reason: str, *, force: bool = False) -> None:
        if force:
            code, reason = 1006, ""
        self._shut(code, reason)
        if self.other is not None:
            self.other._shut(code, reason)
        if self._reader is not None and self._reader is not asyncio.current_task():
            await asyncio.shield(self._reader)


def memory_pair() -> tuple[MemoryTransport, MemoryTransport]:
    """Two transports wired to each other."""
    left, right = MemoryTransport(), MemoryTransport()
    left.other, right.other = right, left
    return left, right
