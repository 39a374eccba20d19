"""Outbound calls in the order they were made: a FIFO limit on how many are in flight
(changeable while in use), closed while the connection is down.

While closed, the calls waiting here are the offline queue: they keep their order
across any number of drops and reopens, and calls made meanwhile line up behind
them, so nothing a user queued is sent out of order.
"""

from __future__ import annotations

import asyncio
from collections import deque

from ..rpc.errors import QueueOverflowError

__all__ = ["CallSlots", "OfflineTimeout"]


class OfflineTimeout(Exception):
    """A call waited longer than its timeout for a connection to open."""


class _Waiter:
    __slots__ = ("future", "ticket", "timer")

    def __init__(self, future: asyncio.Future[None], ticket: int) -> None:
        self.future = future
        self.ticket = ticket  # the call's place in line: the order it was made in
        self.timer: asyncio.TimerHandle | None = None


class CallSlots:
    """Up to ``limit`` holders at once, served first come, first served, and only
    while ``is_open``."""

    __slots__ = ("_limit", "_tickets", "_waiters", "active", "is_open")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self.active = 0
        self.is_open = False
        self._tickets = 0
        self._waiters: deque[_Waiter] | None = None  # created when first needed

    @property
    def limit(self) -> int:
        return self._limit

    @limit.setter
    def limit(self, value: int) -> None:
        self._limit = value
        self._wake()

    @property
    def waiting(self) -> int:
        return len(self._waiters) if self._waiters else 0

    def open(self) -> None:
        """The connection is up: serve the waiters, oldest first."""
        self.is_open = True
        for waiter in self._waiters or ():
            if waiter.timer is not None:
                waiter.timer.cancel()
                waiter.timer = None
        self._wake()

    def close(self) -> None:
        """The connection is down: hand out no more turns until :meth:`open`."""
        self.is_open = False

    def try_acquire(self) -> int | None:
        """A turn at once if one is free and nobody waits (the usual case, without
        the cost of a coroutine): the call's ticket, else None (then :meth:`acquire`)."""
        if self.is_open and self.active < self._limit and not self._waiters:
            self._tickets += 1
            self.active += 1
            return self._tickets
        return None

    async def acquire(
        self, offline_timeout_s: float | None = None, offline_limit: float | None = None
    ) -> int:
        """Wait for a turn; returns the call's ticket (for :meth:`wait_for_open`).
        While closed, wait at most ``offline_timeout_s`` for the connection
        (:class:`OfflineTimeout`), and with more than ``offline_limit`` waiting the
        oldest is refused (:class:`QueueOverflowError`)."""
        self._tickets += 1
        ticket = self._tickets
        if self.is_open and self.active < self._limit and not self._waiters:
            self.active += 1
            return ticket
        waiter = _Waiter(asyncio.get_running_loop().create_future(), ticket)
        if self._waiters is None:
            self._waiters = deque()
        self._waiters.append(waiter)
        if not self.is_open:
            if offline_timeout_s is not None:
                waiter.timer = asyncio.get_running_loop().call_later(
                    offline_timeout_s, self._expire, waiter
                )
            if offline_limit is not None and len(self._waiters) > offline_limit:
                self._refuse(
                    self._waiters[0],
                    QueueOverflowError(
                        f"offline queue full ({offline_limit:g}): oldest call dropped"
                    ),
                )
        await self._wait(waiter)
        return ticket

    async def wait_for_open(self, ticket: int) -> None:
        """The holder of a turn whose connection dropped: give the turn back and wait
        for the next one at its own place in line (``ticket``): ahead of everyone who
        came later, behind those who came earlier."""
        self.active -= 1
        waiter = _Waiter(asyncio.get_running_loop().create_future(), ticket)
        if self._waiters is None:
            self._waiters = deque()
        place = next(
            (n for n, other in enumerate(self._waiters) if other.ticket > ticket),
            len(self._waiters),
        )
        self._waiters.insert(place, waiter)
        self._wake()
        await self._wait(waiter)

    async def _wait(self, waiter: _Waiter) -> None:
        try:
            await waiter.future
        except BaseException:
            if waiter.timer is not None:
                waiter.timer.cancel()
            if (
                waiter.future.done()
                and not waiter.future.cancelled()
                and (waiter.future.exception() is None)
            ):
                self.release()  # granted just before the cancel: hand it on
            elif self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self.active -= 1
        self._wake()

    def fail_all(self, error: Exception) -> None:
        """Refuse every waiter (the connection is closed for good)."""
        while self._waiters:
            self._refuse(self._waiters[0], error)

    def _refuse(self, waiter: _Waiter, error: Exception) -> None:
        if self._waiters is not None and waiter in self._waiters:
            self._waiters.remove(waiter)
        if waiter.timer is not None:
            waiter.timer.cancel()
        if not waiter.future.done():
            waiter.future.set_exception(error)

    def _expire(self, waiter: _Waiter) -> None:
        waiter.timer = None
        if not self.is_open:
            self._refuse(waiter, OfflineTimeout())

    def _wake(self) -> None:
        waiters = self._waiters
        while self.is_open and waiters and self.active < self._limit:
            waiter = waiters.popleft()
            if not waiter.future.done():
                self.active += 1
                waiter.future.set_result(None)
