"""The station-side client: connect, reconnect with backoff, offline queue.

Shared by the browser client and the CPython client; each supplies only
:meth:`RPCClient._open_transport`, how a socket is opened.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ..rpc.errors import ConnectionClosedError
from .backoff import Backoff
from .events import CloseEvent, ConnectingEvent, ReconnectEvent
from .options import ClientOptions
from .peer import RPCPeer, State
from .transport import Transport
from .urls import station_url

__all__ = ["RPCClient"]

CLOSE_ABNORMAL = 1006


class RPCClient(RPCPeer):
    """A peer that opens its own connections and reopens them when they drop.

    ``connect()`` makes one attempt and raises if it fails.  Once open, a lost
    connection is retried up to ``max_reconnects`` times with jittered exponential
    backoff between ``backoff_min`` and ``backoff_max`` (reset after every open);
    failures that retrying cannot fix (refused credentials, no common subprotocol)
    end the retries at once.  With ``offline_queue``, calls made while disconnected
    wait (up to ``offline_queue_max_size``, oldest rejected first) and go out on
    the next open.
    """

    __slots__ = ("_backoff", "_connecting", "_reconnect_task", "_wake")
    component = "RPCClient"
    options_class = ClientOptions
    _options: ClientOptions

    def __init__(self, options: ClientOptions | None = None, **kwargs: Any) -> None:
        super().__init__(options, **kwargs)
        self._backoff = Backoff(self._options.backoff_min, self._options.backoff_max)
        self._reconnect_task: asyncio.Task[None] | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._wake: asyncio.Future[None] | None = None  # ends the wait before a retry

    @property
    def options(self) -> ClientOptions:
        return self._options

    @property
    def url(self) -> str:
        """The URL the next connection attempt goes to."""
        opts = self._options
        return station_url(opts.endpoint, opts.identity, opts.query)

    @property
    def reconnect_attempt(self) -> int:
        """Reconnect attempts made since the last successful open."""
        return self._backoff.attempt

    def reconnect_now(self) -> bool:
        """Make the reconnect attempt now instead of after the backoff delay (the
        attempt counts as the one it replaces); whether one was waiting."""
        wake = self._wake
        if wake is None or wake.done():
            return False
        wake.set_result(None)
        return True

    def reconfigure(self, **options: Any) -> None:
        super().reconfigure(**options)
        self._backoff.minimum = self._options.backoff_min
        self._backoff.maximum = self._options.backoff_max
        if "identity" in options:
            self._identity = self._options.identity
            self._logger = self._logger.child(self.component, self._identity)

    async def _open_transport(self, url: str) -> tuple[Transport, str | None]:
        """Open a connection to ``url``: the transport and the agreed subprotocol."""
        raise NotImplementedError

    async def connect(self) -> None:
        """Open the connection (one attempt; raises what the attempt raised)."""
        if self._state is State.OPEN:
            return
        if self._connecting is not None:
            return await asyncio.shield(self._connecting)
        closing = self._closing
        if closing is not None and not closing.done():  # let a close in progress finish
            with contextlib.suppress(Exception):
                await asyncio.shield(closing)
        self._options.check_connectable()
        self._stop_reconnecting()
        self._closed_for_good = False
        self._closing = None
        self._connecting = asyncio.get_running_loop().create_future()
        try:
            await self._open_once()
        except BaseException as exc:
            self._state = State.CLOSED
            self._connecting.set_exception(exc)
            self._connecting.exception()
            raise
        else:
            self._connecting.set_result(None)
        finally:
            self._connecting = None

    async def _open_once(self) -> None:
        self._state = State.CONNECTING
        url = self.url
        self._logger.debug("connecting", url=url)
        self.emit("connecting", ConnectingEvent(url))
        try:
            transport, protocol = await self._open_transport(url)
        except Exception as exc:
            self._logger.warn("connection failed", url=url, error=str(exc))
            self.emit("error", exc)
            raise
        if self._closed_for_good:  # close() was called while the socket opened
            await transport.close(1000, "client closed")
            raise ConnectionClosedError("client closed while connecting")
        self.attach(transport, protocol, url)
        self._backoff.reset()
        transport.start(self)

    def _can_queue(self) -> bool:
        return self._options.offline_queue and not self._closed_for_good

    def _after_lost(self, event: CloseEvent) -> None:
        if self._closed_for_good or not self._options.reconnect:
            self._finish_close(event)
            return
        self._state = State.CONNECTING
        self._reconnect_task = self._spawn(self._reconnect(event))

    async def _reconnect(self, last: CloseEvent) -> None:
        while not self._closed_for_good:
            if self._backoff.attempt >= self._options.max_reconnects:
                self._logger.warn("giving up reconnecting", attempts=self._backoff.attempt)
                self._finish_close(last)
                return
            delay = self._backoff.next_delay()
            attempt = self._backoff.attempt
            self._logger.info("reconnecting", attempt=attempt, delay_ms=round(delay))
            self.emit("reconnect", ReconnectEvent(attempt, delay))
            wake = self._wake = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait((wake,), timeout=delay / 1000)
            finally:
                self._wake = None
                wake.cancel()
            if self._closed_for_good:
                return
            try:
                await self._open_once()
                return
            except Exception as exc:
                last = CloseEvent(CLOSE_ABNORMAL, str(exc))
                if not getattr(exc, "retryable", True):
                    self._logger.error("giving up: retrying cannot succeed", error=str(exc))
                    self._finish_close(last)
                    return
                self._state = State.CONNECTING

    def _stop_reconnecting(self) -> None:
        task, self._reconnect_task = self._reconnect_task, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
