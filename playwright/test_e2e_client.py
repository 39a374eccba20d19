"""BrowserOCPPClient in real Chromium against our CPython OCPPServer."""

from __future__ import annotations

import contextlib
import json
import queue
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import LoopThread, finish_py, run_py, start_py, wait_signal
from playwright.sync_api import Page

from browser_ocpp import NOREPLY, OCPPServer, OCPPServerClient

BOOT_OK = {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 300}
DEFAULT_ANSWERS = {
    "BootNotification": BOOT_OK,
    "Heartbeat": {"currentTime": "2024-01-01T00:00:00Z"},
}
BOOTS = {
    "ocpp1.6": {"chargePointVendor": "ACME", "chargePointModel": "Web"},
    "ocpp2.0.1": {"chargingStation": {"vendorName": "ACME", "model": "Web"}, "reason": "PowerUp"},
    "ocpp2.1": {"chargingStation": {"vendorName": "ACME", "model": "Web"}, "reason": "PowerUp"},
}


class CSMS:
    """A server for one test, on the background loop, recording its stations."""

    def __init__(
        self,
        loop: LoopThread,
        setup: Callable[[OCPPServerClient], None] | None,
        auth: Callable[..., Any] | None = None,
        **options: Any,
    ) -> None:
        self.loop = loop
        self.clients: queue.Queue[OCPPServerClient] = queue.Queue()
        self.server = OCPPServer(**options)
        if auth is not None:
            self.server.auth(auth)

        def on_client(client: OCPPServerClient) -> None:
            if setup is not None:
                setup(client)
            for action, answer in DEFAULT_ANSWERS.items():
                with contextlib.suppress(ValueError):  # the test registered its own
                    client.handle(action, lambda ctx, answer=answer: answer)
            self.clients.put(client)

        self.server.on("client", on_client)
        self.port = loop.run(self.server.listen(0))
        self.url = f"ws://127.0.0.1:{self.port}/ocpp"

    def next_client(self, timeout: float = 20) -> OCPPServerClient:
        return self.clients.get(timeout=timeout)

    def call(self, client: OCPPServerClient, *args: Any, **kwargs: Any) -> Any:
        return self.loop.run(client.call(*args, **kwargs))

    def restart(self, port: int) -> None:
        self.server = OCPPServer(protocols=self.server.options.protocols)
        self.server.on(
            "client",
            lambda c: (
                c.handle("Heartbeat", lambda ctx: {"currentTime": "x"}),
                self.clients.put(c),
            ),
        )
        self.loop.run(self.server.listen(port))

    def close(self) -> None:
        self.loop.run(self.server.close())


@pytest.fixture
def csms(loop_thread: LoopThread) -> Iterator[Callable[..., CSMS]]:
    made: list[CSMS] = []

    def make(setup: Callable[[OCPPServerClient], None] | None = None, **options: Any) -> CSMS:
        made.append(CSMS(loop_thread, setup, **options))
        return made[-1]

    yield make
    for server in made:
        server.close()


def station(url: str, protocol: str = "ocpp1.6", **options: Any) -> str:
    """Python that creates ``client`` in the page (not yet connected)."""
    opts = {"identity": "WEB-1", "endpoint": url, "protocols": [protocol], **options}
    return f"""
import asyncio, json
from js import signal
from browser_ocpp import BrowserOCPPClient, NOREPLY
client = BrowserOCPPClient(**json.loads({json.dumps(json.dumps(opts))}))
events = []
for name in ("open", "close", "disconnect", "reconnect", "connecting", "bad_message"):
    client.on(name, lambda event, name=name: events.append([name, repr(event)]))
"""


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
def test_connect_and_boot(
    open_page: Callable[..., Page], csms: Callable[..., CSMS], protocol: str
) -> None:
    server = csms(protocols=[protocol], strict_mode=True)
    page = open_page()
    result = run_py(
        page,
        station(server.url, protocol, strict_mode=True)
        + f"""
await client.connect()
boot = await client.call("BootNotification", {BOOTS[protocol]!r})
out = {{"protocol": client.protocol, "state": int(client.state), "boot": boot}}
await client.close()
json.dumps(out)
""",
    )
    assert result == {"protocol": protocol, "state": 1, "boot": BOOT_OK}
    assert server.next_client().identity == "WEB-1"


