"""BrowserOCPPClient under CPython, on a stand-in for the browser's JS WebSocket.

The stand-in behaves as the browser does (events via addEventListener, only 1000
and 3000-4999 accepted by close(), 1006 for a refused handshake) and carries frames
to a real RPCPeer; the real browser is covered by the Playwright suite.
"""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest

from browser_ocpp import (
    NOREPLY,
    BrowserOCPPClient,
    CloseEvent,
    RPCPeer,
    State,
    WebsocketUpgradeError,
)
from browser_ocpp.browser import BrowserTransport, JSApi, browser_close_code
from browser_ocpp.browser.transport import open_browser_socket

from ..peer.conftest import collect, expect, wait


class FakeProxy:
    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.destroyed = False

    def __call__(self, *args: Any) -> Any:
        if self.destroyed:
            raise RuntimeError("Object has already been destroyed")
        return self.fn(*args)

    def destroy(self) -> None:
        self.destroyed = True


class Hub:
    """Where fake sockets connect: a server-side RPCPeer per connection."""

    def __init__(self, protocol: str | None = "ocpp1.6") -> None:
        self.protocol = protocol
        self.refuse = False
        self.sockets: list[FakeWebSocket] = []
        self.servers: list[RPCPeer] = []
        self.setup: Callable[[RPCPeer], None] = lambda peer: None


class ServerSide:
    """The server peer's transport: frames go to the fake browser socket."""

    def __init__(self, socket: FakeWebSocket) -> None:
        self.socket = socket

    async def send(self, text: str) -> None:
        self.send_now(text)

    def send_now(self, text: str) -> None:
        self.socket.fire("message", data=text)

    async def close(self, code: int, reason: str, *, force: bool = False) -> None:
        self.socket.remote_close(1006 if force else code, "" if force else reason)

    def start(self, peer: RPCPeer) -> None:
        pass


class FakeWebSocket:
    hub: Hub

    def __init__(self, url: str, protocols: list[str]) -> None:
        self.url, self.protocols = url, protocols
        self.listeners: dict[str, list[Any]] = {}
        self.readyState = 0
        self.protocol = ""
        self.binaryType = "blob"
        self.closed_with: tuple[int, str] | None = None
        self.server: RPCPeer | None = None
        self.hub.sockets.append(self)
        asyncio.get_running_loop().call_soon(self._handshake)

    @classmethod
    def new(cls, url: str, protocols: list[str]) -> FakeWebSocket:
        return cls(url, protocols)

    def addEventListener(self, name: str, fn: Any) -> None:
        self.listeners.setdefault(name, []).append(fn)

    def removeEventListener(self, name: str, fn: Any) -> None:
        self.listeners[name].remove(fn)

    def fire(self, name: str, **fields: Any) -> None:
        event = types.SimpleNamespace(**fields)
        for fn in list(self.listeners.get(name, [])):
            fn(event)

    def _handshake(self) -> None:
        hub = self.hub
        if hub.refuse or (hub.protocol and hub.protocol not in self.protocols):
            self.readyState = 3
            self.fire("error")
            self.fire("close", code=1006, reason="")
            return
        self.readyState = 1
        self.protocol = hub.protocol or ""
        server = RPCPeer()
        hub.setup(server)
        server.attach(ServerSide(self), hub.protocol)
        hub.servers.append(server)
        self.server = server
        self.fire("open")

    def send(self, data: str) -> None:
        assert self.readyState == 1 and self.server is not None
        asyncio.get_running_loop().call_soon(self.server.receive, data)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if code != 1000 and not 3000 <= code <= 4999:
            raise ValueError(f"InvalidAccessError: The close code must be ... {code} is neither")
        if len(reason.encode()) > 123:
            raise ValueError("SyntaxError: The message must not be greater than 123 bytes")
        self.closed_with = (code, reason)
        self.remote_close(code, reason)

    def remote_close(self, code: int, reason: str) -> None:
        if self.readyState == 3:
            return
        self.readyState = 3

        def finish() -> None:
            if self.server is not None:
                self.server.connection_lost(code, reason)
            self.fire("close", code=code, reason=reason)

        asyncio.get_running_loop().call_soon(finish)


