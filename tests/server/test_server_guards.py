"""The server's guards on loopback: rate limits, connection limits, CORS, duplicate
headers and every security event, with real sockets (raw ones where a well-behaved
client cannot misbehave enough)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from browser_ocpp import (
    AuthContext,
    CloseEvent,
    OCPPServer,
    OCPPServerClient,
    RPCGenericError,
    UnexpectedHttpResponse,
)
from browser_ocpp.server import guards

from ..peer.conftest import collect, expect, wait
from .conftest import BOOT16, BOOT_OK, ClientFactory, ServerFactory

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
HEARTBEAT = {"currentTime": "2024-01-01T00:00:00Z"}
MINUTE = 60_000


async def raw_request(
    port: int, *headers: tuple[str, str], path: str = "/ocpp/CP-1", key: str | None = None
) -> bytes:
    """Send an upgrade request with ``headers`` appended; the response head."""
    key = key or base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: ocpp1.6",
        *(f"{name}: {value}" for name, value in headers),
    ]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        return bytes(await wait(reader.readuntil(b"\r\n\r\n")))
    finally:
        writer.close()


def status_of(head: bytes) -> int:
    return int(head.split(b" ", 2)[1])


async def station(port: int, identity: str = "CP-1", **options: Any) -> ClientConnection:
    url = f"ws://127.0.0.1:{port}/ocpp/{identity}"
    return await wait(connect(url, subprotocols=["ocpp1.6"], **options))  # type: ignore[list-item]


async def call(ws: ClientConnection, message_id: str, action: str, payload: Any = None) -> Any:
    await ws.send(json.dumps([2, message_id, action, payload or {}]))
    return json.loads(await wait(ws.recv()))


def assert_event(event: dict[str, Any], kind: str, identity: str | None = None) -> None:
    assert set(event) == {"type", "identity", "ip", "timestamp", "details"}
    assert event["type"] == kind and event["identity"] == identity
    assert event["ip"] == "127.0.0.1" and TIMESTAMP.fullmatch(event["timestamp"])


# -- rate_limit --------------------------------------------------------------------------


async def test_calls_over_the_rate_limit_are_answered_at_once(make_server: ServerFactory) -> None:
    server = await make_server(rate_limit={"limit": 3, "window_ms": MINUTE})
    handled: list[str] = []
    server.on(
        "client",
        lambda client: client.on("call", lambda e: e.outbound or handled.append(e.action)),
    )
    events = collect(server, "security_event")
    async with await station(server.port) as ws:
        for index in range(3):
            assert await call(ws, f"ok-{index}", "Heartbeat") == [3, f"ok-{index}", HEARTBEAT]
        reply = await call(ws, "over", "Heartbeat")
        assert reply[:4] == [4, "over", "GenericError", "rate limited"]
        assert 19_000 < reply[4]["retry_after_ms"] <= MINUTE / 3  # a token every 20 s
        # the server's own calls, and the station's answers to them, are never limited
        client = server.clients["CP-1"]
        for _ in range(5):
            outgoing = asyncio.ensure_future(client.call("Reset", {"type": "Soft"}))
            request = json.loads(await wait(ws.recv()))
            await ws.send(json.dumps([3, request[1], {"status": "Accepted"}]))
            assert await wait(outgoing) == {"status": "Accepted"}
    assert handled == ["Heartbeat"] * 3
    await events.wait_len(1)
    assert_event(events[0], "RATE_LIMIT_EXCEEDED", "CP-1")
    assert events[0]["details"] == {
        "action": "Heartbeat",
        "scope": "connection",
        "limit": 3,
        "window_ms": MINUTE,
        "retry_after_ms": reply[4]["retry_after_ms"],
        "suppressed": 0,
    }


async def test_a_station_client_sees_the_refusal_as_rpc_generic_error(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(
        protocols=["ocpp2.0.1"], rate_limit={"limit": 1, "window_ms": MINUTE}
    )
    client = make_client(server, protocols=["ocpp2.0.1"])
    await wait(client.connect())
    await wait(client.call("Heartbeat", {}))
    with pytest.raises(RPCGenericError, match="rate limited") as caught:
        await wait(client.call("Heartbeat", {}))
    assert caught.value.details["retry_after_ms"] > 0


async def test_per_action_limits(make_server: ServerFactory) -> None:
    server = await make_server(
        rate_limit={
            "limit": 100,
            "window_ms": MINUTE,
            "methods": {"MeterValues": {"limit": 1, "window_ms": MINUTE}},
        }
    )
    server.on("client", lambda client: client.handle("MeterValues", lambda ctx: {}))
    values = {"connectorId": 1, "meterValue": []}
    async with await station(server.port) as ws:
        assert await call(ws, "m1", "MeterValues", values) == [3, "m1", {}]
        reply = await call(ws, "m2", "MeterValues", values)
        assert reply[:4] == [4, "m2", "GenericError", "rate limited"]
        for index in range(5):  # the connection's own bucket is far from empty
            assert (await call(ws, f"h{index}", "Heartbeat"))[0] == 3


async def test_unreadable_frames_over_the_limit_are_dropped(make_server: ServerFactory) -> None:
    server = await make_server(rate_limit={"limit": 1, "window_ms": MINUTE})
    bad = collect(server, "security_event")
    async with await station(server.port) as ws:
        await ws.send("not json")
        assert json.loads(await wait(ws.recv()))[:3] == [4, "-1", "FormationViolation"]
        await ws.send("still not json")  # over the limit: no answer, not even counted
        reply = await call(ws, "x", "Heartbeat")  # a CALL over the limit is answered
        assert reply[:4] == [4, "x", "GenericError", "rate limited"]
    assert [event["type"] for event in bad] == ["INVALID_PAYLOAD", "RATE_LIMIT_EXCEEDED"]


async def test_disconnect_closes_with_1008_after_answering(make_server: ServerFactory) -> None:
    server = await make_server(
        rate_limit={"limit": 1, "window_ms": MINUTE, "on_limit_exceeded": "disconnect"}
    )
    closed = expect(server, "client")
    async with await station(server.port) as ws:
        client: OCPPServerClient = await wait(closed)
        gone = expect(client, "close")
        await call(ws, "a", "Heartbeat")
        reply = await call(ws, "b", "Heartbeat")
        assert reply[:3] == [4, "b", "GenericError"]
        await wait(ws.wait_closed())
        assert (ws.close_code, ws.close_reason) == (1008, "rate limit exceeded")
    assert await wait(gone) == CloseEvent(1008, "rate limit exceeded")


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_on_limit_exceeded_callable(make_server: ServerFactory, asynchronous: bool) -> None:
    seen: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

    def sync_reaction(client: OCPPServerClient, details: dict[str, Any]) -> None:
        seen.put_nowait((str(client.identity), details))

    async def async_reaction(client: OCPPServerClient, details: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        seen.put_nowait((str(client.identity), details))

    reaction = async_reaction if asynchronous else sync_reaction
    server = await make_server(
        rate_limit={"limit": 1, "window_ms": MINUTE, "on_limit_exceeded": reaction}
    )
    async with await station(server.port, "CP-7") as ws:
        await call(ws, "a", "Heartbeat")
        assert (await call(ws, "b", "Heartbeat"))[2] == "GenericError"
        identity, details = await wait(seen.get())
    assert identity == "CP-7" and details["action"] == "Heartbeat"
    assert details["scope"] == "connection" and details["retry_after_ms"] > 0


async def test_reconfigure_applies_the_rate_limit_to_open_connections(
    make_server: ServerFactory,
) -> None:
    server = await make_server()
    async with await station(server.port) as ws:
        for index in range(5):
            assert (await call(ws, f"a{index}", "Heartbeat"))[0] == 3
        server.reconfigure(rate_limit={"limit": 1, "window_ms": MINUTE})
        assert (await call(ws, "b1", "Heartbeat"))[0] == 3
        assert (await call(ws, "b2", "Heartbeat"))[2] == "GenericError"
        server.reconfigure(rate_limit=None)
        assert (await call(ws, "c", "Heartbeat"))[0] == 3
    with pytest.raises(TypeError, match="cannot reconfigure security_profile"):
        server.reconfigure(security_profile=1)
    with pytest.raises(ValueError, match="on_limit_exceeded"):
        server.reconfigure(rate_limit={"limit": 1, "window_ms": 1, "on_limit_exceeded": "x"})
    assert server.options.rate_limit is None  # a refused change changes nothing


async def test_rate_limited_messages_reach_metrics(make_server: ServerFactory) -> None:
    from .test_metrics import scrape

    server = await make_server(
        health_endpoint=True,
        rate_limit={
            "limit": 1,
            "window_ms": MINUTE,
            "methods": {"Heartbeat": {"limit": 1, "window_ms": MINUTE}},
        },
    )
    async with await station(server.port) as ws:
        await call(ws, "a", "Heartbeat")
        assert (await call(ws, "b", "Heartbeat"))[2] == "GenericError"
        await ws.send("garbage")  # over the limit too: no answer
        assert (await call(ws, "c", "Heartbeat"))[2] == "GenericError"
    result = await scrape(server)
    assert result.value("ocpp_rate_limited_messages_total", action="Heartbeat") == 2
    assert result.value("ocpp_rate_limited_messages_total", action="(unreadable)") == 1
    assert result.value("ocpp_security_events_total", type="RATE_LIMIT_EXCEEDED") == 1


async def test_rate_limit_options_are_checked_on_construction() -> None:
    with pytest.raises(TypeError, match="needs limit and window_ms"):
        OCPPServer(rate_limit={"limit": 5})
    with pytest.raises(TypeError, match="max_connections"):
        OCPPServer(max_connections=1.5)


# -- connection_rate_limit and max_connections ---------------------------------------------


async def test_connection_rate_limit_refuses_with_429_before_auth(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    asked: list[str] = []
    server = await make_server(
        connection_rate_limit={"limit": 2, "window_ms": MINUTE},
        auth=lambda ctx: asked.append(ctx.identity) or ctx.accept(),
    )
    events = collect(server, "security_event")
    for index in range(2):
        await wait(make_client(server, identity=f"CP-{index}").connect())
    refused = make_client(server, identity="CP-3")
    with pytest.raises(UnexpectedHttpResponse) as caught:
        await wait(refused.connect())
    assert caught.value.status == 429  # a token every 30 s:
    assert 29 <= int(caught.value.headers["Retry-After"]) <= 30
    assert asked == ["CP-0", "CP-1"]  # no auth work for the refused one
    assert_event(events[0], "CONNECTION_RATE_LIMIT")
    details = events[0]["details"]
    assert (details["limit"], details["window_ms"], details["status"]) == (2, MINUTE, 429)


async def test_max_connections_refuses_with_503(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(max_connections=2)
    events = collect(server, "security_event")
    first = make_client(server, identity="CP-1", reconnect=False)
    await wait(first.connect())
    await wait(make_client(server, identity="CP-2").connect())
    with pytest.raises(UnexpectedHttpResponse) as caught:
        await wait(make_client(server, identity="CP-3").connect())
    assert caught.value.status == 503
    assert_event(events[0], "CONNECTION_LIMIT")
    assert events[0]["details"] == {"active_connections": 2, "max_connections": 2, "status": 503}
    gone = expect(server.clients["CP-1"], "close")
    await wait(first.close())
    await wait(gone)
    await wait(make_client(server, identity="CP-3").connect())


async def test_max_connections_counts_upgrades_still_in_auth(make_server: ServerFactory) -> None:
    release = asyncio.Event()

    async def slow(ctx: AuthContext) -> None:
        await release.wait()
        ctx.accept()

    server = await make_server(max_connections=1, auth=slow)
    waiting = asyncio.ensure_future(station(server.port, "CP-1"))
    await asyncio.sleep(0.1)
    assert status_of(await raw_request(server.port, path="/ocpp/CP-2")) == 503
    release.set()
    async with await waiting:
        pass


# -- cors -----------------------------------------------------------------------------------


async def test_cors_origins(make_server: ServerFactory) -> None:
    server = await make_server()
    assert server.cors(allowed_origins=["https://dash.example.com"]) is server
    events = collect(server, "security_event")
    head = await raw_request(server.port, ("Origin", "https://evil.example"))
    assert status_of(head) == 403
    assert_event(events[0], "UPGRADE_ABORTED")
    assert events[0]["details"] == {
        "reason": "origin not allowed",
        "origin": "https://evil.example",
        "status": 403,
    }
    assert status_of(await raw_request(server.port, ("Origin", "https://dash.example.com"))) == 101
    assert status_of(await raw_request(server.port)) == 101  # a station sends no Origin
    server.cors()  # no rules
    assert status_of(await raw_request(server.port, ("Origin", "https://evil.example"))) == 101


async def test_cors_ips(make_server: ServerFactory) -> None:
    server = await make_server()
    events = collect(server, "security_event")
    server.cors(allowed_ips=["10.0.0.0/8", "2001:db8::/32"])
    assert status_of(await raw_request(server.port)) == 403
    assert events[0]["details"]["reason"] == "IP address not allowed"
    server.cors(allowed_ips=["127.0.0.0/8"])
    assert status_of(await raw_request(server.port)) == 101


async def test_cors_ipv6(make_server: ServerFactory) -> None:
    server = OCPPServer(protocols=["ocpp1.6"])
    port = await server.listen(0, "::1")  # the machines this runs on have ::1
    try:
        server.cors(allowed_ips=["::1"])
        url = f"ws://[::1]:{port}/ocpp/CP-6"
        async with await wait(connect(url, subprotocols=["ocpp1.6"])):  # type: ignore[list-item]
            pass
        server.cors(allowed_ips=["::2/128"])
        with pytest.raises(InvalidStatus) as caught:
            await wait(connect(url, subprotocols=["ocpp1.6"]))  # type: ignore[list-item]
        assert caught.value.response.status_code == 403
    finally:
        await server.close()


async def test_cors_schemes_and_trusted_proxy_headers(make_server: ServerFactory) -> None:
    server = await make_server()
    events = collect(server, "security_event")
    server.cors(allowed_schemes=["wss"])
    forwarded = (("X-Forwarded-Proto", "https"), ("X-Forwarded-For", "203.0.113.9"))
    assert status_of(await raw_request(server.port, *forwarded)) == 403  # not a trusted proxy
    assert events[0]["details"]["reason"] == "scheme ws not allowed"
    assert events[0]["ip"] == "127.0.0.1"
    server.cors(allowed_schemes=["wss"], trust_proxy=True)
    assert status_of(await raw_request(server.port, *forwarded)) == 101
    server.cors(allowed_ips=["198.51.100.0/24"], trust_proxy=["127.0.0.1"])
    assert status_of(await raw_request(server.port, *forwarded)) == 403
    assert events[-1]["ip"] == "203.0.113.9"  # the event names the client, not the proxy
    behind = ("X-Forwarded-For", "198.51.100.7")
    assert status_of(await raw_request(server.port, behind)) == 101


async def test_connection_rate_limit_counts_each_forwarded_client(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await make_server(connection_rate_limit={"limit": 1, "window_ms": MINUTE})
    server.cors(trust_proxy=True)
    monkeypatch.setattr(server._guards._connections, "cap", 20)
    for index in range(60):  # many clients behind one proxy: one bucket each, bounded
        head = await raw_request(server.port, ("X-Forwarded-For", f"203.0.113.{index}"))
        assert status_of(head) == 101
    assert len(server._guards._connections) == 20
    head = await raw_request(server.port, ("X-Forwarded-For", "203.0.113.59"))
    assert status_of(head) == 429


# -- duplicate headers ----------------------------------------------------------------------


@pytest.mark.parametrize("name", guards.SINGLETON_HEADERS)
async def test_duplicate_singleton_headers_are_refused_with_400(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    server = await make_server(setup=False)
    events = collect(server, "security_event")
    value = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
    }.get(name, "Basic Q1AtMTp4")
    if name == "Origin":
        value = "http://127.0.0.1"
    extra = [(name, value)]
    if name in ("Authorization", "Origin"):  # not in the request already
        extra.append((name, value))
    with caplog.at_level(logging.ERROR):
        head = await raw_request(server.port, *extra)
    assert status_of(head) == 400
    assert not [r for r in caplog.records if "process_request failed" in r.getMessage()]
    await events.wait_len(1)
    assert_event(events[0], "UPGRADE_ABORTED")
    assert events[0]["details"] == {"reason": f"duplicate {name} header", "status": 400}
    assert server.clients == {}


# -- the security events of the handshake -------------------------------------------------


async def test_auth_failed_event_payload(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(auth=lambda ctx: ctx.reject(403, "unknown station"))
    events = collect(server, "security_event")
    with pytest.raises(UnexpectedHttpResponse):
        await wait(make_client(server, identity="CP-9").connect())
    assert_event(events[0], "AUTH_FAILED", "CP-9")
    assert events[0]["details"] == {"code": 403, "message": "unknown station"}


async def test_auth_brute_force_anomaly(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(
        auth=lambda ctx: ctx.reject(401, "no"), anomaly={"auth_failure_threshold": 2}
    )
    events = collect(server, "security_event")
    for index in range(4):
        with pytest.raises(UnexpectedHttpResponse):
            await wait(make_client(server, identity=f"CP-{index}").connect())
    kinds = [event["type"] for event in events]
    assert kinds == ["AUTH_FAILED"] * 3 + ["ANOMALY_AUTH_BRUTE_FORCE", "AUTH_FAILED"]
    anomaly = events[3]
    assert_event(anomaly, "ANOMALY_AUTH_BRUTE_FORCE", "CP-2")
    assert anomaly["details"] == {"count": 3, "threshold": 2, "window_ms": MINUTE}


async def test_rapid_reconnect_anomaly(make_server: ServerFactory) -> None:
    server = await make_server(anomaly={"reconnect_threshold": 2})
    events = collect(server, "security_event")
    for _ in range(3):
        async with await station(server.port, "CP-R"):
            pass
    await events.wait_len(1)
    assert_event(events[0], "ANOMALY_RAPID_RECONNECT", "CP-R")
    assert events[0]["details"]["count"] == 3


async def test_identity_collision_anomaly(make_server: ServerFactory) -> None:
    server = await make_server(anomaly={"reconnect_threshold": 100})
    events = collect(server, "security_event")
    first = await station(server.port, "CP-C")
    async with first, await station(server.port, "CP-C"):  # the same address: no collision
        await wait(first.wait_closed())
    assert not events
    async with await station(server.port, "CP-C") as first:
        second = await station(server.port, "CP-C", local_addr=("127.0.0.2", 0))
        async with second:
            await wait(first.wait_closed())
            await events.wait_len(1)
    event = events[0]
    assert event["type"] == "ANOMALY_IDENTITY_COLLISION" and event["identity"] == "CP-C"
    assert event["ip"] == "127.0.0.2" and event["details"]["previous_ip"] == "127.0.0.1"


async def test_an_auth_handler_that_raises_is_a_closed_door_too(
    make_server: ServerFactory,
) -> None:
    server = await make_server(auth=lambda ctx: 1 / 0)
    events = collect(server, "security_event")
    errors = collect(server, "error")
    assert status_of(await raw_request(server.port)) == 500
    assert_event(events[0], "UPGRADE_ABORTED", "CP-1")
    assert events[0]["details"] == {"reason": "the auth handler raised", "status": 500}
    assert isinstance(errors[0], ZeroDivisionError)


async def test_an_upgrade_websockets_refuses_after_auth_is_reported(
    make_server: ServerFactory,
) -> None:
    asked: list[str] = []
    server = await make_server(auth=lambda ctx: asked.append(ctx.identity) or ctx.accept())
    events = collect(server, "security_event")
    assert status_of(await raw_request(server.port, key="not-a-key")) == 400
    assert asked == ["CP-1"]
    assert_event(events[0], "UPGRADE_ABORTED", "CP-1")
    details = events[0]["details"]
    assert details["status"] == 400 and "Sec-WebSocket-Key" in details["reason"]
    assert not server._decisions


async def test_no_common_subprotocol_event_payload(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(protocols=["ocpp2.0.1"])
    events = collect(server, "security_event")
    with pytest.raises(Exception, match="no common subprotocol"):
        await wait(make_client(server, protocols=["ocpp1.6"]).connect())
    assert_event(events[0], "UPGRADE_ABORTED", "CP-1")
    assert "no common subprotocol" in events[0]["details"]["reason"]


# -- invalid payloads -------------------------------------------------------------------------


async def test_invalid_payload_events_from_bad_messages_are_throttled(
    make_server: ServerFactory,
) -> None:
    server = await make_server(anomaly={"bad_message_threshold": 5})
    events = collect(server, "security_event")
    async with await station(server.port, "CP-F") as ws:
        for _ in range(20):
            await ws.send("garbage")
        for _ in range(20):
            await wait(ws.recv())
    invalid = [event for event in events if event["type"] == "INVALID_PAYLOAD"]
    assert len(invalid) == 1  # one per second per connection, whatever the flood
    assert_event(invalid[0], "INVALID_PAYLOAD", "CP-F")
    assert invalid[0]["details"] == {
        "source": "bad_message",
        "action": None,
        "code": "RpcFrameworkError",
        "message": "message is not valid JSON",
        "suppressed": 0,
    }
    fuzzing = [event for event in events if event["type"] == "ANOMALY_MESSAGE_FUZZING"]
    assert len(fuzzing) == 1 and fuzzing[0]["details"]["count"] == 6


async def test_invalid_payload_event_from_strict_mode(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(strict_mode=True)
    events = collect(server, "security_event")
    client = make_client(server)
    await wait(client.connect())
    with pytest.raises(Exception, match="chargePointModel"):
        await wait(client.call("BootNotification", {"chargePointVendor": "ACME"}))
    assert await wait(client.call("BootNotification", BOOT16)) == BOOT_OK
    await events.wait_len(1)
    assert_event(events[0], "INVALID_PAYLOAD", "CP-1")
    details = events[0]["details"]
    assert (details["source"], details["action"]) == ("strict_mode", "BootNotification")
    assert details["code"] == "OccurrenceConstraintViolation"