def test_server_call_answered_by_a_page_handler_and_noreply(
    open_page: Callable[..., Page], csms: Callable[..., CSMS]
) -> None:
    from browser_ocpp import CallTimeoutError

    server = csms(protocols=["ocpp1.6"])
    page = open_page()
    run_py(
        page,
        station(server.url)
        + """
def reset(ctx):
    return {"status": "Accepted" if ctx.params["type"] == "Soft" else "Rejected"}
client.handle("Reset", reset)
client.handle("ocpp1.6", "ClearCache", lambda ctx: NOREPLY)
await client.connect()
json.dumps(True)
""",
    )
    remote = server.next_client()
    assert server.call(remote, "Reset", {"type": "Soft"}) == {"status": "Accepted"}
    assert server.call(remote, "Reset", {"type": "Hard"}) == {"status": "Rejected"}
    with pytest.raises(CallTimeoutError):
        server.call(remote, "ClearCache", {}, timeout_ms=300)
    with pytest.raises(Exception, match="not supported"):
        server.call(remote, "UnlockConnector", {"connectorId": 1})


def test_call_concurrency_serial_parallel_and_reconfigure(
    open_page: Callable[..., Page], csms: Callable[..., CSMS]
) -> None:
    import asyncio

    peaks: list[int] = []
    active = 0

    def setup(client: OCPPServerClient) -> None:
        async def data(ctx: Any) -> dict[str, Any]:
            nonlocal active
            active += 1
            peaks.append(active)
            await asyncio.sleep(0.05)  # hold the call open so overlap would show
            active -= 1
            return {"status": "Accepted"}

        client.handle("DataTransfer", data)

    server = csms(setup, protocols=["ocpp1.6"])
    page = open_page()
    run_py(
        page,
        station(server.url)
        + """
await client.connect()
async def burst():
    await asyncio.gather(*(client.call("DataTransfer", {"vendorId": "v"}) for _ in range(4)))
await burst()
client.reconfigure(call_concurrency=4)
await burst()
json.dumps(True)
""",
    )
    assert max(peaks[:4]) == 1  # concurrency 1: strictly serial
    assert max(peaks[4:]) == 4  # reconfigured live: all four at once


def test_call_timeout(open_page: Callable[..., Page], csms: Callable[..., CSMS]) -> None:
    server = csms(lambda c: c.handle("Heartbeat", lambda ctx: NOREPLY), protocols=["ocpp1.6"])
    page = open_page()
    result = run_py(
        page,
        station(server.url, call_timeout_ms=300)
        + """
from browser_ocpp import CallTimeoutError
await client.connect()
try:
    await client.call("Heartbeat", {})
    out = "no timeout"
except CallTimeoutError as exc:
    out = [type(exc).__name__, isinstance(exc, TimeoutError), str(exc)]
json.dumps(out)
""",
    )
    assert result == ["CallTimeoutError", True, "Heartbeat got no response within 300 ms"]


def test_reconnect_with_backoff_then_give_up(
    open_page: Callable[..., Page], csms: Callable[..., CSMS]
) -> None:
    server = csms(protocols=["ocpp1.6"])
    page = open_page()
    start_py(
        page,
        station(server.url, backoff_min=50, backoff_max=200, max_reconnects=3)
        + """
reconnects = []
client.on("reconnect", lambda e: reconnects.append([e.attempt, e.delay]))
await client.connect()
signal("connected")
dropped = asyncio.get_running_loop().create_future()
client.once("disconnect", lambda e: dropped.set_result(e.code))
code = await asyncio.wait_for(dropped, 20)
reopened = asyncio.get_running_loop().create_future()
client.once("open", lambda e: reopened.set_result(True))
await asyncio.wait_for(reopened, 20)
back = await client.call("Heartbeat", {})
signal("reconnected")
closed = asyncio.get_running_loop().create_future()
client.once("close", lambda e: closed.set_result([e.code, e.reason]))
final = await asyncio.wait_for(closed, 30)
state = int(client.state)
json.dumps({"code": code, "back": back, "reconnects": reconnects, "final": final, "state": state})
""",
    )
    wait_signal(page, "connected")
    server.next_client()
    port = server.port
    server.close()  # drops the station: it starts reconnecting
    server.restart(port)
    wait_signal(page, "reconnected")
    server.close()  # and again, now for good: no server on the port any more
    result = finish_py(page)
    assert result["code"] == 1001 and result["back"] == {"currentTime": "x"}
    attempts = [attempt for attempt, _ in result["reconnects"]]
    assert attempts[0] == 1 and attempts[-3:] == [1, 2, 3]
    assert all(50 <= delay <= 200 for _, delay in result["reconnects"])
    assert result["final"][0] == 1006 and "likely causes" in result["final"][1]
    assert result["state"] == 3


