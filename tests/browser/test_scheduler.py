"""The ready queue that replaces WebLoop's call_soon and timers, driven by hand:
drains and JS timers are collected instead of scheduled, and a fake clock is both
the burst clock and the loop's time."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator

import pytest

from browser_ocpp.browser.scheduler import (
    BURST_S,
    COMPACT_MIN,
    ReadyQueue,
    SchedulerApi,
    install_ready_queue,
    speed_up,
)


class Browser:
    """Where the queue's drains go: micro- and macrotasks, JS timers, and the time."""

    def __init__(self) -> None:
        self.micro: list[Callable[[], None]] = []
        self.macro: list[Callable[[], None]] = []
        self.armed: list[float] = []  # delays of the JS timers armed, in order
        self.fire: Callable[[], None] | None = None  # the armed timer's callback
        self.time = 100.0
        self.api = SchedulerApi(
            lambda drain: lambda: self.micro.append(drain),
            self.macro.append,
            self.timer,
            lambda: self.time,
        )

    def timer(self, fire: Callable[[], None]) -> Callable[[float], Callable[[], None]]:
        def arm(delay: float) -> Callable[[], None]:
            self.armed.append(delay)
            self.fire = fire
            return self.disarm

        return arm

    def disarm(self) -> None:
        self.fire = None

    def advance(self, seconds: float) -> None:
        """Let time pass; the armed JS timer fires if it is due."""
        self.time += seconds
        if self.fire is not None and self.armed and sum(self.armed[-1:]) <= seconds:
            fire, self.fire = self.fire, None
            fire()

    def run_microtasks(self, limit: int = 100) -> int:
        """Run microtasks until none is left (at most ``limit``); how many ran."""
        for count in range(limit):
            if not self.micro:
                return count
            self.micro.pop(0)()
        raise AssertionError("microtasks never ran dry")


@pytest.fixture
def browser() -> Browser:
    return Browser()


@pytest.fixture
def loop(browser: Browser) -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    loop.time = lambda: browser.time  # type: ignore[method-assign]
    yield loop
    loop.close()


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


def test_a_drain_run_inside_a_callback_leaves_the_outer_drain_nothing_to_do(loop, browser):
    """As when a callback stack-switches (run_sync) and later drains run meanwhile."""
    queue = install_ready_queue(loop, browser.api)
    ran: list[str] = []
    loop.call_soon(lambda: (ran.append("suspends"), queue._drain()))
    loop.call_soon(ran.append, "meanwhile")
    browser.run_microtasks()
    assert ran == ["suspends", "meanwhile"]


def test_deliver_runs_what_the_event_made_ready_before_returning(loop, browser):
    """A JS event handler's work (a WebSocket answer setting its call's future) and the
    callbacks it made ready run in one call, with no microtask queued; what those
    callbacks make ready goes to a drain of its own, as from any drain."""
    queue = install_ready_queue(loop, browser.api)
    ran: list[str] = []

    def event(name: str) -> None:
        ran.append(name)
        loop.call_soon(lambda: (ran.append("woken"), loop.call_soon(ran.append, "later")))

    queue.deliver(event, "message")
    assert ran == ["message", "woken"]
    assert len(browser.micro) == 1 and not browser.macro
    browser.run_microtasks()
    assert ran == ["message", "woken", "later"]


def test_deliver_with_nothing_made_ready_schedules_nothing(loop, browser):
    queue = install_ready_queue(loop, browser.api)
    ran: list[str] = []
    queue.deliver(ran.append, "message")
    assert ran == ["message"] and not browser.micro
    loop.call_soon(ran.append, "next")  # scheduling works as before afterwards
    assert len(browser.micro) == 1
    browser.run_microtasks()
    assert ran == ["message", "next"]


def test_deliver_with_a_drain_on_its_way_leaves_the_callbacks_to_it(loop, browser):
    """Callbacks queued before the event run first, as the drain already queued
    would run them."""
    queue = install_ready_queue(loop, browser.api)
    ran: list[str] = []
    loop.call_soon(ran.append, "earlier")
    queue.deliver(lambda: loop.call_soon(ran.append, "woken"))
    assert ran == []
    browser.run_microtasks()
    assert ran == ["earlier", "woken"]


