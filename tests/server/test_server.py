"""OCPPServer on loopback: handshake, auth, eviction, calls to stations, stats, limits."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from browser_ocpp import (
    AuthContext,
    CloseEvent,
    ConnectionClosedError,
    OCPPServer,
    OCPPServerClient,
    RPCNotImplementedError,
    State,
    UnexpectedHttpResponse,
    WebsocketUpgradeError,
)

from ..peer.conftest import collect, expect, wait
from .conftest import BOOT16, BOOT_OK, ClientFactory, ServerFactory


async def test_listen_on_port_zero_and_boot(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server()
    assert server.port > 0
    client = make_client(server)
    connected = expect(server, "client")
    await wait(client.connect())
    station: OCPPServerClient = await wait(connected)
    assert (station.identity, station.protocol) == ("CP-1", "ocpp1.6")
    assert await wait(client.call("BootNotification", BOOT16)) == BOOT_OK
    with pytest.raises(RuntimeError, match="already listening"):
        await server.listen(0)


async def test_close_closes_every_connection(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server()
    clients = [make_client(server, identity=f"CP-{i}", reconnect=False) for i in range(3)]
    await wait(asyncio.gather(*(c.connect() for c in clients)))
    closed = [expect(c, "close") for c in clients]
    await wait(server.close())
    for future in closed:
        assert await wait(future) == CloseEvent(1001, "server shutting down")
    assert server.clients == {}


@pytest.mark.parametrize(
    ("identity", "accepted_as"),
    [("CP 1", "CP 1"), ("ümlaut-ß", "ümlaut-ß"), ("a" * 48, "a" * 48), ("x/y", "x/y")],
)
async def test_identity_is_the_percent_decoded_last_segment(
    make_server: ServerFactory, make_client: ClientFactory, identity: str, accepted_as: str
) -> None:
    server = await make_server()
    connected = expect(server, "client")
    await wait(make_client(server, identity=identity).connect())
    assert (await wait(connected)).identity == accepted_as


@pytest.mark.parametrize(
    ("path", "why"),
    [("/ocpp/" + "a" * 49, "longer than 48"), ("/ocpp/a%3Ab", "':'"), ("/", "no charging station")],
)
async def test_bad_identity_is_refused_with_400(
    make_server: ServerFactory, path: str, why: str
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    server = await make_server()
    events = collect(server, "security_event")
    with pytest.raises(InvalidStatus) as caught:
        await wait(connect(f"ws://127.0.0.1:{server.port}{path}", subprotocols=["ocpp1.6"]))  # type: ignore[list-item]
    response = caught.value.response
    assert response.status_code == 400 and why in bytes(response.body or b"").decode()
    assert events[0]["type"] == "UPGRADE_ABORTED" and events[0]["ip"] == "127.0.0.1"
    assert why in events[0]["details"]["reason"] and events[0]["details"]["status"] == 400


async def test_no_common_subprotocol_is_closed_with_a_reason_and_not_retried(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(protocols=["ocpp2.0.1"])
    client = make_client(server, protocols=["ocpp1.6"])
    events = collect(server, "security_event")
    with pytest.raises(WebsocketUpgradeError) as caught:
        await wait(client.connect())
    message = str(caught.value)
    assert "no common subprotocol" in message and "ocpp2.0.1" in message and "ocpp1.6" in message
    assert caught.value.retryable is False
    assert client.state is State.CLOSED
    assert events[0]["type"] == "UPGRADE_ABORTED"


async def test_server_prefers_its_own_protocol_order(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(protocols=["ocpp2.1", "ocpp2.0.1", "ocpp1.6"], setup=False)
    client = make_client(server, protocols=["ocpp1.6", "ocpp2.0.1"])
    await wait(client.connect())
    assert client.protocol == "ocpp2.0.1"


async def test_empty_protocols_accepts_the_first_one_the_station_offers(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(protocols=[], setup=False)
    client = make_client(server, protocols=["ocpp2.0.1", "ocpp1.6"])
    await wait(client.connect())
    assert client.protocol == "ocpp2.0.1"
    assert server.clients["CP-1"].protocol == "ocpp2.0.1"
    bare = make_client(server, identity="CP-2", protocols=[])
    await wait(bare.connect())  # offers none: still accepted, with none
    assert bare.protocol is None


async def test_auth_handler_sees_the_handshake_and_sets_session(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(protocols=["ocpp1.6", "ocpp2.0.1"])
    seen: list[AuthContext] = []

    async def auth(ctx: AuthContext) -> None:
        seen.append(ctx)
        await asyncio.sleep(0)
        ctx.accept(session={"tenant": "t1"}, protocol="ocpp2.0.1")

    server.auth(auth)
    connected = expect(server, "client")
    client = make_client(
        server,
        identity="CP 9",
        protocols=["ocpp1.6", "ocpp2.0.1"],
        query={"token": "abc"},
        headers={"X-Station-Model": "One"},
    )
    await wait(client.connect())
    station = await wait(connected)
    handshake = seen[0].handshake
    assert handshake.identity == "CP 9" and handshake.pathname == "/ocpp/CP%209"
    assert handshake.query == {"token": ["abc"]}
    assert handshake.headers["X-Station-Model"] == handshake.headers["x-station-model"] == "One"
    assert handshake.protocols == ("ocpp1.6", "ocpp2.0.1")
    assert handshake.remote_address[0] == "127.0.0.1"
    assert handshake.security_profile == 0
    assert station.session == {"tenant": "t1"} and client.protocol == "ocpp2.0.1"


@pytest.mark.parametrize(
    ("decide", "status"),
    [
        (lambda ctx: ctx.reject(404, "unknown station"), 404),
        (lambda ctx: None, 401),  # no decision is a refusal
        (lambda ctx: 1 / 0, 500),
    ],
)
async def test_auth_refusals_surface_as_http_status(
    make_server: ServerFactory, make_client: ClientFactory, decide: Any, status: int
) -> None:
    server = await make_server()
    server.auth(decide)
    client = make_client(server)
    with pytest.raises(UnexpectedHttpResponse) as caught:
        await wait(client.connect())
    assert caught.value.status == status
    assert caught.value.retryable is False or status >= 500


async def test_auth_context_guards() -> None:
    from browser_ocpp.server import Handshake

    ctx = AuthContext(Handshake.parse("/x/CP", {}, ["ocpp1.6"], None))
    with pytest.raises(ValueError, match="not offered"):
        ctx.accept(protocol="ocpp2.1")
    with pytest.raises(ValueError, match="4xx/5xx"):
        ctx.reject(200)
    ctx.accept()
    with pytest.raises(RuntimeError, match="already"):
        ctx.reject(401)


def _basic(identity: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{identity}:{password}".encode()).decode()


async def test_profile_1_basic_auth_with_colons_in_the_password(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    secret = "pa:ss:word"
    profiles: list[int] = []

    def auth(ctx: AuthContext) -> None:
        profiles.append(ctx.handshake.security_profile)
        ctx.accept() if ctx.password_matches(secret) else ctx.reject(401)

    server = await make_server(security_profile=1, auth=auth)
    await wait(make_client(server, security_profile=1, password=secret).connect())
    assert profiles == [1]
    events = collect(server, "security_event")
    wrong = make_client(server, identity="CP-2", security_profile=1, password="pa:ss")
    with pytest.raises(UnexpectedHttpResponse) as caught:
        await wait(wrong.connect())
    assert caught.value.status == caught.value.status_code == 401
    assert "Basic" in caught.value.headers["WWW-Authenticate"]
    assert events[0]["type"] == "AUTH_FAILED" and events[0]["identity"] == "CP-2"
    assert events[0]["ip"] == "127.0.0.1" and events[0]["details"] == {"code": 401, "message": ""}


async def test_profile_1_without_credentials_is_refused_before_the_handler(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    calls: list[AuthContext] = []
    server = await make_server(
        security_profile=1, auth=lambda ctx: calls.append(ctx) or ctx.accept()
    )
    for headers in ({}, {"Authorization": _basic("someone-else", "x")}):
        client = make_client(server, headers=headers)
        with pytest.raises(UnexpectedHttpResponse, match="401"):
            await wait(client.connect())
    assert calls == []


async def test_profile_1_needs_an_auth_handler() -> None:
    server = OCPPServer(security_profile=1)
    with pytest.raises(ValueError, match=r"needs server\.auth"):
        await server.listen(0)


async def test_new_connection_with_same_identity_replaces_the_old(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server()
    first = make_client(server, reconnect=False)
    await wait(first.connect())
    old = server.clients["CP-1"]
    closed = expect(first, "close")
    second = make_client(server)
    await wait(second.connect())
    assert await wait(closed) == CloseEvent(
        4000, "replaced by a new connection with the same identity"
    )
    assert server.clients["CP-1"] is not old
    assert await wait(second.call("Heartbeat", {}))


async def test_send_to_client_and_errors(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server()
    client = make_client(server)
    client.handle("Reset", lambda ctx: {"status": "Accepted", "echo": ctx.params["type"]})
    await wait(client.connect())
    result = await wait(server.send_to_client("CP-1", "Reset", {"type": "Soft"}, timeout_ms=2000))
    assert result == {"status": "Accepted", "echo": "Soft"}
    assert await wait(server.send_to_client("CP-1", "ocpp1.6", "Reset", {"type": "Hard"}))
    with pytest.raises(ConnectionClosedError, match=r"'CP-404' is connected"):
        await server.send_to_client("CP-404", "Reset", {"type": "Soft"})
    assert await wait(server.safe_send_to_client("CP-404", "Reset", {"type": "Soft"})) is None
    assert await wait(server.safe_send_to_client("CP-1", "Unknown", {})) is None


async def test_broadcast_batch_gives_one_result_or_error_per_identity(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server()
    for i in range(5):
        client = make_client(server, identity=f"CP-{i}")
        client.handle(
            "ClearCache", lambda ctx, i=i: {"status": "Accepted" if i % 2 else "Rejected"}
        )
        await wait(client.connect())
    targets = [f"CP-{i}" for i in range(5)] + ["CP-missing"]
    results = await wait(server.broadcast_batch(targets, "ClearCache", {}, concurrency=2))
    assert list(results) == targets
    assert [results[f"CP-{i}"] for i in range(5)] == [
        {"status": "Rejected"}, {"status": "Accepted"}, {"status": "Rejected"},
        {"status": "Accepted"}, {"status": "Rejected"},
    ]  # fmt: skip
    assert isinstance(results["CP-missing"], ConnectionClosedError)


async def test_stats(make_server: ServerFactory, make_client: ClientFactory) -> None:
    import os

    server = await make_server()
    for i in range(3):
        await wait(make_client(server, identity=f"CP-{i}").connect())
    stats = server.stats()
    assert stats["active_sessions"] == stats["connected_clients"] == 3
    assert stats["web_sockets"]["total"] == 3
    assert stats["web_sockets"]["buffered_amount"] >= 0
    assert stats["memory_usage"]["rss"] > 1_000_000
    assert stats["uptime_seconds"] > 0 and stats["pid"] == os.getpid()
    assert stats["cpu_usage"]["user"] > 0 and stats["cpu_usage"]["system"] >= 0


@pytest.mark.parametrize(("platform", "unit"), [("linux", 1024), ("darwin", 1)])
def test_max_rss_is_in_bytes_on_linux_and_macos(
    monkeypatch: pytest.MonkeyPatch, platform: str, unit: int
) -> None:
    import resource
    import sys

    from browser_ocpp.server import server as module

    class Usage:
        ru_maxrss = 5000
        ru_utime = 1.5
        ru_stime = 0.25

    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(resource, "getrusage", lambda who: Usage())
    assert module._memory_usage()["max_rss"] == 5000 * unit  # kB on Linux, bytes on macOS
    assert module._cpu_usage() == {"user": 1_500_000, "system": 250_000}


async def test_max_payload_bytes_refuses_oversized_frames(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(max_payload_bytes=1024)
    calls = []
    server.on("client", lambda c: c.on("message", calls.append))
    client = make_client(server, reconnect=False)
    await wait(client.connect())
    closed = expect(client, "close")
    await client.send_raw('[2,"big","DataTransfer",{"vendorId":"' + "x" * 2000 + '"}]')
    assert (await wait(closed)).code == 1009  # message too big, before any parsing
    assert calls == []


# -- sessions and idle connections ------------------------------------------------------


async def _until(condition: Any, seconds: float = 5) -> None:
    """Poll ``condition`` (the server's own state: no event tells when it changes)."""
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not true within {seconds} s")


async def test_sessions_outlive_the_connection_and_merge_into_the_next(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    sessions = iter([{"tenant": "t1", "tier": 1}, {"tier": 2}, {}])
    server = await make_server(auth=lambda ctx: ctx.accept(session=next(sessions)))
    client = make_client(server, reconnect=False)
    first = expect(server, "client")
    await wait(client.connect())
    station: OCPPServerClient = await wait(first)
    station.session["boots"] = 1  # what the application keeps in it is kept too
    await wait(client.close())
    await _until(lambda: not server.clients)
    assert server.stats()["active_sessions"] == 1 and server.stats()["connected_clients"] == 0
    second = expect(server, "client")
    await wait(client.connect())
    again: OCPPServerClient = await wait(second)
    assert again.session == {"tenant": "t1", "tier": 2, "boots": 1}  # accept() wins
    other = expect(server, "client")
    await wait(make_client(server, identity="CP-2").connect())
    assert "tenant" not in (await wait(other)).session  # per identity
    assert server.stats()["active_sessions"] == 2


def first_session_only(marked: set[str]) -> Any:
    """An auth handler giving each identity ``{"first": True}`` on its first connection."""

    def auth(ctx: AuthContext) -> None:
        first = ctx.identity not in marked
        marked.add(ctx.identity)
        ctx.accept(session={"first": True} if first else {})

    return auth


async def _session_after_reconnect(
    server: OCPPServer, make_client: ClientFactory, identity: str
) -> dict[str, Any]:
    connected = expect(server, "client")
    client = make_client(server, identity=identity, reconnect=False)
    await wait(client.connect())
    session: dict[str, Any] = (await wait(connected)).session
    await wait(client.close())
    await _until(lambda: identity not in server.clients)
    return session


async def test_sessions_are_swept_after_the_ttl_and_no_socket_is_closed(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(session_ttl_ms=100, auth=first_session_only(set()))
    assert await _session_after_reconnect(server, make_client, "CP-1") == {"first": True}
    stays = make_client(server, identity="CP-2", reconnect=False, ping_interval_ms=0)
    await wait(stays.connect())
    await _until(lambda: server.stats()["active_sessions"] == 0)  # no activity for 100 ms
    assert await _session_after_reconnect(server, make_client, "CP-1") == {}
    assert stays.state is State.OPEN  # session_ttl_ms never closes a connection
    assert await wait(stays.call("Heartbeat", {}))


async def test_the_session_store_is_bounded(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(max_sessions=2, auth=first_session_only(set()))
    for i in range(3):
        await _session_after_reconnect(server, make_client, f"CP-{i}")
    await _until(lambda: not server.clients)
    assert server.stats()["active_sessions"] == 2
    assert await _session_after_reconnect(server, make_client, "CP-2") == {"first": True}
    assert await _session_after_reconnect(server, make_client, "CP-0") == {}  # evicted: oldest
    with pytest.raises(ValueError, match="max_sessions"):
        OCPPServer(max_sessions=0)


async def test_idle_timeout_closes_silent_connections(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(idle_timeout_ms=100)
    client = make_client(server, reconnect=False, ping_interval_ms=0)
    await wait(client.connect())
    closed = expect(client, "close")
    assert await wait(closed) == CloseEvent(4001, "session expired after inactivity")
    assert server.stats()["active_sessions"] == 1  # the session is kept


async def test_idle_timeout_counts_frames_and_the_stations_pings(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(idle_timeout_ms=300)
    pinging = make_client(server, reconnect=False, ping_interval_ms=50)
    calling = make_client(server, identity="CP-2", reconnect=False, ping_interval_ms=0)
    await wait(pinging.connect())
    await wait(calling.connect())
    for _ in range(8):
        await asyncio.sleep(0.1)
        await wait(calling.call("Heartbeat", {}))
    assert pinging.state is State.OPEN and calling.state is State.OPEN


async def test_strict_mode_applies_to_every_connection(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    from browser_ocpp import RPCOccurrenceConstraintViolationError

    server = await make_server(strict_mode=True)
    client = make_client(server)
    await wait(client.connect())
    with pytest.raises(RPCOccurrenceConstraintViolationError):
        await wait(client.call("BootNotification", {"chargePointVendor": "only"}))
    with pytest.raises(RPCNotImplementedError):
        await wait(client.call("NotAnAction", {}))


async def test_handshake_timeout_drops_silent_connections(make_server: ServerFactory) -> None:
    server = await make_server(handshake_timeout_ms=100)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    assert await wait(reader.read()) == b""  # closed by the server, nothing sent
    writer.close()


async def test_compression_is_negotiated_when_both_ask(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(compression=True)
    client = make_client(server, compression=True)
    await wait(client.connect())
    connection = client._transport.connection  # type: ignore[union-attr]
    assert any("deflate" in type(e).__name__.lower() for e in connection.protocol.extensions)
    assert await wait(client.call("BootNotification", BOOT16)) == BOOT_OK


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/ocpp/", "no charging station"),
        ("/ocpp//", "no charging station"),
        ("/ocpp/CP%0d%0aX", "control"),
    ],
)
async def test_empty_last_segment_and_control_characters_are_refused(
    make_server: ServerFactory, path: str, why: str
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    server = await make_server()
    with pytest.raises(InvalidStatus) as caught:
        await wait(connect(f"ws://127.0.0.1:{server.port}{path}", subprotocols=["ocpp1.6"]))  # type: ignore[list-item]
    assert caught.value.response.status_code == 400
    assert why in bytes(caught.value.response.body or b"").decode()


async def test_broadcast_concurrency_is_checked(make_server: ServerFactory) -> None:
    server = await make_server()
    with pytest.raises(ValueError, match="concurrency"):
        await server.broadcast_batch(["CP-1"], "Reset", {"type": "Soft"}, concurrency=0)
