"""A faster ``call_soon`` for Pyodide's event loop (WebLoop), installed per loop.

WebLoop runs every ``call_soon`` callback in a browser task of its own: a Handle, a
once-callable proxy and a ``MessageChannel`` message each. A task waiting for a
response is therefore woken one browser task after the WebSocket's ``message``
event, behind whatever else the browser queued, and every wake-up re-enters Python
from JS. :class:`ReadyQueue` keeps the callbacks in one queue, as asyncio's own
loops do, and runs them from a microtask through one long-lived proxy: in the same
browser task that made them ready (a JS ``await`` resumes the same way). So that a
Python loop of ``await asyncio.sleep(0)`` cannot starve the page, a run of
microtask drains that never empties the queue gives the browser a turn (a
macrotask, scheduled as WebLoop schedules) after :data:`BURST_S`. Callbacks still
run in order, each once, with the loop installed as the running loop.

Timers (``call_later``, ``call_at``) wait in a heap, as in asyncio's own loops, with
one JS ``setTimeout`` armed for the earliest: WebLoop gives each timer a
``setTimeout`` and a proxy of its own, and ``cancel()`` clears neither, so every
call's timeout (30 s by default) came back into Python 30 s later to find itself
cancelled. Cancelled timers are dropped when they reach the top of the heap, or all
at once when they are most of it.

The cost: a callback run from a microtask drain cannot stack-switch
(``pyodide.ffi.run_sync``), as WebLoop's own callbacks can where JSPI is available.
``BrowserOCPPClient.ready_queue = False`` keeps WebLoop's ``call_soon``.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BURST_S",
    "ReadyQueue",
    "SchedulerApi",
    "install_ready_queue",
    "installed_queue",
    "speed_up",
]

BURST_S = 0.004
"""Longest run of back-to-back microtask drains before the browser gets a turn."""

CLOCK_SLACK_S = 0.001
"""Timers due this close to now run when the JS timer fires (it may fire that early
by the loop's clock)."""

COMPACT_MIN = 100
"""Cancelled timers are swept out of the heap once there are this many and they
are more than half of it (as asyncio's own loops do)."""

MAX_TIMEOUT_S = (2**31 - 1) / 1000
"""``setTimeout``'s longest delay; a later timer re-arms when this one fires."""


@dataclass(frozen=True, slots=True)
class SchedulerApi:
    """How drains are scheduled (replaceable in tests): ``microtask(drain)`` gives a
    function that queues ``drain`` as a microtask; ``macrotask(drain)`` schedules it
    as a browser task, which lets rendering and input in first; ``timer(fire)`` gives
    ``arm(delay_s)``, which calls ``fire`` after a delay and returns a function that
    disarms it; ``now`` is the clock that measures a burst."""

    microtask: Callable[[Callable[[], None]], Callable[[], None]]
    macrotask: Callable[[Callable[[], None]], None]
    timer: Callable[[Callable[[], None]], Callable[[float], Callable[[], None]]]
    now: Callable[[], float] = time.perf_counter

    @classmethod
    def from_pyodide(cls) -> SchedulerApi:
        import js
        from pyodide.ffi import create_once_callable, create_proxy
        from pyodide_js._api import scheduleCallback  # type: ignore[import-not-found]

        def microtask(drain: Callable[[], None]) -> Callable[[], None]:
            proxy = create_proxy(drain)  # one per queue, for the page's lifetime
            queue_microtask = js.queueMicrotask
            return lambda: queue_microtask(proxy)

        def macrotask(drain: Callable[[], None]) -> None:
            # As WebLoop schedules its own callbacks (they may stack-switch there).
            scheduleCallback(create_once_callable(drain, _may_syncify=True), 0)

        def timer(fire: Callable[[], None]) -> Callable[[float], Callable[[], None]]:
            proxy = create_proxy(fire)  # one per queue, for the page's lifetime
            set_timeout, clear_timeout = js.setTimeout, js.clearTimeout

            def arm(delay_s: float) -> Callable[[], None]:
                ident = set_timeout(proxy, delay_s * 1000)
                return lambda: clear_timeout(ident)

            return arm

        return cls(microtask=microtask, macrotask=macrotask, timer=timer)


class ReadyQueue:
    """The loop's ready callbacks, drained in order from a microtask, and its timers."""

    __slots__ = (
        "_api",
        "_arm",
        "_armed_at",
        "_burst_started",
        "_cancelled",
        "_disarm",
        "_loop",
        "_queue_drain",
        "_ready",
        "_scheduled",
        "_sequence",
        "_timers",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, api: SchedulerApi) -> None:
        self._loop = loop
        self._api = api
        self._ready: deque[asyncio.Handle] = deque()
        self._scheduled = False
        self._burst_started: float | None = None
        self._queue_drain = api.microtask(self._drain)
        self._timers: list[tuple[float, int, asyncio.TimerHandle]] = []
        self._sequence = 0  # timers due at the same time run in the order they were made
        self._cancelled = 0
        self._arm = api.timer(self._fire)
        self._armed_at: float | None = None
        self._disarm: Callable[[], None] | None = None

    def call_soon(
        self, callback: Callable[..., Any], *args: Any, context: Any = None
    ) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self._loop, context=context)
        self._ready.append(handle)
        if not self._scheduled:
            self._schedule()
        return handle

    def call_later(
        self, delay: float, callback: Callable[..., Any], *args: Any, context: Any = None
    ) -> asyncio.TimerHandle:
        if delay < 0:  # as WebLoop refuses it
            raise ValueError("Can't schedule in the past")
        return self.call_at(self._loop.time() + delay, callback, *args, context=context)

    def call_at(
        self, when: float, callback: Callable[..., Any], *args: Any, context: Any = None
    ) -> asyncio.TimerHandle:
        timer = asyncio.TimerHandle(when, callback, args, self._loop, context=context)
        if when == math.inf:  # never due (as WebLoop: not scheduled at all)
            return timer
        timer._scheduled = True  # type: ignore[attr-defined]  # cancel() reports back
        self._sequence += 1
        heapq.heappush(self._timers, (when, self._sequence, timer))
        if self._armed_at is None or when < self._armed_at:
            self._arm_for(when)
        return timer

    def timer_cancelled(self, timer: asyncio.TimerHandle) -> None:
        """A scheduled timer was cancelled: sweep them out once they are most of the heap."""
        self._cancelled += 1
        timers = self._timers
        if self._cancelled > COMPACT_MIN and self._cancelled * 2 > len(timers):
            kept = [entry for entry in timers if not entry[2].cancelled()]
            for _, _, gone in timers:
                if gone.cancelled():
                    gone._scheduled = False  # type: ignore[attr-defined]
            heapq.heapify(kept)
            self._timers, self._cancelled = kept, 0

    def _arm_for(self, when: float) -> None:
        if self._disarm is not None:
            self._disarm()
        self._armed_at = when
        delay = min(max(when - self._loop.time(), 0.0), MAX_TIMEOUT_S)
        self._disarm = self._arm(delay)

    def _fire(self) -> None:
        """The JS timer fired: timers now due join the ready callbacks, in time order."""
        self._armed_at = self._disarm = None
        timers = self._timers
        due = self._loop.time() + CLOCK_SLACK_S
        while timers and timers[0][0] <= due:
            timer = heapq.heappop(timers)[2]
            timer._scheduled = False  # type: ignore[attr-defined]
            if timer.cancelled():
                self._cancelled -= 1
            else:
                self._ready.append(timer)
        if timers:
            self._arm_for(timers[0][0])
        if self._ready and not self._scheduled:
            self._schedule()

    def _schedule(self) -> None:
        self._scheduled = True
        now = self._api.now()
        if self._burst_started is None:
            self._burst_started = now
        if now - self._burst_started < BURST_S:
            self._queue_drain()
        else:
            self._burst_started = None  # the browser gets its turn first
            self._api.macrotask(self._drain)

    def deliver(self, callback: Callable[..., object], *args: Any) -> None:
        """``callback(*args)`` from a JS event handler, then the callbacks it made ready,
        in the same call: as a drain queued as a microtask would run them right after
        the handler, without the ``queueMicrotask`` and the second entry into Python
        (a WebSocket message that answers a call wakes its caller here). With a drain
        already on its way, they wait for it, behind what it holds."""
        if self._scheduled:
            callback(*args)
            return
        self._scheduled = True  # call_soon queues without scheduling a drain meanwhile
        try:
            callback(*args)
        finally:
            if self._ready:
                self._drain()
            else:
                self._scheduled = False

    def _drain(self) -> None:
        """Run the callbacks ready now; those they make ready go to the next drain."""
        self._scheduled = False
        loop = self._loop
        install = getattr(loop, "_install_running_loop", None)
        if install is not None:
            install()
            loop._install_asyncgen_hooks()  # type: ignore[attr-defined]
        ready = self._ready
        try:
            for _ in range(len(ready)):
                if not ready:  # another drain ran while a callback was suspended (run_sync)
                    break
                handle = ready.popleft()
                if not handle.cancelled():
                    self._run(handle)
        finally:
            if not ready:
                self._burst_started = None  # the queue ran dry: the burst is over
            elif not self._scheduled:  # a SystemExit left callbacks behind: they still run
                self._schedule()

    def _run(self, handle: asyncio.Handle) -> None:
        """Run one callback; SystemExit and KeyboardInterrupt go where WebLoop sends them."""
        loop: Any = self._loop
        try:
            handle._run()
        except SystemExit as exc:
            if getattr(loop, "_system_exit_handler", None) is None:
                raise
            loop._system_exit_handler(exc.code)
        except KeyboardInterrupt:
            if getattr(loop, "_keyboard_interrupt_handler", None) is None:
                raise
            loop._keyboard_interrupt_handler()

    def uninstall(self) -> None:
        """Give the loop its own scheduling back (what is queued here still runs)."""
        if self._loop.__dict__.get("_browser_ocpp_ready") is self:
            for name in (*_METHODS, "_browser_ocpp_ready"):
                del self._loop.__dict__[name]


