"""The ready queue that replaces WebLoop's call_soon, driven by hand: drains are
collected instead of scheduled, and a fake clock measures bursts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from browser_ocpp.browser.scheduler import (
    BURST_S,
    ReadyQueue,
    SchedulerApi,
    install_ready_queue,
    speed_up,
)


class Browser:
    """Where the queue's drains go: micro- and macrotasks, and the time."""

    def __init__(self) -> None:
        self.micro: list[Callable[[], None]] = []
        self.macro: list[Callable[[], None]] = []
        self.time = 100.0
        self.api = SchedulerApi(
            lambda drain: lambda: self.micro.append(drain), self.macro.append, lambda: self.time
        )

    def run_microtasks(self, limit: int = 100) -> int:
        """Run microtasks until none is left (at most ``limit``); how many ran."""
        for count in range(limit):
            if not self.micro:
                return count
            self.micro.pop(0)()
        raise AssertionError("microtasks never ran dry")


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def browser() -> Browser:
    return Browser()


def test_callbacks_run_in_order_from_one_microtask(loop, browser):
    queue = install_ready_queue(loop, browser.api)
    ran: list[int] = []
    for n in range(3):
        loop.call_soon(ran.append, n)
    assert len(browser.micro) == 1 and not browser.macro
    assert ran == []
    browser.run_microtasks()
    assert ran == [0, 1, 2]
    assert loop.call_soon == queue.call_soon


def test_callbacks_made_ready_during_a_drain_wait_for_the_next(loop, browser):
    install_ready_queue(loop, browser.api)
    ran: list[str] = []
    loop.call_soon(lambda: (ran.append("first"), loop.call_soon(ran.append, "later")))
    browser.micro.pop()()
    assert ran == ["first"]
    assert len(browser.micro) == 1
    browser.run_microtasks()
    assert ran == ["first", "later"]


def test_a_cancelled_callback_does_not_run(loop, browser):
    install_ready_queue(loop, browser.api)
    ran: list[int] = []
    loop.call_soon(ran.append, 1).cancel()
    loop.call_soon(ran.append, 2)
    browser.run_microtasks()
    assert ran == [2]


def test_an_endless_burst_gives_the_browser_a_turn(loop, browser):
    """A callback that always makes another ready (a loop of ``await sleep(0)``)
    runs from microtasks until the burst is BURST_S old, then from a macrotask."""
    install_ready_queue(loop, browser.api)
    spins = 0

    def spin() -> None:
        nonlocal spins
        spins += 1
        browser.time += BURST_S / 4
        loop.call_soon(spin)

    loop.call_soon(spin)
    browser.run_microtasks()
    assert browser.macro, "the browser never got a turn"
    assert 3 <= spins <= 5
    browser.macro.pop()()  # the macrotask: a new burst starts from microtasks again
    assert browser.micro and not browser.macro


def test_a_burst_ends_when_the_queue_runs_dry(loop, browser):
    """Round trips far apart in total time each wake their caller from a microtask."""
    install_ready_queue(loop, browser.api)
    for _ in range(10):
        loop.call_soon(lambda: None)
        browser.time += BURST_S
        browser.run_microtasks()
    assert not browser.macro


def test_futures_and_tasks_run_through_the_queue(loop, browser):
    install_ready_queue(loop, browser.api)
    future = loop.create_future()
    steps: list[str] = []

    async def waiter() -> None:
        steps.append("waiting")
        steps.append(await future)

    asyncio.events._set_running_loop(loop)  # as WebLoop is, while callbacks run
    try:
        loop.create_task(waiter())
        browser.run_microtasks()
        assert steps == ["waiting"]
        future.set_result("woken")
        browser.run_microtasks()
    finally:
        asyncio.events._set_running_loop(None)
    assert steps == ["waiting", "woken"]


def test_system_exit_goes_to_the_loops_handler(loop, browser):
    install_ready_queue(loop, browser.api)
    codes: list[object] = []
    loop._system_exit_handler = codes.append  # type: ignore[attr-defined]  # as WebLoop has

    def leave() -> None:
        raise SystemExit(3)

    loop.call_soon(leave)
    browser.run_microtasks()
    assert codes == [3]


def test_system_exit_without_a_handler_propagates_and_the_rest_still_run(loop, browser):
    install_ready_queue(loop, browser.api)
    ran: list[str] = []

    def leave() -> None:
        raise SystemExit(4)

    loop.call_soon(leave)
    loop.call_soon(ran.append, "after")
    with pytest.raises(SystemExit):
        browser.run_microtasks()
    assert ran == []
    browser.run_microtasks()
    assert ran == ["after"]


def test_install_is_once_per_loop_and_uninstall_restores(loop, browser):
    own = loop.call_soon
    queue = install_ready_queue(loop, browser.api)
    assert install_ready_queue(loop, browser.api) is queue
    queue.uninstall()
    assert loop.call_soon == own
    assert isinstance(install_ready_queue(loop, browser.api), ReadyQueue)


def test_speed_up_leaves_other_loops_alone(loop):
    own = loop.call_soon
    assert speed_up(loop) is None
    assert loop.call_soon == own