def test_max_bad_messages_closes_with_1002(
    open_page: Callable[..., Page], csms: Callable[..., CSMS]
) -> None:
    server = csms(protocols=["ocpp1.6"])
    page = open_page()
    start_py(
        page,
        station(server.url, max_bad_messages=2, reconnect=False)
        + """
bad = []
client.on("bad_message", lambda e: bad.append(str(e.error)))
closed = asyncio.get_running_loop().create_future()
client.once("close", lambda e: closed.set_result([e.code, e.reason]))
await client.connect()
signal("connected")
final = await asyncio.wait_for(closed, 20)
json.dumps({"final": final, "bad": bad})
""",
    )
    wait_signal(page, "connected")
    remote = server.next_client()
    disconnected: queue.Queue[Any] = queue.Queue()
    remote.on("disconnect", disconnected.put)
    server.loop.run(remote.send_raw("this is not json"))
    server.loop.run(remote.send_raw('[2,"x"]'))
    result = finish_py(page)
    assert result["final"] == [1002, "too many bad messages"]
    assert len(result["bad"]) == 2
    assert disconnected.get(timeout=10).code == 4002  # 1002 is mapped: the browser refuses it


def test_server_side_bad_message_limit_closes_the_page_with_1002(
    open_page: Callable[..., Page], csms: Callable[..., CSMS]
) -> None:
    server = csms(protocols=["ocpp1.6"], max_bad_messages=1)
    page = open_page()
    result = run_py(
        page,
        station(server.url, reconnect=False)
        + """
closed = asyncio.get_running_loop().create_future()
client.once("close", lambda e: closed.set_result([e.code, e.reason]))
await client.connect()
await client.send_raw("garbage")
json.dumps(await asyncio.wait_for(closed, 20))
""",
    )
    assert result == [1002, "too many bad messages"]


def test_strict_mode_rejects_both_ways(
    open_page: Callable[..., Page], csms: Callable[..., CSMS]
) -> None:
    server = csms(
        lambda c: c.handle("Authorize", lambda ctx: {"idTagInfo": {"status": "Maybe"}}),
        protocols=["ocpp1.6"],
        strict_mode=True,
        strict_mode_methods=["BootNotification"],  # so its bad Authorize answer goes out
    )
    page = open_page()
    result = run_py(
        page,
        station(server.url, strict_mode=True)
        + """
from browser_ocpp import RPCError
await client.connect()
out = {}
try:
    await client.call("BootNotification", {"chargePointVendor": "only"})
except RPCError as exc:
    out["outbound"] = [type(exc).__name__, exc.wire_code("ocpp1.6")]
client.reconfigure(strict_mode=False)
try:
    await client.call("BootNotification", {"chargePointVendor": "only"})
except RPCError as exc:
    out["server"] = [type(exc).__name__, exc.received_code]
client.reconfigure(strict_mode=True)
try:
    await client.call("Authorize", {"idTag": "TAG"})
except RPCError as exc:
    out["response"] = [type(exc).__name__, exc.details.get("path")]
json.dumps(out)
""",
    )
    assert result == {
        "outbound": ["RPCOccurrenceConstraintViolationError", "OccurenceConstraintViolation"],
        "server": ["RPCOccurrenceConstraintViolationError", "OccurenceConstraintViolation"],
        "response": ["RPCPropertyConstraintViolationError", "$.idTagInfo.status"],
    }


def test_send_raw(open_page: Callable[..., Page], csms: Callable[..., CSMS]) -> None:
    server = csms(protocols=["ocpp1.6"])
    page = open_page()
    start_py(
        page,
        station(server.url)
        + """
got = asyncio.get_running_loop().create_future()
def on_message(event):
    if not event.outbound and not got.done():
        got.set_result(event.message)
client.on("message", on_message)
await client.connect()
await client.send_raw('[2,"raw-1","Heartbeat",{}]')
json.dumps(await asyncio.wait_for(got, 20))
""",
    )
    assert json.loads(finish_py(page)) == [3, "raw-1", {"currentTime": "2024-01-01T00:00:00Z"}]


def test_close_await_pending_and_force(
    open_page: Callable[..., Page], csms: Callable[..., CSMS]
) -> None:
    import asyncio

    async def slow(ctx: Any) -> dict[str, Any]:
        await asyncio.sleep(0.3)
        return {"status": "Accepted"}

    server = csms(lambda c: c.handle("DataTransfer", slow), protocols=["ocpp1.6"])
    page = open_page()
    result = run_py(
        page,
        station(server.url, reconnect=False)
        + """
from browser_ocpp import ConnectionClosedError
out = {}
await client.connect()
pending = asyncio.ensure_future(client.call("DataTransfer", {"vendorId": "v"}))
await asyncio.sleep(0.05)
closed = await client.close(1000, "graceful")
out["graceful"] = [closed.code, await pending]
await client.connect()
pending = asyncio.ensure_future(client.call("DataTransfer", {"vendorId": "v"}))
await asyncio.sleep(0.05)
await client.close(force=True)
try:
    await pending
    out["force"] = "finished"
except ConnectionClosedError as exc:
    out["force"] = ["rejected", int(client.state)]
json.dumps(out)
""",
    )
    assert result == {"graceful": [1000, {"status": "Accepted"}], "force": ["rejected", 3]}