@pytest.fixture
def hub() -> Hub:
    hub = Hub()
    hub.setup = lambda peer: peer.handle("Heartbeat", lambda ctx: {"currentTime": "t"})
    return hub


@pytest.fixture
def api(hub: Hub) -> JSApi:
    socket_class = type("BoundFakeWebSocket", (FakeWebSocket,), {"hub": hub})
    return JSApi(socket_class, FakeProxy, lambda value: value)


def make(api: JSApi, **options: Any) -> BrowserOCPPClient:
    options.setdefault("identity", "CP 1")
    options.setdefault("endpoint", "ws://127.0.0.1:9/ocpp?site=a")
    options.setdefault("protocols", ["ocpp1.6"])
    options.setdefault("backoff_min", 5)
    options.setdefault("backoff_max", 20)
    return BrowserOCPPClient(js_api=api, **options)


async def test_connect_builds_the_url_and_negotiates(api: JSApi, hub: Hub) -> None:
    client = make(api, query={"token": "x y", "site": "b"})
    await wait(client.connect())
    socket = hub.sockets[0]
    assert socket.url == "ws://127.0.0.1:9/ocpp/CP%201?token=x+y&site=b"
    assert socket.protocols == ["ocpp1.6"] and socket.binaryType == "arraybuffer"
    assert (client.state, client.protocol, client.identity) == (State.OPEN, "ocpp1.6", "CP 1")
    assert await wait(client.call("Heartbeat", {})) == {"currentTime": "t"}
    await client.close()


async def test_server_calls_reach_page_handlers(api: JSApi, hub: Hub) -> None:
    client = make(api)
    client.handle("Reset", lambda ctx: {"status": "Accepted"})
    await wait(client.connect())
    assert await wait(hub.servers[0].call("Reset", {"type": "Soft"})) == {"status": "Accepted"}
    await client.close()


@pytest.mark.parametrize(
    ("code", "wire"),
    [
        (1000, 1000),
        (1001, 4001),
        (1002, 4002),
        (1011, 4011),
        (3000, 3000),
        (4999, 4999),
        (2000, 1000),
        (999, 1000),
    ],
)
def test_close_codes_the_browser_refuses_are_mapped(code: int, wire: int) -> None:
    assert browser_close_code(code) == wire


async def test_close_with_a_refused_code_does_not_throw(api: JSApi, hub: Hub) -> None:
    client = make(api)
    await wait(client.connect())
    closed = expect(client, "close")
    event = await wait(client.close(1001, "é" * 100))
    assert event == CloseEvent(1001, "é" * 100)
    code, reason = hub.sockets[0].closed_with  # type: ignore[misc]
    assert code == 4001 and len(reason.encode()) <= 123 and reason == "é" * 61
    assert (await wait(closed)).code == 1001  # what was asked, not the mapped code


async def test_refused_handshake_names_the_likely_causes(api: JSApi, hub: Hub) -> None:
    hub.refuse = True
    client = make(api, protocols=["ocpp2.0.1"])
    with pytest.raises(WebsocketUpgradeError) as caught:
        await wait(client.connect())
    message = str(caught.value)
    for cause in ("subprotocols (ocpp2.0.1)", "401/403/404", "server is down", "TLS"):
        assert cause in message
    assert client.state is State.CLOSED


async def test_proxies_are_released_with_no_leak_across_reconnects(api: JSApi, hub: Hub) -> None:
    base = BrowserTransport.live_proxies
    client = make(api)
    await wait(client.connect())
    assert BrowserTransport.live_proxies == base + 4
    for _ in range(3):
        opened = expect(client, "open")
        await hub.servers[-1].close(1012, "restart")
        await wait(opened)
        await asyncio.sleep(0)  # the old socket's proxies go on the next loop turn
        assert BrowserTransport.live_proxies == base + 4
    first = hub.sockets[0]
    assert first.listeners == {name: [] for name in ("open", "message", "error", "close")}
    await client.close()
    await asyncio.sleep(0)
    assert BrowserTransport.live_proxies == base


