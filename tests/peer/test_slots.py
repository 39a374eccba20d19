"""The line of outbound calls (CallSlots), on its own."""

from __future__ import annotations

import asyncio

from browser_ocpp.peer.slots import CallSlots

from .conftest import wait


async def test_turns_given_back_keep_their_order() -> None:
    """Two calls had their turn when the connection dropped: on the next connection
    they go in the order they were made, whichever gave its turn back first."""
    slots = CallSlots(2)
    slots.open()
    first, second = await slots.acquire(), await slots.acquire()
    slots.close()
    order: list[str] = []

    async def give_back(name: str, ticket: int) -> None:
        await slots.wait_for_open(ticket)
        order.append(name)
        slots.release()

    tasks = [asyncio.ensure_future(give_back("first", first))]
    await asyncio.sleep(0)  # the first gives its turn back before the second
    tasks.append(asyncio.ensure_future(give_back("second", second)))
    await asyncio.sleep(0)
    assert slots.waiting == 2
    slots.open()
    await wait(asyncio.gather(*tasks))
    assert order == ["first", "second"]


async def test_a_turn_given_back_goes_before_later_calls() -> None:
    slots = CallSlots(1)
    slots.open()
    held = await slots.acquire()
    later = asyncio.ensure_future(slots.acquire())  # made after, waits for a turn
    await asyncio.sleep(0)
    slots.close()
    order: list[str] = []

    async def give_back() -> None:
        await slots.wait_for_open(held)
        order.append("held")
        slots.release()

    back = asyncio.ensure_future(give_back())
    await asyncio.sleep(0)
    slots.open()
    await wait(back)
    await wait(later)
    order.append("later")
    slots.release()
    assert order == ["held", "later"]