@pytest.mark.parametrize("case", ["no common subprotocol", "unknown identity", "bad password"])
def test_refused_handshakes_name_the_likely_causes(
    open_page: Callable[..., Page], csms: Callable[..., CSMS], case: str
) -> None:
    if case == "no common subprotocol":
        server = csms(protocols=["ocpp2.0.1"])
    elif case == "unknown identity":
        server = csms(protocols=["ocpp1.6"], auth=lambda ctx: ctx.reject(404, "unknown station"))
    else:  # a browser cannot send Basic credentials: the server refuses with 401
        server = csms(protocols=["ocpp1.6"], security_profile=1, auth=lambda ctx: ctx.accept())
    page = open_page()
    result = run_py(
        page,
        station(server.url, reconnect=False)
        + """
from browser_ocpp import WebsocketUpgradeError
try:
    await client.connect()
    out = "connected"
except WebsocketUpgradeError as exc:
    out = str(exc)
json.dumps(out)
""",
    )
    assert "likely causes" in result
    assert (
        "subprotocols (ocpp1.6)" in result
        and "401/403/404" in result
        and "server is down" in result
    )


def test_offline_queue_delivers_calls_made_while_disconnected(
    open_page: Callable[..., Page], csms: Callable[..., CSMS]
) -> None:
    received: list[str] = []
    server = csms(protocols=["ocpp1.6"])
    page = open_page()
    start_py(
        page,
        station(server.url, offline_queue=True, backoff_min=100, backoff_max=300)
        + """
await client.connect()
signal("connected")
dropped = asyncio.get_running_loop().create_future()
client.once("disconnect", lambda e: dropped.set_result(True))
await asyncio.wait_for(dropped, 20)
def data(i):
    return client.call("DataTransfer", {"vendorId": "v", "data": str(i)})
calls = [asyncio.ensure_future(data(i)) for i in range(3)]
signal("queued")
results = await asyncio.wait_for(asyncio.gather(*calls), 30)
json.dumps(results)
""",
    )
    wait_signal(page, "connected")
    port = server.port
    server.close()
    wait_signal(page, "queued")
    server.server = OCPPServer(protocols=["ocpp1.6"])
    server.server.on(
        "client",
        lambda c: c.handle(
            "DataTransfer",
            lambda ctx: received.append(ctx.params["data"]) or {"status": "Accepted"},
        ),
    )
    server.loop.run(server.server.listen(port))
    assert finish_py(page) == [{"status": "Accepted"}] * 3
    assert received == ["0", "1", "2"]


def test_proxies_are_released_across_reconnects(
    open_page: Callable[..., Page], csms: Callable[..., CSMS]
) -> None:
    server = csms(protocols=["ocpp1.6"])
    page = open_page()
    start_py(
        page,
        station(server.url, backoff_min=20, backoff_max=50)
        + """
from browser_ocpp.browser import BrowserTransport
counts = []
async def reopened():
    future = asyncio.get_running_loop().create_future()
    client.once("open", lambda e: future.set_result(True))
    await asyncio.wait_for(future, 20)
    await asyncio.sleep(0)
    counts.append(BrowserTransport.live_proxies)
await client.connect()
counts.append(BrowserTransport.live_proxies)
for i in range(3):
    signal(f"drop-{i}")
    await reopened()
await client.close()
await asyncio.sleep(0)
counts.append(BrowserTransport.live_proxies)
json.dumps(counts)
""",
    )
    for i in range(3):
        wait_signal(page, f"drop-{i}")
        remote = server.next_client()
        server.loop.run(remote.close(4000, "drop"))
    assert finish_py(page) == [4, 4, 4, 4, 0]


def test_pyscript_page_boots_a_station(
    open_page: Callable[..., Page], csms: Callable[..., CSMS]
) -> None:
    server = csms(protocols=["ocpp2.0.1"])
    page = open_page(f"/pyscript.html?csms={server.url}", wait_ready=False)
    page.wait_for_function(
        "document.getElementById('status').textContent.startsWith('booted')", timeout=60_000
    )
    assert page.text_content("#status") == "booted: Accepted"
    assert server.next_client().identity == "PYSCRIPT-1"
