"""OCPPClient on loopback: TLS profiles, certificate reload, reconnect, offline queue, pings."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest
import trustme

from browser_ocpp import (
    CloseEvent,
    OCPPClient,
    State,
    UnexpectedHttpResponse,
    WebsocketUpgradeError,
)

from ..peer.conftest import collect, expect, wait
from .conftest import BOOT16, BOOT_OK, ClientFactory, ServerFactory


def server_tls(issuer: trustme.CA, **extra: Any) -> dict[str, Any]:
    cert = issuer.issue_cert("127.0.0.1", "localhost")
    return {
        "cert": b"".join(pem.bytes() for pem in cert.cert_chain_pems),
        "key": cert.private_key_pem.bytes(),
        **extra,
    }


def accept_password(secret: str) -> Any:
    return lambda ctx: ctx.accept() if ctx.password_matches(secret) else ctx.reject(401)


async def test_profile_2_tls_with_basic_auth(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    ca = trustme.CA()
    server = await make_server(security_profile=2, tls=server_tls(ca), auth=accept_password("s3"))
    tls = {"ca": ca.cert_pem.bytes()}
    client = make_client(server, security_profile=2, password="s3", tls=tls)
    await wait(client.connect())
    assert await wait(client.call("BootNotification", BOOT16)) == BOOT_OK
    untrusted = make_client(
        server,
        identity="CP-2",
        security_profile=2,
        password="s3",
        tls={"ca": trustme.CA().cert_pem.bytes()},
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        await wait(untrusted.connect())


async def test_profile_3_requires_a_client_certificate_from_the_ca(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    ca, station_ca = trustme.CA(), trustme.CA()
    server = await make_server(
        security_profile=3, tls=server_tls(ca, ca=station_ca.cert_pem.bytes())
    )
    seen: list[Any] = []
    server.on("client", lambda c: seen.append(c.handshake.client_certificate))
    station_cert = station_ca.issue_cert("CP-1")
    tls = {
        "ca": ca.cert_pem.bytes(),
        "cert": station_cert.cert_chain_pems[0].bytes(),
        "key": station_cert.private_key_pem.bytes(),
    }
    client = make_client(server, security_profile=3, tls=tls)
    await wait(client.connect())
    assert await wait(client.call("Heartbeat", {}))
    assert ("DNS", "cp-1") in seen[0]["subjectAltName"]  # the verified station certificate
    foreign = trustme.CA().issue_cert("CP-2")
    rogue = make_client(
        server,
        identity="CP-2",
        security_profile=3,
        tls={
            "ca": ca.cert_pem.bytes(),
            "cert": foreign.cert_chain_pems[0].bytes(),
            "key": foreign.private_key_pem.bytes(),
        },
    )
    with pytest.raises((ssl.SSLError, ConnectionError, WebsocketUpgradeError)):
        await wait(rogue.connect())  # the server's TLS layer refuses the unknown issuer
    assert rogue.state is State.CLOSED
    assert "CP-2" not in server.clients


async def test_update_tls_serves_new_connections_and_keeps_open_ones(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    old_ca, new_ca = trustme.CA(), trustme.CA()
    server = await make_server(
        security_profile=2, tls=server_tls(old_ca), auth=accept_password("pw")
    )
    kept = make_client(
        server, security_profile=2, password="pw", tls={"ca": old_ca.cert_pem.bytes()}
    )
    await wait(kept.connect())
    fresh = new_ca.issue_cert("127.0.0.1")
    server.update_tls(cert=fresh.cert_chain_pems[0].bytes(), key=fresh.private_key_pem.bytes())
    newcomer = make_client(
        server,
        identity="CP-2",
        security_profile=2,
        password="pw",
        tls={"ca": new_ca.cert_pem.bytes()},
    )
    await wait(newcomer.connect())
    stale = make_client(
        server,
        identity="CP-3",
        security_profile=2,
        password="pw",
        tls={"ca": old_ca.cert_pem.bytes()},
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        await wait(stale.connect())
    assert await wait(kept.call("Heartbeat", {}))  # the connection made before is still up
    assert kept.state is State.OPEN


async def test_update_tls_without_tls_is_an_error(make_server: ServerFactory) -> None:
    server = await make_server()
    with pytest.raises(RuntimeError, match="TLS is not in use"):
        server.update_tls(cert=b"x", key=b"y")


def encrypted_key(cert: trustme.LeafCert, passphrase: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


@pytest.mark.parametrize("name", ["passphrase", "password"])
async def test_tls_key_passphrase_under_the_reference_name_or_the_alias(
    make_server: ServerFactory, make_client: ClientFactory, name: str
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    tls = {"cert": cert.cert_chain_pems[0].bytes(), "key": encrypted_key(cert, b"k3y"), name: "k3y"}
    server = await make_server(security_profile=2, tls=tls, auth=accept_password("pw"))
    client = make_client(server, security_profile=2, password="pw", tls={"ca": ca.cert_pem.bytes()})
    await wait(client.connect())
    with pytest.raises(ValueError, match="passphrase"):
        await make_server(
            security_profile=2,
            tls={**tls, "passphrase": "a", "password": "b"},
            auth=accept_password("pw"),
        )


async def test_client_tls_server_hostname_is_the_name_checked(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("csms.example")  # not the address connected to
    server = await make_server(
        security_profile=2,
        tls={"cert": cert.cert_chain_pems[0].bytes(), "key": cert.private_key_pem.bytes()},
        auth=accept_password("pw"),
    )
    trust = {"ca": ca.cert_pem.bytes()}
    named = make_client(
        server, security_profile=2, password="pw", tls={**trust, "server_hostname": "csms.example"}
    )
    await wait(named.connect())
    unnamed = make_client(server, identity="CP-2", security_profile=2, password="pw", tls=trust)
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        await wait(unnamed.connect())


async def test_tls_ca_may_be_a_list(make_server: ServerFactory, make_client: ClientFactory) -> None:
    ca, station_ca, other_ca = trustme.CA(), trustme.CA(), trustme.CA()
    server = await make_server(
        security_profile=3,
        tls=server_tls(ca, ca=[other_ca.cert_pem.bytes(), station_ca.cert_pem.bytes()]),
    )
    for identity, issuer in (("CP-1", station_ca), ("CP-2", other_ca)):
        leaf = issuer.issue_cert(identity)
        tls = {
            "ca": [trustme.CA().cert_pem.bytes(), ca.cert_pem.bytes()],
            "cert": leaf.cert_chain_pems[0].bytes(),
            "key": leaf.private_key_pem.bytes(),
        }
        client = make_client(server, identity=identity, security_profile=3, tls=tls)
        await wait(client.connect())
        assert await wait(client.call("Heartbeat", {}))


async def test_update_tls_is_kept_across_close_and_listen(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    old_ca, new_ca = trustme.CA(), trustme.CA()
    server = await make_server(
        security_profile=2, tls=server_tls(old_ca), auth=accept_password("pw")
    )
    fresh = new_ca.issue_cert("127.0.0.1")
    key = encrypted_key(fresh, b"pass")
    server.update_tls(cert=fresh.cert_chain_pems[0].bytes(), key=key, passphrase="pass")
    assert server.options.tls is not None and server.options.tls["key"] == key
    port = server.port
    await server.close()
    await server.listen(port)  # the new certificate, not the one given at construction
    trusting_new = make_client(
        server, security_profile=2, password="pw", tls={"ca": new_ca.cert_pem.bytes()}
    )
    await wait(trusting_new.connect())
    trusting_old = make_client(
        server,
        identity="CP-2",
        security_profile=2,
        password="pw",
        tls={"ca": old_ca.cert_pem.bytes()},
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        await wait(trusting_old.connect())


async def test_update_tls_replaces_the_ca_that_verifies_stations(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    ca, old_station_ca, new_station_ca = trustme.CA(), trustme.CA(), trustme.CA()
    server = await make_server(
        security_profile=3, tls=server_tls(ca, ca=old_station_ca.cert_pem.bytes())
    )

    def station(identity: str, issuer: trustme.CA) -> OCPPClient:
        leaf = issuer.issue_cert(identity)
        tls = {
            "ca": ca.cert_pem.bytes(),
            "cert": leaf.cert_chain_pems[0].bytes(),
            "key": leaf.private_key_pem.bytes(),
        }
        return make_client(server, identity=identity, security_profile=3, tls=tls, reconnect=False)

    before = station("CP-1", old_station_ca)
    await wait(before.connect())
    server.update_tls(ca=new_station_ca.cert_pem.bytes())  # cert and key stay as they were
    await wait(station("CP-2", new_station_ca).connect())
    with pytest.raises((ssl.SSLError, ConnectionError, WebsocketUpgradeError)):
        await wait(station("CP-3", old_station_ca).connect())  # replaced, not added
    assert await wait(before.call("Heartbeat", {}))  # open connections stay up
    with pytest.raises(FileNotFoundError):  # not PEM, so taken as a path
        server.update_tls(key=b"not a key")  # checked before anything changes
    await wait(station("CP-4", new_station_ca).connect())


async def test_update_tls_before_listen_is_used_by_listen(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    from browser_ocpp import OCPPServer

    old_ca, new_ca = trustme.CA(), trustme.CA()
    server = OCPPServer(protocols=["ocpp1.6"], security_profile=2, tls=server_tls(old_ca))
    server.auth(accept_password("pw"))
    server.update_tls(**server_tls(new_ca))
    await server.listen(0)
    try:
        client = make_client(
            server, security_profile=2, password="pw", tls={"ca": new_ca.cert_pem.bytes()}
        )
        await wait(client.connect())
    finally:
        await server.close()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"security_profile": 1}, "needs a password"),
        ({"security_profile": 2, "password": "x"}, "wss://"),
        ({"security_profile": 5}, "0, 1, 2 or 3"),
    ],
)
def test_client_profile_options_are_checked(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        OCPPClient(
            identity="CP", endpoint="ws://127.0.0.1:1", **options
        ).options.check_connectable()


async def test_reconnect_after_the_server_restarts(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server()
    port = server.port
    client = make_client(server)
    await wait(client.connect())
    reconnects = collect(client, "reconnect")
    disconnected = expect(client, "disconnect")
    await server.close()
    assert (await wait(disconnected)).code == 1001
    opened = expect(client, "open")
    await make_server(port=port)
    await wait(opened, 10)
    assert reconnects and reconnects[0].attempt == 1
    assert await wait(client.call("BootNotification", BOOT16)) == BOOT_OK


async def test_close_is_not_a_disconnect_and_does_not_reconnect(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server()
    client = make_client(server)
    await wait(client.connect())
    disconnects, reconnects = collect(client, "disconnect"), collect(client, "reconnect")
    closed = expect(client, "close")
    await wait(client.close(1000, "done"))
    assert await wait(closed) == CloseEvent(1000, "done")
    await asyncio.sleep(0.1)
    assert disconnects == [] and reconnects == [] and client.state is State.CLOSED


async def test_offline_queue_flushes_after_reconnect(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server()
    port = server.port
    client = make_client(server, offline_queue=True)
    await wait(client.connect())
    disconnected = expect(client, "disconnect")
    await server.close()
    await wait(disconnected)
    queued = [asyncio.ensure_future(client.call("Heartbeat", {})) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(call.done() for call in queued)
    await make_server(port=port)
    results = await wait(asyncio.gather(*queued), 10)
    assert results == [{"currentTime": "2024-01-01T00:00:00Z"}] * 3


async def test_refused_credentials_do_not_loop(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(security_profile=1, auth=accept_password("right"))
    client = make_client(server, security_profile=1, password="wrong")
    with pytest.raises(UnexpectedHttpResponse) as caught:
        await wait(client.connect())
    assert caught.value.status == 401 and not caught.value.retryable


async def test_connection_refused_raises_os_error(make_client: ClientFactory) -> None:
    sock = __import__("socket").socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = make_client(f"ws://127.0.0.1:{port}/ocpp")
    errors = collect(client, "error")
    with pytest.raises(ConnectionRefusedError):
        await wait(client.connect())
    assert len(errors) == 1


async def _silent_websocket_server() -> tuple[asyncio.Server, asyncio.Event, asyncio.Event]:
    """Completes the WebSocket handshake, then never reads again (no pongs) until
    the returned stop event is set."""
    from websockets.server import ServerProtocol
    from websockets.typing import Subprotocol

    handshaken, stop = asyncio.Event(), asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        protocol = ServerProtocol(subprotocols=[Subprotocol("ocpp1.6")])
        events: list[Any] = []
        while not events:
            data = await reader.read(4096)
            if not data:
                return
            protocol.receive_data(data)
            events = protocol.events_received()
        request = events[0]
        protocol.send_response(protocol.accept(request))  # type: ignore[arg-type]
        for chunk in protocol.data_to_send():
            writer.write(chunk)
        await writer.drain()
        handshaken.set()
        await stop.wait()  # hold the socket open without answering anything
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, handshaken, stop


async def test_pings_detect_a_dead_peer(make_client: ClientFactory) -> None:
    server, handshaken, stop = await _silent_websocket_server()
    port = server.sockets[0].getsockname()[1]
    try:
        client = make_client(f"ws://127.0.0.1:{port}/ocpp", ping_interval_ms=100, reconnect=False)
        closed = expect(client, "close")
        await wait(client.connect())
        await wait(handshaken.wait())
        event = await wait(closed)
        assert event.code == 1011 and "ping" in event.reason
    finally:
        stop.set()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("compression", [False, True])
async def test_client_refuses_frames_over_64_kib_by_default(
    make_server: ServerFactory, make_client: ClientFactory, compression: bool
) -> None:
    """The reference's maxPayloadBytes default, as on the server; with compression
    the limit is on the inflated size (this frame is about 100 bytes on the wire)."""
    server = await make_server(compression=compression)
    client = make_client(server, compression=compression, reconnect=False)
    assert client.options.max_payload_bytes == 65_536
    await wait(client.connect())
    received = collect(client, "message")
    closed = expect(client, "close")
    big = '[2,"big","DataTransfer",{"vendorId":"V","data":"' + "a" * 70_000 + '"}]'
    await server.clients["CP-1"].send_raw(big)
    assert (await wait(closed)).code == 1009  # message too big
    assert received == []


async def test_remote_close_reaches_the_client_with_code_and_reason(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server()
    client = make_client(server, reconnect=False)
    await wait(client.connect())
    closed = expect(client, "close")
    await wait(server.clients["CP-1"].close(4100, "maintenance"))
    assert await wait(closed) == CloseEvent(4100, "maintenance")
