"""permessage-deflate on loopback: the options, the negotiated parameters, and the
frames on the wire (RSV1 and payload bytes seen by an independent websockets peer)."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.typing import ExtensionParameter, Subprotocol

from browser_ocpp import (
    CloseEvent,
    CompressionOptions,
    ConnectionClosedError,
    OCPPClient,
    OCPPServer,
)
from browser_ocpp.server.compression import ThresholdDeflate

from ..peer.conftest import expect, wait
from .conftest import BOOT16, BOOT_OK, ClientFactory, ServerFactory

Wire = list[tuple[bool, bytes]]
"""Data frames as received: (RSV1, payload before inflating)."""


def record(extension: PerMessageDeflate, wire: Wire) -> PerMessageDeflate:
    decode = extension.decode

    def recording(frame: Frame, *, max_size: int | None = None) -> Frame:
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            wire.append((frame.rsv1, bytes(frame.data)))
        return decode(frame, max_size=max_size)

    extension.decode = recording  # type: ignore[method-assign]
    return extension


class RecordingClientFactory(ClientPerMessageDeflateFactory):
    def __init__(self, wire: Wire, **options: Any) -> None:
        super().__init__(**options)
        self.wire = wire

    def process_response_params(
        self, params: Sequence[ExtensionParameter], accepted: Sequence[Extension]
    ) -> PerMessageDeflate:
        return record(super().process_response_params(params, accepted), self.wire)


class RecordingServerFactory(ServerPerMessageDeflateFactory):
    def __init__(self, wire: Wire, **options: Any) -> None:
        super().__init__(**options)
        self.wire = wire

    def process_request_params(
        self, params: Sequence[ExtensionParameter], accepted: Sequence[Extension]
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        response, extension = super().process_request_params(params, accepted)
        return response, record(extension, self.wire)


def deflated(text: str, level: int = 6, mem_level: int = 8) -> bytes:
    """What permessage-deflate puts on the wire for one message without context."""
    encoder = zlib.compressobj(level, zlib.DEFLATED, -15, mem_level)
    return (encoder.compress(text.encode()) + encoder.flush(zlib.Z_SYNC_FLUSH))[:-4]


def meter_text(samples: int) -> str:
    """A MeterValues-like text of realistic repetitiveness, ``samples`` values long."""
    return "".join(f"sample {i} value {i * 7 % 13}.{i % 10} Wh; " for i in range(samples))


def extensions_header(connection: ClientConnection | ServerConnection) -> str | None:
    response = connection.response
    assert response is not None
    return response.headers.get("Sec-WebSocket-Extensions")


def echo_handlers(client: Any) -> None:
    client.handle("BootNotification", lambda ctx: BOOT_OK)
    client.handle("DataTransfer", lambda ctx: {"status": "Accepted", "data": ctx.params["data"]})


@pytest.fixture
async def plain_server() -> AsyncIterator[Any]:
    """``await plain_server(wire, **factory_options)``: an independent websockets CSMS
    that records the frames it receives and echoes DataTransfer data back."""
    servers: list[Server] = []

    async def handler(connection: ServerConnection) -> None:
        async for message in connection:
            _, message_id, action, params = json.loads(message)
            reply = BOOT_OK if action == "BootNotification" else {"status": "Accepted", **params}
            await connection.send(json.dumps([3, message_id, reply]))

    async def make(wire: Wire, **options: Any) -> str:
        server = await serve(
            handler,
            "127.0.0.1",
            0,
            subprotocols=[Subprotocol("ocpp1.6")],
            compression=None,
            extensions=[RecordingServerFactory(wire, **options)],
        )
        servers.append(server)
        return f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}/ocpp"

    yield make
    for server in servers:
        server.close()
        await server.wait_closed()


def plain_station(server: OCPPServer, wire: Wire, **options: Any) -> Any:
    """An independent websockets station that records the frames it receives."""
    return connect(
        f"ws://127.0.0.1:{server.port}/ocpp/CP-1",
        subprotocols=[Subprotocol("ocpp1.6")],
        compression=None,
        extensions=[RecordingClientFactory(wire, **options)],
    )


# -- options -----------------------------------------------------------------------------


def test_true_means_the_reference_defaults() -> None:
    server = OCPPServer(compression=True)
    assert server.options.compression == CompressionOptions(
        threshold=1024,
        level=6,
        mem_level=8,
        server_no_context_takeover=True,
        client_no_context_takeover=True,
    )
    assert OCPPServer().options.compression is False
    assert OCPPClient(compression=False).options.compression is False


def test_a_dict_or_options_set_fields() -> None:
    client = OCPPClient(compression={"level": 9, "threshold": 0})
    assert client.options.compression == CompressionOptions(level=9, threshold=0)
    options = CompressionOptions(mem_level=3, client_no_context_takeover=False)
    assert OCPPServer(compression=options).options.compression is options
    client.reconfigure(compression={"mem_level": 2})
    assert client.options.compression == CompressionOptions(mem_level=2)


@pytest.mark.parametrize("make", [OCPPServer, OCPPClient])
def test_unknown_keys_are_refused_by_name(make: Any) -> None:
    with pytest.raises(TypeError, match=r"unknown compression option\(s\): memLevel"):
        make(compression={"memLevel": 5})
    with pytest.raises(TypeError, match="window_bits, zlevel"):
        make(compression={"level": 5, "zlevel": 1, "window_bits": 9})


@pytest.mark.parametrize("make", [OCPPServer, OCPPClient])
@pytest.mark.parametrize(
    ("compression", "error", "match"),
    [
        ({"level": 10}, ValueError, "level must be from -1 to 9"),
        ({"level": -2}, ValueError, "level must be from -1 to 9"),
        ({"mem_level": 0}, ValueError, "mem_level must be from 1 to 9"),
        ({"mem_level": 10}, ValueError, "mem_level must be from 1 to 9"),
        ({"threshold": -1}, ValueError, "threshold must be 0 or more"),
        ({"threshold": 1.5}, TypeError, "threshold must be an integer"),
        ({"threshold": True}, TypeError, "threshold must be an integer"),
        ({"level": "6"}, TypeError, "level must be an integer"),
        ({"server_no_context_takeover": 1}, TypeError, "server_no_context_takeover must be"),
        ({"client_no_context_takeover": None}, TypeError, "client_no_context_takeover must"),
        ("deflate", TypeError, "compression must be a bool, a dict or CompressionOptions"),
        (1, TypeError, "compression must be a bool"),
    ],
)
def test_bad_values_are_refused(
    make: Any, compression: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        make(compression=compression)


def test_level_minus_one_and_zero_are_zlib_levels() -> None:
    assert CompressionOptions(level=-1).compress_settings == {"level": -1, "memLevel": 8}
    assert CompressionOptions(level=0, mem_level=9).compress_settings == {
        "level": 0,
        "memLevel": 9,
    }


# -- negotiation -------------------------------------------------------------------------


async def test_defaults_negotiate_no_context_takeover_both_ways(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(compression=True)
    client = make_client(server, compression=True)
    connected = expect(server, "client")
    await wait(client.connect())
    station = await wait(connected)
    ours = client._transport.connection  # type: ignore[union-attr]
    theirs = station._transport.connection
    offer = theirs.request.headers["Sec-WebSocket-Extensions"]
    assert offer == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "client_max_window_bits"
    )
    assert extensions_header(ours) == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    )
    for connection in (ours, theirs):
        (extension,) = connection.protocol.extensions
        assert isinstance(extension, ThresholdDeflate)
        assert extension.local_no_context_takeover and extension.remote_no_context_takeover
        assert (extension.local_max_window_bits, extension.remote_max_window_bits) == (15, 15)
        assert extension.compress_settings == {"level": 6, "memLevel": 8}
        assert extension.threshold == 1024
    assert await wait(client.call("BootNotification", BOOT16)) == BOOT_OK


async def test_context_takeover_kept_when_neither_side_gives_it_up(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    keep = {"server_no_context_takeover": False, "client_no_context_takeover": False}
    server = await make_server(compression={**keep, "level": 9, "threshold": 10})
    client = make_client(server, compression={**keep, "mem_level": 4, "threshold": 20})
    connected = expect(server, "client")
    await wait(client.connect())
    station = await wait(connected)
    ours = client._transport.connection  # type: ignore[union-attr]
    assert theirs_offer(station) == "permessage-deflate; client_max_window_bits"
    assert extensions_header(ours) == "permessage-deflate"
    (client_side,) = ours.protocol.extensions
    (server_side,) = station._transport.connection.protocol.extensions
    for extension in (client_side, server_side):
        assert not extension.local_no_context_takeover
        assert not extension.remote_no_context_takeover
    # Each side deflates with its own settings.
    assert client_side.compress_settings == {"level": 6, "memLevel": 4}
    assert client_side.threshold == 20
    assert server_side.compress_settings == {"level": 9, "memLevel": 8}
    assert server_side.threshold == 10


def theirs_offer(station: Any) -> str:
    return str(station._transport.connection.request.headers["Sec-WebSocket-Extensions"])


async def test_either_side_asking_for_no_context_takeover_is_enough(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(
        compression={"server_no_context_takeover": False, "client_no_context_takeover": True}
    )
    client = make_client(
        server,
        compression={"server_no_context_takeover": True, "client_no_context_takeover": False},
    )
    await wait(client.connect())
    ours = client._transport.connection  # type: ignore[union-attr]
    assert extensions_header(ours) == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    )
    (extension,) = ours.protocol.extensions
    assert extension.local_no_context_takeover and extension.remote_no_context_takeover


@pytest.mark.parametrize(("on_server", "on_client"), [(True, False), (False, True)])
async def test_one_side_off_means_no_compression(
    make_server: ServerFactory, make_client: ClientFactory, on_server: bool, on_client: bool
) -> None:
    server = await make_server(compression=on_server)
    client = make_client(server, compression=on_client)
    connected = expect(server, "client")
    await wait(client.connect())
    station = await wait(connected)
    ours = client._transport.connection  # type: ignore[union-attr]
    assert extensions_header(ours) is None
    assert ours.protocol.extensions == []
    assert station._transport.connection.protocol.extensions == []
    offer = station._transport.connection.request.headers.get("Sec-WebSocket-Extensions")
    assert (offer is not None) is on_client
    assert await wait(client.call("BootNotification", BOOT16)) == BOOT_OK


# -- frames on the wire: the server's replies and calls (the direct write path) ----------


async def test_server_compresses_large_messages_and_not_small_ones(
    make_server: ServerFactory,
) -> None:
    server = await make_server(setup=False, compression={"threshold": 200})
    server.on("client", echo_handlers)
    big, small = meter_text(100), "x" * 100
    wire: Wire = []
    async with plain_station(server, wire) as station:
        assert extensions_header(station) == (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        )
        for message_id, data in (("1", big), ("2", small)):
            await station.send(json.dumps([2, message_id, "DataTransfer", {"data": data}]))
            reply = json.loads(await wait(station.recv()))
            assert reply == [3, message_id, {"status": "Accepted", "data": data}]
    (big_rsv1, big_payload), (small_rsv1, small_payload) = wire
    big_text = json.dumps([3, "1", {"status": "Accepted", "data": big}], separators=(",", ":"))
    assert big_rsv1 and big_payload == deflated(big_text)
    assert len(big_payload) < len(big_text) // 3
    assert not small_rsv1
    assert json.loads(small_payload) == [3, "2", {"status": "Accepted", "data": small}]


async def test_server_calls_to_a_station_are_compressed_too(
    make_server: ServerFactory,
) -> None:
    server = await make_server(compression={"threshold": 0, "level": 9, "mem_level": 1})
    wire: Wire = []
    connected = expect(server, "client")
    async with plain_station(server, wire) as station:
        await wait(connected)
        await station.send(json.dumps([2, "b", "BootNotification", BOOT16]))
        await wait(station.recv())
        pending = asyncio.ensure_future(
            server.send_to_client("CP-1", "DataTransfer", {"vendorId": "V", "data": "y"})
        )
        call = json.loads(await wait(station.recv()))
        await station.send(json.dumps([3, call[1], {"status": "Accepted"}]))
        assert await wait(pending) == {"status": "Accepted"}
    boot_reply, data_call = wire
    assert boot_reply[0] and data_call[0]  # threshold 0: even tiny messages are deflated
    call_text = json.dumps(call, separators=(",", ":"))
    assert data_call[1] == deflated(call_text, level=9, mem_level=1)


async def test_level_and_mem_level_reach_zlib(make_server: ServerFactory) -> None:
    data = meter_text(200)
    payloads = {}
    for level, mem_level in ((0, 8), (1, 8), (6, 1), (9, 9)):
        server = await make_server(
            setup=False, compression={"level": level, "mem_level": mem_level, "threshold": 0}
        )
        server.on("client", echo_handlers)
        wire: Wire = []
        async with plain_station(server, wire) as station:
            await station.send(json.dumps([2, "1", "DataTransfer", {"data": data}]))
            await wait(station.recv())
        ((rsv1, payload),) = wire
        text = json.dumps([3, "1", {"status": "Accepted", "data": data}], separators=(",", ":"))
        assert rsv1 and payload == deflated(text, level, mem_level)
        payloads[level, mem_level] = payload
    assert len(payloads[0, 8]) > len(data)  # level 0 stores
    assert len(set(payloads.values())) == 4


async def test_context_takeover_carries_the_dictionary_across_messages(
    make_server: ServerFactory,
) -> None:
    """With takeover, a repeated message costs a few bytes; without, the full price."""
    sizes = {}
    for takeover in (True, False):
        server = await make_server(
            setup=False,
            compression={"server_no_context_takeover": not takeover, "threshold": 0},
        )
        server.on("client", echo_handlers)
        wire: Wire = []
        takeover_options = {"server_no_context_takeover": not takeover}
        async with plain_station(server, wire, **takeover_options) as station:
            for message_id in "ab":
                params = {"data": meter_text(60)}
                await station.send(json.dumps([2, message_id, "DataTransfer", params]))
                await wait(station.recv())
        sizes[takeover] = [len(payload) for _, payload in wire]
    first, second = sizes[True]
    assert second < first // 4
    assert all(abs(size - first) <= 2 for size in sizes[False])  # ids differ: a byte


async def test_threshold_skips_keep_a_shared_context_in_step(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    """Small messages skipped between deflated ones, with context takeover both ways:
    both decoders stay in step (each message arrives intact)."""
    keep = {"server_no_context_takeover": False, "client_no_context_takeover": False}
    server = await make_server(setup=False, compression={**keep, "threshold": 64})
    server.on("client", echo_handlers)
    client = make_client(server, compression={**keep, "threshold": 64})
    await wait(client.connect())
    for i in range(12):
        data = meter_text(40 + i) if i % 3 else f"short {i}"
        reply = await wait(client.call("DataTransfer", {"vendorId": "V", "data": data}))
        assert reply == {"status": "Accepted", "data": data}


# -- frames on the wire: the station client ----------------------------------------------


async def test_client_compresses_large_messages_and_not_small_ones(
    plain_server: Any, make_client: ClientFactory
) -> None:
    wire: Wire = []
    url = await plain_server(wire, server_no_context_takeover=True)
    client = make_client(url, compression={"threshold": 300, "level": 1, "mem_level": 9})
    await wait(client.connect())
    ours = client._transport.connection  # type: ignore[union-attr]
    assert extensions_header(ours) == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    )
    assert await wait(client.call("BootNotification", BOOT16)) == BOOT_OK
    big = {"vendorId": "V", "data": meter_text(80)}
    assert await wait(client.call("DataTransfer", big)) == {"status": "Accepted", **big}
    (boot_rsv1, boot_payload), (big_rsv1, big_payload) = wire
    assert not boot_rsv1 and json.loads(boot_payload)[3] == BOOT16
    call = json.loads(zlib.decompressobj(-15).decompress(big_payload + b"\x00\x00\xff\xff"))
    assert call[2:] == ["DataTransfer", big]
    call_text = json.dumps(call, separators=(",", ":"))
    assert big_rsv1 and big_payload == deflated(call_text, level=1, mem_level=9)
    assert len(big_payload) < len(call_text) // 3


async def test_client_without_compression_sends_plain_frames(
    plain_server: Any, make_client: ClientFactory
) -> None:
    wire: Wire = []
    url = await plain_server(wire)
    client = make_client(url)
    await wait(client.connect())
    ours = client._transport.connection  # type: ignore[union-attr]
    assert extensions_header(ours) is None
    await wait(client.call("DataTransfer", {"vendorId": "V", "data": meter_text(80)}))
    assert wire == []  # no extension negotiated: nothing went through one


# -- limits ------------------------------------------------------------------------------


async def test_max_payload_bytes_bounds_the_inflated_size(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    """A message that inflates past max_payload_bytes is refused (1009) however small
    it is on the wire."""
    server = await make_server(setup=False, max_payload_bytes=10_000, compression=True)
    server.on("client", echo_handlers)
    client = make_client(server, compression=True, reconnect=False)
    await wait(client.connect())
    closed = expect(client, "close")
    with pytest.raises(ConnectionClosedError, match="1009"):
        await wait(client.call("DataTransfer", {"vendorId": "V", "data": "a" * 50_000}))
    event: CloseEvent = await wait(closed)
    assert event.code == 1009
