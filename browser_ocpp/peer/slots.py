"""A FIFO limit on concurrent outbound calls that can be changed while in use."""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["CallSlots"]


class CallSlots:
    """Up to ``limit`` holders at once; waiters are served first come, first served."""

    __slots__ = ("_limit", "_waiters", "active")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] | None = None  # created when first needed

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

    async def acquire(self) -> None:
        if self.active < self._limit and not self._waiters:
            self.active += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = deque()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # granted just before the cancel: hand it on
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self.active -= 1
        self._wake()

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters and self.active < self._limit:
            waiter = waiters.popleft()
            if not waiter.done():
                self.active += 1
                waiter.set_result(None)