_METHODS = ("call_soon", "call_later", "call_at", "_timer_handle_cancelled")
"""The loop's methods a :class:`ReadyQueue` stands in for (as instance attributes)."""


def installed_queue(loop: asyncio.AbstractEventLoop) -> ReadyQueue | None:
    """The :class:`ReadyQueue` installed on ``loop``, if any."""
    queue: ReadyQueue | None = getattr(loop, "__dict__", {}).get("_browser_ocpp_ready")
    return queue


def install_ready_queue(
    loop: asyncio.AbstractEventLoop, api: SchedulerApi | None = None
) -> ReadyQueue:
    """Give ``loop`` a :class:`ReadyQueue` as its ``call_soon`` (once per loop)."""
    installed = installed_queue(loop)
    if installed is not None:
        return installed
    queue = ReadyQueue(loop, api or SchedulerApi.from_pyodide())
    loop.__dict__["_browser_ocpp_ready"] = queue
    for name, method in zip(
        _METHODS,
        (queue.call_soon, queue.call_later, queue.call_at, queue.timer_cancelled),
        strict=True,
    ):
        loop.__dict__[name] = method
    return queue


def speed_up(loop: asyncio.AbstractEventLoop) -> ReadyQueue | None:
    """Install a :class:`ReadyQueue` on Pyodide's WebLoop; other loops keep their own
    ``call_soon`` (None)."""
    webloop = sys.modules.get("pyodide.webloop")
    if webloop is None or not isinstance(loop, webloop.WebLoop):
        return None
    return install_ready_queue(loop)