async def test_reconnect_events_and_give_up(api: JSApi, hub: Hub) -> None:
    client = make(api, max_reconnects=2)
    await wait(client.connect())
    reconnects = collect(client, "reconnect")
    closed = expect(client, "close")
    hub.refuse = True
    await hub.servers[-1].close(1001, "bye")
    event = await wait(closed)
    assert [r.attempt for r in reconnects] == [1, 2]
    assert all(5 <= r.delay <= 20 for r in reconnects)
    assert event.code == 1006 and "likely causes" in event.reason


async def test_binary_frames_are_bad_messages(api: JSApi, hub: Hub) -> None:
    client = make(api)
    await wait(client.connect())
    bad = expect(client, "bad_message")

    class Buffer:
        def to_bytes(self) -> bytes:
            return b"[2]"

    hub.sockets[0].fire("message", data=Buffer())
    assert "binary" in str((await wait(bad)).error)
    await client.close()


async def test_send_raw_and_offline_queue(api: JSApi, hub: Hub) -> None:
    client = make(api, offline_queue=True)
    queued = asyncio.ensure_future(client.call("Heartbeat", {}))
    await wait(client.connect())
    assert await wait(queued) == {"currentTime": "t"}
    seen = collect(hub.servers[0], "message")
    await client.send_raw('[2,"raw","Heartbeat",{}]')
    await seen.wait_len(1)
    assert seen[0].message == '[2,"raw","Heartbeat",{}]'
    await client.close()


def test_without_a_browser_the_error_is_clear() -> None:
    with pytest.raises(RuntimeError, match="needs Pyodide"):
        JSApi.from_pyodide()


async def test_logs_go_to_the_browser_console(monkeypatch: pytest.MonkeyPatch, api: JSApi) -> None:
    lines: list[tuple[str, str]] = []
    console = types.SimpleNamespace(
        **{
            m: (lambda text, m=m: lines.append((m, text)))
            for m in ("debug", "info", "warn", "error")
        }
    )
    monkeypatch.setitem(sys.modules, "js", types.SimpleNamespace(console=console))
    client = make(api, logging={"level": "debug", "prettify_source": True})
    client.logger.info("Retrying connection...")
    client.logger.error("broken")
    client.logger.debug("detail")
    assert lines == [
        ("info", "[BrowserOCPPClient/CP 1] Retrying connection..."),
        ("error", "[BrowserOCPPClient/CP 1] broken"),
        ("debug", "[BrowserOCPPClient/CP 1] detail"),
    ]


async def test_a_logging_handler_adds_to_the_browser_console(
    monkeypatch: pytest.MonkeyPatch, api: JSApi, capsys: pytest.CaptureFixture[str]
) -> None:
    from browser_ocpp import LogEntry

    lines: list[tuple[str, str]] = []
    console = types.SimpleNamespace(
        **{
            m: (lambda text, m=m: lines.append((m, text)))
            for m in ("debug", "info", "warn", "error")
        }
    )
    monkeypatch.setitem(sys.modules, "js", types.SimpleNamespace(console=console))
    entries: list[LogEntry] = []
    client = make(api, logging={"handler": entries.append, "show_source_meta": False})
    client.logger.warn("both")
    assert lines == [("warn", "both")] and [e.message for e in entries] == ["both"]
    assert capsys.readouterr().err == ""


