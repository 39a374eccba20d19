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
run in order, each once, with the loop installed as the running loop; timers
(``call_later`` with a delay) stay WebLoop's.

The cost: a callback run from a microtask drain cannot stack-switch
(``pyodide.ffi.run_sync``), as WebLoop's own callbacks can where JSPI is available.
``BrowserOCPPClient.ready_queue = False`` keeps WebLoop's ``call_soon``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["BURST_S", "ReadyQueue", "SchedulerApi", "install_ready_queue", "speed_up"]

BURST_S = 0.004
"""Longest run of back-to-back microtask drains before the browser gets a turn."""


@dataclass(frozen=True, slots=True)
class SchedulerApi:
    """How drains are scheduled (replaceable in tests): ``microtask(drain)`` gives a
    function that queues ``drain`` as a microtask; ``macrotask(drain)`` schedules it
    as a browser task, which lets rendering and input in first; ``now`` is the clock
    that measures a burst."""

    microtask: Callable[[Callable[[], None]], Callable[[], None]]
    macrotask: Callable[[Callable[[], None]], None]
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

        return cls(microtask=microtask, macrotask=macrotask)


class ReadyQueue:
    """The loop's ready callbacks, drained in order from a microtask."""

    __slots__ = (
        "_api",
        "_burst_started",
        "_loop",
        "_queue_drain",
        "_ready",
        "_scheduled",
    )

    def __init__(self, loop: asyncio.AbstractEventLoop, api: SchedulerApi) -> None:
        self._loop = loop
        self._api = api
        self._ready: deque[asyncio.Handle] = deque()
        self._scheduled = False
        self._burst_started: float | None = None
        self._queue_drain = api.microtask(self._drain)

    def call_soon(
        self, callback: Callable[..., Any], *args: Any, context: Any = None
    ) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self._loop, context=context)
        self._ready.append(handle)
        if not self._scheduled:
            self._schedule()
        return handle

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
        """Give the loop its own ``call_soon`` back (callbacks queued here still run)."""
        if self._loop.__dict__.get("call_soon") == self.call_soon:
            del self._loop.__dict__["call_soon"]
            del self._loop.__dict__["_browser_ocpp_ready"]


def install_ready_queue(
    loop: asyncio.AbstractEventLoop, api: SchedulerApi | None = None
) -> ReadyQueue:
    """Give ``loop`` a :class:`ReadyQueue` as its ``call_soon`` (once per loop)."""
    installed: ReadyQueue | None = loop.__dict__.get("_browser_ocpp_ready")
    if installed is not None:
        return installed
    queue = ReadyQueue(loop, api or SchedulerApi.from_pyodide())
    loop.__dict__["_browser_ocpp_ready"] = queue
    loop.__dict__["call_soon"] = queue.call_soon
    return queue


def speed_up(loop: asyncio.AbstractEventLoop) -> ReadyQueue | None:
    """Install a :class:`ReadyQueue` on Pyodide's WebLoop; other loops keep their own
    ``call_soon`` (None)."""
    webloop = sys.modules.get("pyodide.webloop")
    if webloop is None or not isinstance(loop, webloop.WebLoop):
        return None
    return install_ready_queue(loop)
