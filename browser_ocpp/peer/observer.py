"""The hook a peer reports its calls through when something measures them.

A peer has no observer by default, and then pays one ``is None`` check per call. The
server sets one on each of its connections when metrics are on: a direct call per
CALL handled or made is cheaper than building a :class:`FrameEvent` for listeners
and matching requests to replies by message id.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

__all__ = ["CallObserver"]


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
