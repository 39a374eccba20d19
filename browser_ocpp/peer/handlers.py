"""The handler table: version-specific, then generic, then wildcard."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .peer import RPCPeer

__all__ = ["NOREPLY", "HandlerContext", "HandlerRegistry", "NoReply"]


class NoReply(enum.Enum):
    """Type of :data:`NOREPLY`."""

    NOREPLY = "NOREPLY"

    def __repr__(self) -> str:
        return "NOREPLY"


NOREPLY: Final = NoReply.NOREPLY
"""Return this from a handler to send no response at all."""


@dataclass(frozen=True, slots=True)
class HandlerContext:
    """What a handler receives about the call it handles."""

    params: dict[str, Any]
    method: str
    protocol: str | None
    message_id: str
    client: RPCPeer


Handler = Callable[[HandlerContext], Any]
WildcardHandler = Callable[[str, HandlerContext], Any]


class HandlerRegistry:
    """Handlers by (protocol, method), by method, and one wildcard."""

    __slots__ = ("_generic", "_specific", "wildcard")

    def __init__(self) -> None:
        self._specific: dict[tuple[str, str], Handler] = {}
        self._generic: dict[str, Handler] = {}
        self.wildcard: WildcardHandler | None = None

    def add(self, protocol: str | None, method: str | None, handler: Callable[..., Any]) -> None:
        """Register ``handler``; one already registered for the same key raises
        ValueError (as the reference throws): remove it first to replace it."""
        if not callable(handler):
            raise TypeError(f"handler must be callable, not {handler!r}")
        if method is None:
            if protocol is not None:
                raise TypeError("a wildcard handler cannot be tied to a protocol")
            if self.wildcard is not None:
                raise ValueError("a wildcard handler is already registered; remove_handler() first")
            self.wildcard = handler
        elif protocol is None:
            if method in self._generic:
                raise ValueError(
                    f"a handler for {method!r} is already registered; "
                    f"remove_handler({method!r}) first"
                )
            self._generic[method] = handler
        else:
            if (protocol, method) in self._specific:
                raise ValueError(
                    f"a handler for {method!r} on {protocol} is already registered; "
                    f"remove_handler({protocol!r}, {method!r}) first"
                )
            self._specific[(protocol, method)] = handler

    def remove(self, protocol: str | None, method: str | None) -> bool:
        """Remove one handler; True if there was one."""
        if method is None:
            found = self.wildcard is not None
            self.wildcard = None
            return found
        if protocol is None:
            return self._generic.pop(method, None) is not None
        return self._specific.pop((protocol, method), None) is not None

    def clear(self) -> None:
        self._specific.clear()
        self._generic.clear()
        self.wildcard = None

    def lookup(self, protocol: str | None, method: str) -> tuple[Callable[..., Any], bool] | None:
        """The handler for a call and whether it is the wildcard, or None."""
        if protocol is not None:
            handler = self._specific.get((protocol, method))
            if handler is not None:
                return handler, False
        handler = self._generic.get(method)
        if handler is not None:
            return handler, False
        if self.wildcard is not None:
            return self.wildcard, True
        return None