def test_deliver_runs_the_callbacks_even_when_the_handler_raises(loop, browser):
    queue = install_ready_queue(loop, browser.api)
    ran: list[str] = []

    def event() -> None:
        loop.call_soon(ran.append, "woken")
        raise ValueError("handler failed")

    with pytest.raises(ValueError, match="handler failed"):
        queue.deliver(event)
    assert ran == ["woken"] and not browser.micro
    loop.call_soon(ran.append, "next")
    browser.run_microtasks()
    assert ran == ["woken", "next"]


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
    own = loop.call_soon, loop.call_later, loop.call_at
    queue = install_ready_queue(loop, browser.api)
    assert install_ready_queue(loop, browser.api) is queue
    queue.uninstall()
    assert (loop.call_soon, loop.call_later, loop.call_at) == own
    assert isinstance(install_ready_queue(loop, browser.api), ReadyQueue)


def test_speed_up_leaves_other_loops_alone(loop):
    own = loop.call_soon
    assert speed_up(loop) is None
    assert loop.call_soon == own


def test_timers_run_in_time_order_from_one_js_timer(loop, browser):
    install_ready_queue(loop, browser.api)
    ran: list[str] = []
    loop.call_later(2.0, ran.append, "two")
    loop.call_later(1.0, ran.append, "one")
    loop.call_at(browser.time + 3.0, ran.append, "three")
    assert browser.armed == [2.0, 1.0]  # re-armed once, for the earlier timer
    browser.advance(1.0)
    browser.run_microtasks()
    assert ran == ["one"]
    assert browser.armed[-1] == pytest.approx(1.0)  # armed for the next one
    browser.advance(1.0)
    browser.advance(1.0)
    browser.run_microtasks()
    assert ran == ["one", "two", "three"]
    assert browser.fire is None  # nothing left: no JS timer armed


def test_a_later_timer_arms_no_js_timer(loop, browser):
    """A call's timeout, made and cancelled per call: one JS timer in all."""
    install_ready_queue(loop, browser.api)
    for _ in range(50):
        loop.call_later(30.0, lambda: None).cancel()
        browser.time += 0.001
    assert browser.armed == [30.0]


def test_cancelled_timers_do_not_run_and_are_swept_out(loop, browser):
    queue = install_ready_queue(loop, browser.api)
    ran: list[int] = []
    keep = [loop.call_later(10.0, ran.append, n) for n in range(10)]
    for _ in range(COMPACT_MIN * 3):
        loop.call_later(30.0, ran.append, -1).cancel()
    assert len(queue._timers) <= 2 * (COMPACT_MIN + len(keep))
    keep[0].cancel()
    browser.advance(10.0)
    browser.run_microtasks()
    assert ran == list(range(1, 10))
    browser.advance(20.0)
    browser.run_microtasks()
    assert ran == list(range(1, 10))


def test_timers_in_the_past_and_never_due(loop, browser):
    install_ready_queue(loop, browser.api)
    ran: list[str] = []
    loop.call_at(browser.time - 5.0, ran.append, "late")
    assert browser.armed == [0.0]
    never = loop.call_at(math.inf, ran.append, "never")
    browser.advance(0.0)
    browser.run_microtasks()
    assert ran == ["late"]
    assert not never.cancelled() and browser.fire is None
    with pytest.raises(ValueError, match="past"):
        loop.call_later(-1.0, ran.append, "refused")


def test_asyncio_sleep_and_timeouts_run_on_the_heap(loop, browser):
    install_ready_queue(loop, browser.api)
    steps: list[str] = []

    async def sleeper() -> None:
        await asyncio.sleep(5.0)
        steps.append("slept")
        try:
            await asyncio.wait_for(loop.create_future(), 2.0)
        except TimeoutError:
            steps.append("timed out")

    asyncio.events._set_running_loop(loop)
    try:
        loop.create_task(sleeper())
        browser.run_microtasks()
        browser.advance(5.0)
        browser.run_microtasks()
        assert steps == ["slept"]
        browser.advance(2.0)
        browser.run_microtasks()
    finally:
        asyncio.events._set_running_loop(None)
    assert steps == ["slept", "timed out"]
