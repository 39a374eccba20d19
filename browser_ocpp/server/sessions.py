"""The per-identity session store: what ``ctx.accept(session=...)`` gave a station,
kept across its reconnects (the reference's ``sessionTtlMs`` store)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

__all__ = ["SessionStore"]


class _Entry:
    __slots__ = ("data", "last_active")

    def __init__(self, data: dict[str, Any], last_active: float) -> None:
        self.data = data
        self.last_active = last_active


class SessionStore:
    """Session dicts by identity, each with the time of its station's last activity.

    An entry is dropped by :meth:`sweep` once it has seen no activity for ``ttl``
    seconds, and the least recently stored one is dropped when more than ``limit``
    would be kept, so the store's memory stays bounded whatever stations connect.
    Times are ``time.monotonic()`` values.
    """

    __slots__ = ("_entries", "limit", "ttl")

    def __init__(self, ttl: float, limit: int) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.ttl = ttl
        self.limit = limit

    def __len__(self) -> int:
        return len(self._entries)

    def merged(self, identity: str, accepted: dict[str, Any]) -> dict[str, Any]:
        """The session of a new connection: the stored one, with ``accepted`` over it."""
        entry = self._entries.get(identity)
        return accepted if entry is None else {**entry.data, **accepted}

    def keep(self, identity: str, data: dict[str, Any], now: float) -> None:
        """Store ``data`` (the live dict: later changes to it are kept) as active now."""
        entries = self._entries
        entries[identity] = _Entry(data, now)
        entries.move_to_end(identity)
        while len(entries) > self.limit:
            entries.popitem(last=False)

    def touch(self, identity: str, data: dict[str, Any], at: float) -> None:
        """Note activity at ``at`` for the stored session, if it is still ``data``."""
        entry = self._entries.get(identity)
        if entry is not None and entry.data is data and at > entry.last_active:
            entry.last_active = at

    def sweep(self, now: float) -> int:
        """Drop the sessions inactive for longer than ``ttl``; returns how many."""
        deadline = now - self.ttl
        expired = [key for key, entry in self._entries.items() if entry.last_active < deadline]
        for key in expired:
            del self._entries[key]
        return len(expired)
