"""Outbound calls' timeouts on one loop timer per peer, armed for the earliest deadline.

A loop timer per call costs a handle, a heap push and a cancel on every call; here a
call only notes its deadline (calls made one after another never move the earliest,
so the timer is armed once and fires about once per timeout). When it fires, every
call due is expired and the timer is armed again for the earliest one left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Protocol

__all__ = ["Deadlines"]


class _HasDeadline(Protocol):
    deadline: float


class Deadlines:
    """Expire the entries of ``entries`` (by key) whose ``deadline`` (on the running
    loop's clock) has passed, calling ``expire(key)`` for each."""

    __slots__ = ("_at", "_entries", "_expire", "_timer")

    def __init__(
        self, entries: Mapping[str, _HasDeadline], expire: Callable[[str], object]
    ) -> None:
        self._entries = entries
        self._expire = expire
        self._timer: asyncio.TimerHandle | None = None
        self._at = 0.0

    def add(self, deadline: float) -> None:
        """An entry with ``deadline`` was (or is about to be) added to ``entries``
        (called from a coroutine on the loop, whose clock ``deadline`` is on)."""
        timer = self._timer
        if timer is None or deadline < self._at:
            if timer is not None:
                timer.cancel()
            self._arm(asyncio.get_running_loop(), deadline)

    def _arm(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        self._at = deadline
        # call_later with a delay of at least 0, not call_at: Pyodide's WebLoop refuses
        # a time already past ("Can't schedule in the past"), which a deadline just
        # reached can be by the time the loop reads its clock again.
        delay = max(deadline - loop.time(), 0.0)
        self._timer = loop.call_later(delay, self._fire, loop)

    def cancel(self) -> None:
        """Nothing is awaited any more (the connection is gone): disarm the timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        # The loop the timer was armed on is passed in: no lookup when it fires.
        self._timer = None
        now = loop.time()
        due = [key for key, entry in self._entries.items() if entry.deadline <= now]
        for key in due:
            self._expire(key)
        # A timer may fire a little early (the loop's clock resolution): arming again
        # for a deadline not quite reached fires again as soon as it is.
        left = min((entry.deadline for entry in self._entries.values()), default=None)
        if left is not None:
            self._arm(loop, left)
