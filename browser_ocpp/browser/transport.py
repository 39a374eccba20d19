"""The peer's transport over the browser's own ``WebSocket``, through ``pyodide.ffi``.

Nothing here imports ``js`` or ``pyodide`` at module level: :class:`JSApi` looks them
up when a socket is opened, so this module imports (and is unit-tested) in CPython.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..rpc.errors import WebsocketUpgradeError
from .scheduler import installed_queue

if TYPE_CHECKING:
    from ..peer import RPCPeer

__all__ = ["BrowserTransport", "JSApi", "browser_close_code", "open_browser_socket"]

OPEN = 1
CLOSE_WAIT_S = 5.0
MAX_REASON_BYTES = 123
_EVENTS = ("open", "message", "error", "close")


def browser_close_code(code: int) -> int:
    """A code ``WebSocket.close`` accepts: 1000 or 3000-4999 pass; 1001-1015 become
    4001-4015 (the same last digits, in the private range); anything else 1000."""
    if code == 1000 or 3000 <= code <= 4999:
        return code
    if 1001 <= code <= 1015:
        return 4000 + code - 1000
    return 1000


def _reason(reason: str) -> str:
    """``WebSocket.close`` refuses reasons over 123 UTF-8 bytes: cut at a character."""
    return reason.encode("utf-8")[:MAX_REASON_BYTES].decode("utf-8", errors="ignore")


def _data_listener(handler: Any) -> Callable[[Any], Any]:
    """A ``message`` listener that hands ``handler`` the event's data (CPython tests)."""
    return lambda event: handler(event.data)


DATA_LISTENER_JS = "(handler) => (event) => handler(event.data)"
"""JS that makes a socket's ``message`` listener: it calls the Python handler with
``event.data``, so no proxy of the event is made per message (that proxy and the
``.data`` lookup through it cost more than the rest of the receive path's FFI)."""


@dataclass(frozen=True, slots=True)
class JSApi:
    """The JS entry points the transport needs (replaceable in tests).

    ``data_listener(handler)`` gives the ``message`` listener that calls ``handler``
    with ``event.data``."""

    websocket: Any
    create_proxy: Callable[[Callable[..., Any]], Any]
    to_js: Callable[[Any], Any]
    data_listener: Callable[[Any], Any] = _data_listener

    @classmethod
    def from_pyodide(cls) -> JSApi:
        try:
            import js
            from pyodide.code import run_js
            from pyodide.ffi import create_proxy, to_js
        except ImportError as exc:
            raise RuntimeError(
                "BrowserOCPPClient needs Pyodide in a browser (or a JS runtime with WebSocket)"
            ) from exc
        return cls(js.WebSocket, create_proxy, to_js, run_js(DATA_LISTENER_JS))


def _failure(url: str, protocols: Sequence[str]) -> WebsocketUpgradeError:
    offered = ", ".join(protocols) or "none"
    return WebsocketUpgradeError(
        f"could not connect to {url} (WebSocket closed with 1006 before opening). "
        "Browsers hide the HTTP status of a refused handshake; likely causes: the server "
        f"speaks none of the offered subprotocols ({offered}); it refused the identity "
        "or the credentials (HTTP 401/403/404); the server is down or the URL is wrong; "
        "or a TLS certificate the browser does not trust."
    )


