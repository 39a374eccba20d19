"""The shared reconnect policy and offline queue, on in-memory connections."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from browser_ocpp import (
    CloseEvent,
    ConnectionClosedError,
    QueueOverflowError,
    ReconnectEvent,
    State,
    UnexpectedHttpResponse,
    WebsocketUpgradeError,
)
from browser_ocpp.peer import RPCPeer

from .conftest import Hub, MemoryClient, collect, expect, wait

FAST = {"backoff_min": 5, "backoff_max": 40}


def heartbeat(server: RPCPeer) -> None:
    server.handle("Heartbeat", lambda ctx: {"currentTime": "t"})


async def test_connect_opens_and_reports_protocol(clients: list[RPCPeer]) -> None:
    hub = Hub("ocpp2.0.1")
    client = MemoryClient(hub, identity="CP 7/x", query={"token": "a"})
    clients.append(client)
    opened = expect(client, "open")
    connecting = expect(client, "connecting")
    await wait(client.connect())
    assert client.state is State.OPEN and client.protocol == "ocpp2.0.1"
    assert (await wait(connecting)).url == "ws://memory/ocpp/CP%207%2Fx?token=a"
    assert (await wait(opened)).protocol == "ocpp2.0.1"


async def test_connect_failure_raises_and_does_not_reconnect(clients: list[RPCPeer]) -> None:
    hub = Hub()
    hub.refuse_with = UnexpectedHttpResponse(503, "Service Unavailable")
    client = MemoryClient(hub, **FAST)
    clients.append(client)
    errors = collect(client, "error")
    with pytest.raises(UnexpectedHttpResponse, match="503"):
        await wait(client.connect())
    assert client.state is State.CLOSED and hub.attempts == 1 and len(errors) == 1


@pytest.mark.parametrize("options", [{"identity": ""}, {"endpoint": "http://x"}, {"endpoint": ""}])
async def test_connect_checks_options(clients: list[RPCPeer], options: dict[str, Any]) -> None:
    client = MemoryClient(Hub(), **options)
    with pytest.raises(ValueError, match=r"identity|endpoint"):
        await client.connect()


async def test_reconnects_after_drop_with_events_and_backoff(clients: list[RPCPeer]) -> None:
    hub = Hub()
    hub.setup = heartbeat
    client = MemoryClient(hub, **FAST)
    clients.append(client)
    await wait(client.connect())
    disconnected = expect(client, "disconnect")
    reconnects = collect(client, "reconnect")
    opens = collect(client, "open")
    await hub.drop()
    assert (await wait(disconnected)).code == 1006
    await opens.wait_len(1)
    assert reconnects[0].attempt == 1 and 5 <= reconnects[0].delay <= 40
    assert client.state is State.OPEN and client.reconnect_attempt == 0  # reset after open
    assert await wait(client.call("Heartbeat", {})) == {"currentTime": "t"}


def test_reconnect_event_has_the_reference_fields() -> None:
    """``{ attempt, delay }`` as in the reference, the delay in milliseconds."""
    assert [field.name for field in dataclasses.fields(ReconnectEvent)] == ["attempt", "delay"]
    assert ReconnectEvent(attempt=2, delay=250.0) == ReconnectEvent(2, 250.0)


async def test_attempts_count_up_within_backoff_bounds_then_give_up(
    clients: list[RPCPeer],
) -> None:
    hub = Hub()
    client = MemoryClient(hub, max_reconnects=4, **FAST)
    clients.append(client)
    await wait(client.connect())
    reconnects = collect(client, "reconnect")
    closed = expect(client, "close")
    hub.refuse_with = UnexpectedHttpResponse(502, "Bad Gateway")
    await hub.drop()
    event = await wait(closed)
    assert [r.attempt for r in reconnects] == [1, 2, 3, 4]
    assert all(5 <= r.delay <= 40 for r in reconnects)
    assert reconnects[-1].delay >= 20  # doubled up to the maximum: 5, 10, 20, 40
    assert event.code == 1006 and "502" in event.reason
    assert client.state is State.CLOSED and hub.attempts == 1 + 4


async def test_backoff_reaches_but_never_exceeds_the_maximum(clients: list[RPCPeer]) -> None:
    hub = Hub()
    client = MemoryClient(hub, max_reconnects=8, backoff_min=1, backoff_max=8)
    clients.append(client)
    await wait(client.connect())
    reconnects = collect(client, "reconnect")
    closed = expect(client, "close")
    hub.refuse_with = ConnectionRefusedError("refused")
    await hub.drop()
    await wait(closed)
    delays = [r.delay for r in reconnects]
    assert len(delays) == 8 and all(1 <= d <= 8 for d in delays)
    assert all(d >= 4 for d in delays[3:])  # from the fourth step on: upper half of 8


@pytest.mark.parametrize(
    "error",
    [
        UnexpectedHttpResponse(401, "Unauthorized"),
        WebsocketUpgradeError("no subprotocol", retryable=False),
    ],
)
async def test_intolerable_failures_stop_reconnecting(
    clients: list[RPCPeer], error: Exception
) -> None:
    hub = Hub()
    client = MemoryClient(hub, **FAST)
    clients.append(client)
    await wait(client.connect())
    closed = expect(client, "close")
    hub.refuse_with = error
    await hub.drop()
    await wait(closed)
    assert hub.attempts == 2 and client.state is State.CLOSED


async def test_no_reconnect_when_disabled(clients: list[RPCPeer]) -> None:
    hub = Hub()
    client = MemoryClient(hub, reconnect=False)
    clients.append(client)
    await wait(client.connect())
    closed = expect(client, "close")
    await hub.drop()
    assert (await wait(closed)).code == 1006
    assert hub.attempts == 1


async def test_close_during_backoff_stops_reconnecting(clients: list[RPCPeer]) -> None:
    hub = Hub()
    client = MemoryClient(hub, backoff_min=10_000, backoff_max=10_000)
    clients.append(client)
    await wait(client.connect())
    reconnecting = expect(client, "reconnect")
    await hub.drop()
    await wait(reconnecting)
    closed = expect(client, "close")
    assert await wait(client.close(1000, "stop")) == CloseEvent(1000, "stop")
    assert await wait(closed) == CloseEvent(1000, "stop")
    assert client.state is State.CLOSED and hub.attempts == 1


async def test_connect_again_after_close(clients: list[RPCPeer]) -> None:
    hub = Hub()
    hub.setup = heartbeat
    client = MemoryClient(hub)
    clients.append(client)
    await wait(client.connect())
    await wait(client.close())
    await wait(client.connect())
    assert await wait(client.call("Heartbeat", {})) == {"currentTime": "t"}


async def test_offline_queue_delivers_calls_made_while_disconnected(
    clients: list[RPCPeer],
) -> None:
    hub = Hub()
    received: list[str] = []
    hub.setup = lambda server: server.handle(
        "DataTransfer", lambda ctx: received.append(ctx.params["data"]) or {"status": "Accepted"}
    )
    client = MemoryClient(hub, offline_queue=True, backoff_min=30, backoff_max=30)
    clients.append(client)
    await wait(client.connect())
    reconnecting = expect(client, "reconnect")
    await hub.drop()
    await wait(reconnecting)
    assert client.state is State.CONNECTING
    calls = [
        asyncio.ensure_future(client.call("DataTransfer", {"vendorId": "v", "data": str(i)}))
        for i in range(3)
    ]
    results = await wait(asyncio.gather(*calls))
    assert results == [{"status": "Accepted"}] * 3
    assert received == ["0", "1", "2"]  # in the order they were made


async def test_calls_before_first_connect_are_queued(clients: list[RPCPeer]) -> None:
    hub = Hub()
    hub.setup = heartbeat
    client = MemoryClient(hub, offline_queue=True)
    clients.append(client)
    call = asyncio.ensure_future(client.call("Heartbeat", {}))
    await asyncio.sleep(0)
    assert not call.done()
    await wait(client.connect())
    assert await wait(call) == {"currentTime": "t"}


async def test_offline_queue_overflow_rejects_the_oldest(clients: list[RPCPeer]) -> None:
    hub = Hub()
    hub.setup = heartbeat
    client = MemoryClient(hub, offline_queue=True, offline_queue_max_size=2)
    clients.append(client)
    calls = [asyncio.ensure_future(client.call("Heartbeat", {})) for _ in range(3)]
    await asyncio.sleep(0)
    with pytest.raises(QueueOverflowError, match="offline queue full"):
        await wait(calls[0])
    await wait(client.connect())
    assert await wait(asyncio.gather(*calls[1:])) == [{"currentTime": "t"}] * 2


async def test_close_rejects_queued_calls(clients: list[RPCPeer]) -> None:
    client = MemoryClient(Hub(), offline_queue=True)
    clients.append(client)
    call = asyncio.ensure_future(client.call("Heartbeat", {}))
    await asyncio.sleep(0)
    await wait(client.close())
    with pytest.raises(ConnectionClosedError, match="closed"):
        await wait(call)


async def test_giving_up_rejects_queued_calls(clients: list[RPCPeer]) -> None:
    hub = Hub()
    # The call below is made right after the reconnect event: the one attempt must
    # come later than that, or it would find the client already given up.
    client = MemoryClient(hub, offline_queue=True, max_reconnects=1, backoff_min=200)
    clients.append(client)
    await wait(client.connect())
    hub.refuse_with = ConnectionRefusedError("down")
    reconnecting = expect(client, "reconnect")
    await hub.drop()
    await wait(reconnecting)
    call = asyncio.ensure_future(client.call("Heartbeat", {}))
    with pytest.raises(ConnectionClosedError, match="for good"):
        await wait(call)


async def test_without_offline_queue_calls_fail_fast_while_disconnected(
    clients: list[RPCPeer],
) -> None:
    hub = Hub()
    client = MemoryClient(hub, backoff_min=10_000, backoff_max=10_000)
    clients.append(client)
    await wait(client.connect())
    reconnecting = expect(client, "reconnect")
    await hub.drop()
    await wait(reconnecting)
    with pytest.raises(ConnectionClosedError, match="not connected"):
        await client.call("Heartbeat", {})


def test_reconnect_options_are_checked() -> None:
    with pytest.raises(ValueError, match="backoff_max"):
        MemoryClient(Hub(), backoff_min=100, backoff_max=10)
    with pytest.raises(ValueError, match="max_reconnects"):
        MemoryClient(Hub(), max_reconnects=-1)
    with pytest.raises(ValueError, match="offline_queue_max_size"):
        MemoryClient(Hub(), offline_queue_max_size=0)
    client = MemoryClient(Hub())
    client.reconfigure(backoff_min=7, backoff_max=9, identity="CP-9")
    assert client.url.endswith("/CP-9") and client.identity == "CP-9"
    event = ReconnectEvent(1, 7.0)
    assert event.attempt == 1


async def test_connect_while_a_close_is_draining_waits_for_it(clients: list[RPCPeer]) -> None:
    hub = Hub()
    release = asyncio.Event()

    async def slow(ctx: Any) -> dict[str, Any]:
        await release.wait()
        return {"currentTime": "t"}

    hub.setup = lambda server: server.handle("Heartbeat", slow)
    client = MemoryClient(hub)
    clients.append(client)
    await wait(client.connect())
    pending = asyncio.ensure_future(client.call("Heartbeat", {}))
    closing = asyncio.ensure_future(client.close(1000, "bye"))
    for _ in range(10):  # a few loop turns until the close is under way
        if client.state is State.CLOSING:
            break
        await asyncio.sleep(0)
    assert client.state is State.CLOSING
    reconnecting = asyncio.ensure_future(client.connect())
    await asyncio.sleep(0)
    assert not reconnecting.done()
    release.set()
    assert await wait(pending) == {"currentTime": "t"}
    assert await wait(closing) == CloseEvent(1000, "bye")
    await wait(reconnecting)
    assert client.state is State.OPEN and hub.attempts == 2
    assert await wait(client.call("Heartbeat", {})) == {"currentTime": "t"}


async def test_queued_call_times_out_when_no_connection_opens(clients: list[RPCPeer]) -> None:
    from browser_ocpp import CallTimeoutError

    client = MemoryClient(Hub(), offline_queue=True)
    clients.append(client)
    with pytest.raises(CallTimeoutError, match="not sent within 30 ms: no connection opened"):
        await wait(client.call("Heartbeat", {}, timeout_ms=30))
    assert client._slots.waiting == 0  # it left the queue


async def test_a_handler_outliving_its_connection_answers_nobody(clients: list[RPCPeer]) -> None:
    hub = Hub()
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(ctx: Any) -> dict[str, Any]:
        started.set()
        await release.wait()
        return {"status": "Accepted"}

    client = MemoryClient(hub, **FAST)
    client.handle("ClearCache", slow)
    clients.append(client)
    await wait(client.connect())
    first = hub.servers[-1]
    stale = asyncio.ensure_future(first.call("ClearCache", {}, idempotency_key="1"))
    await wait(started.wait())
    opened = expect(client, "open")
    await hub.drop()
    await wait(opened)
    second = hub.servers[-1]
    bad = collect(second, "bad_message")
    client.remove_handler("ClearCache")
    client.handle("ClearCache", lambda ctx: {"status": "Rejected"})
    # The new connection may reuse id "1": it is not "already being handled".
    assert await wait(second.call("ClearCache", {}, idempotency_key="1")) == {"status": "Rejected"}
    release.set()
    with pytest.raises(ConnectionClosedError):
        await wait(stale)
    await wait(second.call("ClearCache", {}))  # the old reply, had it gone out, came first
    assert bad == []


def _recording_hub(hold_first: asyncio.Event | None = None) -> tuple[Hub, list[str]]:
    """A hub whose CSMS records DataTransfer data in arrival order; with
    ``hold_first``, it sets that event on data "0" and never answers it."""
    hub, received = Hub(), []

    async def data_transfer(ctx: Any) -> dict[str, Any]:
        received.append(ctx.params["data"])
        if hold_first is not None and ctx.params["data"] == "0":
            hold_first.set()
            await asyncio.Event().wait()  # cancelled when the connection drops
        return {"status": "Accepted"}

    hub.setup = lambda server: server.handle("DataTransfer", data_transfer)
    return hub, received


def _send(client: RPCPeer, data: str) -> asyncio.Future[Any]:
    return asyncio.ensure_future(client.call("DataTransfer", {"vendorId": "v", "data": data}))


async def test_calls_waiting_for_their_turn_stay_ahead_of_calls_made_after_a_drop(
    clients: list[RPCPeer],
) -> None:
    """Calls queued behind one in flight when the connection drops go out before
    calls made while the client reconnects, in the order they were all made."""
    arrived = asyncio.Event()
    hub, received = _recording_hub(arrived)
    client = MemoryClient(hub, offline_queue=True, backoff_min=30, backoff_max=30)
    clients.append(client)
    await wait(client.connect())
    in_flight = _send(client, "0")
    queued = [_send(client, str(i)) for i in (1, 2, 3)]
    await wait(arrived.wait())
    later: list[asyncio.Future[Any]] = []
    client.on("disconnect", lambda event: later.extend(_send(client, str(i)) for i in (4, 5)))
    await hub.drop()
    with pytest.raises(ConnectionClosedError):
        await wait(in_flight)
    assert await wait(asyncio.gather(*queued, *later)) == [{"status": "Accepted"}] * 5
    assert received == ["0", "1", "2", "3", "4", "5"]


async def test_queued_calls_go_before_a_call_made_as_the_connection_opens(
    clients: list[RPCPeer],
) -> None:
    hub, received = _recording_hub()
    client = MemoryClient(hub, offline_queue=True)
    clients.append(client)
    queued = [_send(client, str(i)) for i in (0, 1, 2)]
    await asyncio.sleep(0)  # they are waiting for a connection
    opened: list[asyncio.Future[Any]] = []
    client.once("open", lambda event: opened.append(_send(client, "3")))
    await wait(client.connect())
    assert await wait(asyncio.gather(*queued, *opened)) == [{"status": "Accepted"}] * 4
    assert received == ["0", "1", "2", "3"]


async def test_reconnect_now_skips_the_backoff_wait(clients: list[RPCPeer]) -> None:
    hub = Hub()
    client = MemoryClient(hub, backoff_min=600_000, backoff_max=600_000)
    clients.append(client)
    assert client.reconnect_now() is False  # nothing to hurry: not reconnecting
    await wait(client.connect())
    reconnects = collect(client, "reconnect")
    opens = collect(client, "open")
    await hub.drop()
    await reconnects.wait_len(1)  # ten minutes to wait
    assert reconnects[0].delay == 600_000 and hub.attempts == 1
    assert client.reconnect_now() is True
    await opens.wait_len(1)
    assert client.state is State.OPEN and hub.attempts == 2 and len(reconnects) == 1
    assert client.reconnect_now() is False
