"""The peer's one timer for every outbound call's timeout (also run under Pyodide,
whose WebLoop refuses to schedule a time already past)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from browser_ocpp.peer.deadlines import Deadlines


@dataclass
class Entry:
    deadline: float


class Table:
    """Entries by key and the order they expired in, with a bounded wait for it."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.expired: list[str] = []
        self._changed = asyncio.Event()
        self.deadlines = Deadlines(self.entries, self._expire)

    def add(self, key: str, deadline: float) -> None:
        self.entries[key] = Entry(deadline)
        self.deadlines.add(deadline)

    def _expire(self, key: str) -> None:
        del self.entries[key]
        self.expired.append(key)
        self._changed.set()

    async def wait_expired(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.expired) < count:
                self._changed.clear()
                await self._changed.wait()


async def test_a_deadline_already_past_expires_on_the_next_turn() -> None:
    table = Table()
    table.add("late", asyncio.get_running_loop().time() - 1.0)
    await table.wait_expired(1)
    assert table.expired == ["late"] and table.entries == {}


async def test_an_earlier_deadline_added_later_expires_first_then_the_rest() -> None:
    table = Table()
    now = asyncio.get_running_loop().time()
    table.add("long", now + 0.08)
    table.add("short", now + 0.01)
    table.add("middle", now + 0.04)
    await table.wait_expired(3)
    assert table.expired == ["short", "middle", "long"]


async def test_entries_gone_before_their_deadline_are_not_expired() -> None:
    table = Table()
    now = asyncio.get_running_loop().time()
    table.add("answered", now + 0.01)
    table.add("waiting", now + 0.03)
    del table.entries["answered"]  # answered in time: it left the table
    await table.wait_expired(1)
    assert table.expired == ["waiting"]


async def test_cancel_disarms_until_the_next_add() -> None:
    table = Table()
    loop = asyncio.get_running_loop()
    table.add("dropped", loop.time() + 0.01)
    table.deadlines.cancel()
    later = asyncio.Event()
    loop.call_later(0.05, later.set)  # well after the cancelled deadline
    await asyncio.wait_for(later.wait(), 5)
    assert table.expired == []
    table.add("next", loop.time() + 0.01)  # arms again; the old entry is due too
    await table.wait_expired(2)
    assert sorted(table.expired) == ["dropped", "next"]