class BrowserTransport:
    """One browser ``WebSocket``; each message goes to the peer from the socket's own
    ``message`` event (in order: the peer's receive path never awaits), and the loss of
    the connection follows the last message."""

    live_proxies = 0
    """Event-handler proxies not yet destroyed, across all sockets (for leak checks)."""

    def __init__(self, socket: Any, api: JSApi) -> None:
        self.socket = socket
        self._api = api
        self._peer: RPCPeer | None = None
        self._early: list[str | bytes] = []
        """Messages received before :meth:`start` (delivered first, in order)."""
        self._proxies: dict[str, tuple[Any, Any]] = {}
        """Per event: the listener added to the socket and the proxy it calls."""
        self._send = socket.send  # looked up once: each lookup through the FFI costs
        self._loop = asyncio.get_running_loop()
        self._opened: asyncio.Future[None] = self._loop.create_future()
        self._closed: asyncio.Future[tuple[int, str]] = self._loop.create_future()
        self._requested: tuple[int, str] | None = None
        self._lost: asyncio.Future[None] = self._loop.create_future()
        """Done once the peer has been told the connection is gone."""
        for name in _EVENTS:
            proxy = api.create_proxy(getattr(self, f"_on_{name}"))
            listener = api.data_listener(proxy) if name == "message" else proxy
            socket.addEventListener(name, listener)
            self._proxies[name] = (listener, proxy)
            BrowserTransport.live_proxies += 1

    # -- JS event handlers ------------------------------------------------------------

    def _on_open(self, event: Any) -> None:
        if not self._opened.done():
            self._opened.set_result(None)

    def _on_message(self, data: Any) -> None:
        """The ``message`` event's data (see :data:`DATA_LISTENER_JS`): text, or an
        ArrayBuffer for a binary frame."""
        if not isinstance(data, str):  # ArrayBuffer/Blob: binary frames are bad messages
            data = data.to_bytes() if hasattr(data, "to_bytes") else bytes(str(data), "utf-8")
        peer = self._peer
        if peer is None:
            self._early.append(data)
            return
        queue = installed_queue(self._loop)  # looked up each time: it may be uninstalled
        if queue is None:
            peer.receive(data, self)  # bytes: a bad message
        else:  # the caller an answer wakes runs now, not in a microtask after this
            queue.deliver(peer.receive, data, self)

    def _on_error(self, event: Any) -> None:
        """Browsers give no detail here; the close event that follows carries the code."""

    def _on_close(self, event: Any) -> None:
        code, reason = int(event.code), str(event.reason)
        if self._requested is not None:  # report what was asked, not the mapped wire code
            code, reason = self._requested
        if not self._closed.done():
            self._closed.set_result((code, reason))
        if not self._opened.done():
            self._opened.set_exception(ConnectionError(code, reason))
            self._opened.exception()  # retrieved: open_browser_socket may have timed out
        loop = asyncio.get_running_loop()
        loop.call_soon(self._release)  # not from inside the handler
        if self._peer is not None:
            loop.call_soon(self._tell_lost)

    def _release(self) -> None:
        """Remove and destroy the handler proxies (after ``close`` has fired)."""
        for name, (listener, proxy) in self._proxies.items():
            self.socket.removeEventListener(name, listener)
            proxy.destroy()
            BrowserTransport.live_proxies -= 1
        self._proxies.clear()

    # -- Transport ----------------------------------------------------------------------

    async def send(self, text: str) -> None:
        self.send_now(text)

    def send_now(self, text: str) -> None:
        if self.socket.readyState != OPEN:
            raise ConnectionError("the browser WebSocket is not open")
        self._send(text)

    async def close(self, code: int, reason: str, *, force: bool = False) -> None:
        if self._requested is None and not self._closed.done():
            self._requested = (code, reason)
            self.socket.close(browser_close_code(code), _reason(reason))
        if force:  # the browser has no abort: the connection ends here, as an abort would
            self._abandon()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._closed), CLOSE_WAIT_S)
        if self._peer is not None:
            await asyncio.wait([self._lost], timeout=CLOSE_WAIT_S)

    def _abandon(self) -> None:
        """Stop delivering and tell the peer the connection is gone now, not when the
        closing handshake ends: a connect right after must not be ended by this
        socket's late close event (its messages meanwhile are dropped, as an aborted
        connection's would be)."""
        if not self._closed.done():
            self._closed.set_result(self._requested or (1006, ""))
        self._early.clear()
        self._tell_lost()

    def start(self, peer: RPCPeer) -> None:
        self._peer = peer
        early, self._early = self._early, []
        for data in early:
            peer.receive(data, self)  # type: ignore[arg-type]  # bytes -> bad message
        if self._closed.done():  # closed before the peer took it
            asyncio.get_running_loop().call_soon(self._tell_lost)

    def _tell_lost(self) -> None:
        if self._lost.done() or self._peer is None:
            return
        self._lost.set_result(None)
        code, reason = self._closed.result() if self._closed.done() else (1006, "")
        self._peer.connection_lost(code, reason, self)

    @property
    def buffered_amount(self) -> int:
        return int(self.socket.bufferedAmount)


async def open_browser_socket(
    url: str, protocols: Sequence[str], api: JSApi | None = None, timeout_s: float = 30.0
) -> tuple[BrowserTransport, str | None]:
    """Open a browser WebSocket; the transport and the subprotocol the server chose."""
    api = api or JSApi.from_pyodide()
    socket = api.websocket.new(url, api.to_js(list(protocols)))
    socket.binaryType = "arraybuffer"
    transport = BrowserTransport(socket, api)
    try:
        await asyncio.wait_for(asyncio.shield(transport._opened), timeout_s)
    except (ConnectionError, TimeoutError) as exc:
        if isinstance(exc, TimeoutError):
            socket.close(1000, "")
        raise _failure(url, protocols) from exc
    except BaseException:  # cancelled (close() during a reconnect): do not leave it open
        socket.close(1000, "")
        raise
    return transport, (str(socket.protocol) or None)
