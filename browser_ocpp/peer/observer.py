"""The hook a peer reports its calls through when something measures them.

A peer has no observer by default, and then pays one ``is None`` check per call. The
server sets one on each of its connections when metrics are on: a direct call per
CALL handled or made is cheaper than building a :class:`FrameEvent` for listeners
and matching requests to replies by message id.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from ..rpc.errors import CallTimeoutError, ConnectionClosedError, RPCError

__all__ = ["CallObserver", "call_outcome"]


class CallObserver(Protocol):
    """What a peer tells about each call (all on the peer's event loop)."""

    def inbound(self, action: str, outcome: str, seconds: float) -> None:
        """A CALL received was answered: ``outcome`` is ``"ok"``, the error code
        answered (as on the wire), or ``"closed"`` (the connection went first);
        ``seconds`` from receiving it to answering it (validation and handler)."""

    def outbound(self, action: str, future: asyncio.Future[Any], seconds: float) -> None:
        """A CALL sent has ended: ``future`` holds its response or error (cancelled,
        or not done when sending failed); ``seconds`` is the round trip."""

    def bad_message(self, code: str) -> None:
        """A received frame could not be accepted: ``code`` is the error code for it
        (as on the wire)."""


def call_outcome(future: asyncio.Future[Any]) -> str:
    """How an outbound call ended: ``ok``, an error code, ``timeout``, ``closed``
    (the connection went, or sending failed) or ``cancelled``."""
    if future.cancelled():
        return "cancelled"
    if not future.done():
        return "closed"
    error = future.exception()
    if error is None:
        return "ok"
    if isinstance(error, CallTimeoutError):
        return "timeout"
    if isinstance(error, RPCError):
        received, kind = error.received_code, type(error)
        if received is not None and (
            received == kind.code or received in kind.codes_by_version.values()
        ):
            return received  # a code we know, as received: a bounded set
        return error.code  # a code we do not know (GenericError), or our own refusal
    if isinstance(error, ConnectionClosedError):
        return "closed"
    return "error"