def test_library_logs_go_to_the_console_not_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    from browser_ocpp.browser.console import route_library_logs_to_console

    lines: list[tuple[str, str]] = []
    console = types.SimpleNamespace(
        **{m: (lambda text, m=m: lines.append((m, text))) for m in ("info", "warn", "error")}
    )
    monkeypatch.setitem(sys.modules, "js", types.SimpleNamespace(console=console))
    logger = logging.getLogger("browser_ocpp")
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", True)
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    route_library_logs_to_console()
    logging.getLogger("browser_ocpp.events").error("listener for 'open' raised")
    assert lines == [("error", "browser_ocpp.events: listener for 'open' raised")]
    assert capsys.readouterr().err == ""


async def test_a_cancelled_open_closes_its_socket(api: JSApi, hub: Hub) -> None:
    base = BrowserTransport.live_proxies
    client = make(api)
    connecting = asyncio.ensure_future(client.connect())
    await asyncio.sleep(0)  # the socket exists, its open event has not fired yet
    connecting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await connecting
    socket = hub.sockets[0]
    assert socket.closed_with == (1000, "")
    for _ in range(3):  # the close event and the proxy release take a loop turn each
        await asyncio.sleep(0)
    assert BrowserTransport.live_proxies == base


async def test_messages_before_start_are_delivered_first_in_order(api: JSApi, hub: Hub) -> None:
    """The socket delivers from its message event; what arrives before the peer takes
    the transport waits, then goes first, in order, and a close that came meanwhile
    reaches the peer after them."""
    transport, protocol = await wait(
        open_browser_socket("ws://127.0.0.1:9/ocpp/CP-1", ["ocpp1.6"], api)
    )
    server_side: Any = hub.servers[-1]._transport
    for i in range(3):
        server_side.send_now(f'[2,"m{i}","DataTransfer",{{"vendorId":"V"}}]')
    await hub.servers[-1].close(1012, "restart")
    station = RPCPeer()
    seen: list[str] = []
    station.handle("DataTransfer", lambda ctx: seen.append(ctx.message_id) or NOREPLY)
    closed = expect(station, "close")
    station.attach(transport, protocol)
    transport.start(station)
    assert seen == ["m0", "m1", "m2"]
    assert (await wait(closed)).code == 1012


async def test_a_forced_close_has_ended_the_connection_when_it_returns(
    api: JSApi, hub: Hub
) -> None:
    """A dropped connection (the emulator's disconnect fault: ``close(force=True)``)
    is over for the client once the close returns, as with the CPython transport: a
    connect right after opens a new socket and calls go over it. (The browser's close
    event came a turn later and ended the new connection's client: the bench's
    RECONNECT case failed in the browser, its Heartbeat unanswered.)"""
    client = make(api, reconnect=False)  # as the bench's stations are
    await wait(client.connect())
    transport: Any = client._transport
    await transport.close(1006, "", force=True)  # not wait(): no loop turn in between
    assert client.state is State.CLOSED
    await wait(client.connect())
    assert len(hub.sockets) == 2
    for _ in range(3):  # the old socket's close event and proxy release come meanwhile
        await asyncio.sleep(0)
    assert await wait(client.call("Heartbeat", {})) == {"currentTime": "t"}
    await client.close()


async def test_the_message_handler_gets_the_text_not_the_event(api: JSApi, hub: Hub) -> None:
    """Python is handed ``event.data`` by the listener ``JSApi.data_listener`` makes,
    so no proxy of the event is made per message (in the browser that listener is
    JS); the proxies of the other events still get their event."""
    called: list[tuple[str, Any]] = []

    class RecordingProxy(FakeProxy):
        def __call__(self, *args: Any) -> Any:
            called.append((self.fn.__name__, args[0] if args else None))
            return super().__call__(*args)

    recording = JSApi(api.websocket, RecordingProxy, api.to_js)
    client = make(recording)
    await wait(client.connect())
    assert await wait(client.call("Heartbeat", {})) == {"currentTime": "t"}
    received = [arg for name, arg in called if name == "_on_message"]
    assert len(received) == 1 and isinstance(received[0], str)
    assert received[0].startswith("[3,")
    opened = [arg for name, arg in called if name == "_on_open"]
    assert len(opened) == 1 and not isinstance(opened[0], str)
    await client.close()
