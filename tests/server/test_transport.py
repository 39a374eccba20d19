"""The websockets transport's direct message path, seen from a raw WebSocket client."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.frames import Frame, Opcode

from browser_ocpp import OCPPServerClient

from ..peer.conftest import wait
from .conftest import ClientFactory, ServerFactory

HEARTBEAT_OK = {"currentTime": "2024-01-01T00:00:00Z"}


def upgrade_request(port: int) -> bytes:
    """A WebSocket upgrade request for CP-1 offering ocpp1.6, as raw bytes."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /ocpp/CP-1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
    ).encode()


async def raw_station(port: int) -> ClientConnection:
    url = f"ws://127.0.0.1:{port}/ocpp/CP-1"
    return await wait(connect(url, subprotocols=["ocpp1.6"]))  # type: ignore[list-item]


async def test_a_fragmented_message_is_joined(make_server: ServerFactory) -> None:
    server = await make_server()
    async with await raw_station(server.port) as ws:
        await ws.send(['[2,"f1",', '"Heartbeat",', "{}]"])  # three frames, one message
        assert json.loads(await wait(ws.recv())) == [3, "f1", HEARTBEAT_OK]


async def test_invalid_utf8_closes_with_1007(make_server: ServerFactory) -> None:
    server = await make_server()
    async with await raw_station(server.port) as ws:
        await ws.send(b'[2,"u1","Heartbeat",{"x":"\xff"}]', text=True)
        await wait(ws.wait_closed())
        assert ws.close_code == 1007


async def test_a_binary_message_is_a_bad_message(make_server: ServerFactory) -> None:
    server = await make_server()
    async with await raw_station(server.port) as ws:
        await ws.send(b'[2,"b1","Heartbeat",{}]')
        reply = json.loads(await wait(ws.recv()))
        assert reply[:3] == [4, "-1", "FormationViolation"]
        assert "binary" in reply[3]


async def test_messages_sent_with_the_handshake_are_answered_in_order(
    make_server: ServerFactory,
) -> None:
    """Frames in the same TCP segment as the upgrade request arrive before the peer
    is attached: they wait and are answered first, in order."""
    server = await make_server()
    frames = b"".join(
        Frame(Opcode.TEXT, f'[2,"e{i}","Heartbeat",{{}}]'.encode()).serialize(
            mask=True, extensions=[]
        )
        for i in range(3)
    )
    request = upgrade_request(server.port)
    reader, writer = await wait(asyncio.open_connection("127.0.0.1", server.port))
    try:
        writer.write(request + frames)  # one write: the server reads both at once
        head = await wait(reader.readuntil(b"\r\n\r\n"))
        assert head.startswith(b"HTTP/1.1 101")
        ids = []
        for _ in range(3):
            first, length = await wait(reader.readexactly(2))
            assert first == 0x81 and length < 126  # unmasked, final text frame
            ids.append(json.loads(await wait(reader.readexactly(length)))[1])
        assert ids == ["e0", "e1", "e2"]
    finally:
        writer.close()


async def test_a_station_that_does_not_read_its_replies_is_dropped(
    make_server: ServerFactory,
) -> None:
    """Replies are written without waiting; a station that keeps calling without
    reading them is dropped (1008) once they pass the backlog limit, not buffered."""
    server = await make_server(setup=False)
    handled = 0
    closed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    big = "x" * 60_000
    call_data = json.dumps({"vendorId": "V", "data": "y" * 20_000})  # calls span many reads

    def on_client(client: OCPPServerClient) -> None:
        def data_transfer(ctx: Any) -> dict[str, Any]:
            nonlocal handled
            handled += 1
            return {"status": "Accepted", "data": big}

        client.handle("DataTransfer", data_transfer)
        client.on("close", lambda event: closed.done() or closed.set_result(event))

    server.on("client", on_client)
    total = 400  # 24 MB of replies: far over the limit
    async with await raw_station(server.port) as ws:
        ws.transport.pause_reading()  # the station never reads
        sender = asyncio.gather(
            *(ws.send(f'[2,"d{i}","DataTransfer",{call_data}]') for i in range(total)),
            return_exceptions=True,
        )
        event = await wait(closed)
        assert (event.code, event.reason) == (1008, "replies are not being read")
        assert handled < total
        await wait(sender)


async def test_replying_on_a_closed_connection_raises(make_server: ServerFactory) -> None:
    server = await make_server(setup=False)
    transports: list[Any] = []
    server.on("client", lambda client: transports.append(client._transport))
    ws = await raw_station(server.port)
    await ws.close()
    await wait(ws.wait_closed())
    assert len(transports) == 1
    with pytest.raises(ConnectionError, match="closed"):
        transports[0].send_now('[3,"x",{}]')


async def test_both_ends_sending_big_calls_at_once_do_not_deadlock(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    """Each side sends more than the socket buffers hold while the other does the
    same: only replies pause reading, so both ends keep reading and all finish."""
    big = {"vendorId": "V", "data": "z" * 50_000}
    server = await make_server(setup=False, call_concurrency=100)
    stations: list[OCPPServerClient] = []

    def on_client(client: OCPPServerClient) -> None:
        client.handle("DataTransfer", lambda ctx: {"status": "Accepted"})
        stations.append(client)

    server.on("client", on_client)
    client = make_client(server, call_concurrency=100)
    client.handle("DataTransfer", lambda ctx: {"status": "Accepted"})
    await wait(client.connect())
    up = [client.call("DataTransfer", big) for _ in range(100)]
    down = [stations[0].call("DataTransfer", big) for _ in range(100)]
    results = await wait(asyncio.gather(*up, *down))
    assert results == [{"status": "Accepted"}] * 200


async def test_nothing_is_read_after_invalid_utf8(make_server: ServerFactory) -> None:
    """A call in the same segment as a frame that fails the connection is not run."""
    server = await make_server(setup=False)
    handled: list[str] = []
    server.on(
        "client",
        lambda c: c.handle("Heartbeat", lambda ctx: handled.append(ctx.message_id) or {}),
    )
    frames = b"".join(
        Frame(Opcode.TEXT, data).serialize(mask=True, extensions=[])
        for data in (b'[2,"a","Heartbeat",{}]', b"\xff", b'[2,"b","Heartbeat",{}]')
    )
    request = upgrade_request(server.port)
    reader, writer = await wait(asyncio.open_connection("127.0.0.1", server.port))
    try:
        writer.write(request)
        head = await wait(reader.readuntil(b"\r\n\r\n"))
        assert head.startswith(b"HTTP/1.1 101")
        writer.write(frames)  # one segment: a good call, invalid UTF-8, a good call
        first, length = await wait(reader.readexactly(2))
        assert first == 0x81  # the answer to "a"
        assert json.loads(await wait(reader.readexactly(length)))[1] == "a"
        first, length = await wait(reader.readexactly(2))
        assert first == 0x88  # then the close frame
        assert int.from_bytes((await wait(reader.readexactly(length)))[:2]) == 1007
    finally:
        writer.close()
    assert handled == ["a"]


async def test_connections_read_into_one_reused_buffer(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    """Connections are BufferedProtocols: the transport reads into one buffer per
    thread (no fresh 256 KiB per read), and messages spanning many reads on several
    connections at once still arrive whole and in order."""
    from browser_ocpp.server.transport import RECEIVE_BUFFER, _DirectMessages, _receiving

    server = await make_server(setup=False, max_payload_bytes=4 * RECEIVE_BUFFER)
    connections: list[Any] = []

    def on_client(client: OCPPServerClient) -> None:
        connections.append(client._transport.connection)  # type: ignore[attr-defined]
        client.handle(
            "DataTransfer", lambda ctx: {"status": "Accepted", "data": ctx.params["data"]}
        )

    server.on("client", on_client)
    clients = [
        make_client(server, identity=f"CP-{i}", max_payload_bytes=4 * RECEIVE_BUFFER)
        for i in range(3)
    ]
    await wait(asyncio.gather(*(client.connect() for client in clients)))
    calls = [
        client.call("DataTransfer", {"vendorId": "V", "data": f"{i}{n}" * (RECEIVE_BUFFER // 3)})
        for n in range(2)
        for i, client in enumerate(clients)
    ]
    results = await wait(asyncio.gather(*calls))
    assert [r["data"] for r in results] == [
        f"{i}{n}" * (RECEIVE_BUFFER // 3) for n in range(2) for i in range(3)
    ]
    assert all(isinstance(c, asyncio.BufferedProtocol) for c in connections)
    assert isinstance(connections[0], _DirectMessages)
    view = _receiving.view
    assert len(view) == RECEIVE_BUFFER
    assert all(c.get_buffer(-1) is view for c in connections)


def masked(payload: bytes, first: int = 0x81) -> bytes:
    """A client frame: ``first`` byte (FIN + opcode, default a final text frame)."""
    frame = Frame(Opcode.TEXT, payload).serialize(mask=True, extensions=[])
    return bytes([first]) + frame[1:]


async def open_raw(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await wait(asyncio.open_connection("127.0.0.1", port))
    writer.write(upgrade_request(port))
    head = await wait(reader.readuntil(b"\r\n\r\n"))
    assert head.startswith(b"HTTP/1.1 101")
    return reader, writer


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await wait(reader.readexactly(2))
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(await wait(reader.readexactly(2)), "big")
    elif length == 127:
        length = int.from_bytes(await wait(reader.readexactly(8)), "big")
    return first, await wait(reader.readexactly(length))


async def test_frames_read_directly_and_by_websockets_are_answered_alike(
    make_server: ServerFactory,
) -> None:
    """Once websockets' parser waits at a frame start, whole final text frames are
    read from the receive buffer directly; everything else goes to websockets. Both
    roads give the same answers, in order, whatever the frame sizes and cuts."""
    from browser_ocpp.server.transport import _DirectMessages

    server = await make_server(setup=False, max_payload_bytes=200_000)
    connections: list[_DirectMessages] = []

    def on_client(client: OCPPServerClient) -> None:
        connections.append(client._transport.connection)  # type: ignore[attr-defined]
        client.handle(
            "DataTransfer", lambda ctx: {"status": "Accepted", "data": ctx.params["data"]}
        )

    server.on("client", on_client)
    reader, writer = await open_raw(server.port)
    try:
        sizes = [0, 1, 60, 61, 62, 125, 126, 127, 65_535, 65_536, 100_000, "é" * 3, "€"]
        calls = []
        for i, size in enumerate(sizes):
            data = size if isinstance(size, str) else "x" * size
            text = json.dumps([2, f"m{i}", "DataTransfer", {"vendorId": "V", "data": data}])
            calls.append((f"m{i}", data, masked(text.encode())))
        # the first call alone (websockets reads it), then the rest: one write, in
        # pieces cutting frames anywhere, with a ping in the middle
        writer.write(calls[0][2])
        first, payload = await read_frame(reader)
        assert json.loads(payload)[1] == "m0"
        assert connections[0]._fast > 0
        ping = Frame(Opcode.PING, b"hi").serialize(mask=True, extensions=[])
        stream = b"".join(c[2] for c in calls[1:6]) + ping + b"".join(c[2] for c in calls[6:])
        for cut in range(0, len(stream), 7_001):
            writer.write(stream[cut : cut + 7_001])
            await writer.drain()
        answers = {}
        pong = None
        while len(answers) < len(calls) - 1:
            first, payload = await read_frame(reader)
            if first == 0x8A:
                pong = payload
                continue
            assert first == 0x81
            reply = json.loads(payload)
            answers[reply[1]] = reply[2]["data"]
        assert pong == b"hi"
        assert answers == {i: data for i, data, _ in calls[1:]}
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (masked(b'[2,"a","Heartbeat",{"x":"\xff"}]'), 1007),  # invalid UTF-8
        (masked(b'[2,"a","Heartbeat",{}]', first=0xC1), 1002),  # RSV1 without an extension
        (Frame(Opcode.TEXT, b'[2,"a","Heartbeat",{}]').serialize(mask=False, extensions=[]), 1002),
        (masked(b"x" * 70_000), 1009),  # over max_payload_bytes
    ],
)
async def test_frames_refused_after_the_direct_road_opened(
    make_server: ServerFactory, frame: bytes, code: int
) -> None:
    """A frame websockets would refuse is refused the same way once frames are
    read directly (the direct road leaves all but plain final text frames to it)."""
    server = await make_server()
    reader, writer = await open_raw(server.port)
    try:
        writer.write(masked(b'[2,"h1","Heartbeat",{}]'))
        _, payload = await read_frame(reader)
        assert json.loads(payload)[1] == "h1"
        writer.write(masked(b'[2,"h2","Heartbeat",{}]') + frame)
        _, payload = await read_frame(reader)
        assert json.loads(payload)[1] == "h2"
        first, payload = await read_frame(reader)
        assert first == 0x88
        assert int.from_bytes(payload[:2], "big") == code
    finally:
        writer.close()


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 70_000])
def test_a_reply_written_directly_has_websockets_bytes(size: int) -> None:
    """Replies are framed by hand on a server: the bytes websockets would write."""
    from unittest.mock import MagicMock

    from websockets.protocol import OPEN
    from websockets.server import ServerProtocol

    from browser_ocpp.server.transport import OCPPServerConnection

    text = ("é€" * size)[:size]
    written: list[bytes] = []
    connection = OCPPServerConnection.__new__(OCPPServerConnection)
    protocol = ServerProtocol()
    protocol.state = OPEN
    connection.protocol = protocol
    connection.transport = MagicMock()
    connection.transport.write = written.append
    connection._reading = False  # no read being handled: written at once
    assert not protocol.debug  # else websockets frames it, to log it
    connection.write_text(text)
    assert protocol.data_to_send() == []  # framed by hand: websockets saw nothing
    protocol.send_text(text.encode())
    assert written == protocol.data_to_send()


async def test_replies_to_the_calls_of_one_read_go_out_in_one_write(
    make_server: ServerFactory,
) -> None:
    """The replies produced while one read is handled are written together, in
    order: asyncio (Python 3.12+) pays for each write with a pass over all it holds
    unsent, so a write per reply costs CPU quadratic in what the other end leaves
    unread. Counted through the real socket transport of the server's connection."""
    server = await make_server()
    connections: list[Any] = []
    server.on("client", lambda client: connections.append(client._transport.connection))
    reader, writer = await open_raw(server.port)
    try:
        writer.write(masked(b'[2,"h","Heartbeat",{}]'))
        await read_frame(reader)
        connection = connections[0]
        counts = {"reads": 0, "writes": 0}
        write, updated = connection.transport.write, connection.buffer_updated

        def counted_write(data: bytes) -> None:
            counts["writes"] += 1
            write(data)

        def counted_update(nbytes: int) -> None:
            counts["reads"] += 1
            updated(nbytes)

        connection.transport.write = counted_write
        connection.buffer_updated = counted_update
        total = 50
        writer.write(
            b"".join(masked(f'[2,"c{i}","Heartbeat",{{}}]'.encode()) for i in range(total))
        )
        ids = [json.loads((await read_frame(reader))[1])[1] for _ in range(total)]
        assert ids == [f"c{i}" for i in range(total)]
        assert 1 <= counts["writes"] <= counts["reads"] < total
    finally:
        writer.close()


async def test_batched_replies_keep_their_place_around_a_pong(make_server: ServerFactory) -> None:
    """Replies waiting to be written go out before a frame websockets writes (a pong
    here, a close frame elsewhere): the wire keeps the order things were answered in."""
    server = await make_server()
    reader, writer = await open_raw(server.port)
    try:
        writer.write(masked(b'[2,"h","Heartbeat",{}]'))
        await read_frame(reader)
        ping = Frame(Opcode.PING, b"p").serialize(mask=True, extensions=[])
        calls = [masked(f'[2,"c{i}","Heartbeat",{{}}]'.encode()) for i in range(20)]
        writer.write(b"".join(calls[:10]) + ping + b"".join(calls[10:]))
        seen = []
        for _ in range(21):
            first, payload = await read_frame(reader)
            seen.append("pong" if first == 0x8A else json.loads(payload)[1])
        assert seen == [*(f"c{i}" for i in range(10)), "pong", *(f"c{i}" for i in range(10, 20))]
    finally:
        writer.close()


async def test_replies_held_back_past_the_batch_limit_are_written_at_once(
    make_server: ServerFactory,
) -> None:
    """Replies held back while a read is handled go out once they pass BATCH_LIMIT,
    not all at its end: the backlog checks see them, and memory stays bounded."""
    from browser_ocpp.server.transport import BATCH_LIMIT

    server = await make_server(setup=False)
    connections: list[Any] = []
    reply_data = "r" * 10_000

    def on_client(client: OCPPServerClient) -> None:
        connections.append(client._transport.connection)  # type: ignore[attr-defined]
        client.handle("DataTransfer", lambda ctx: {"status": "Accepted", "data": reply_data})

    server.on("client", on_client)
    reader, writer = await open_raw(server.port)
    try:
        call = '[2,"{}","DataTransfer",{{"vendorId":"V"}}]'
        writer.write(masked(call.format("d").encode()))
        await read_frame(reader)
        connection = connections[0]
        sizes: list[int] = []
        write = connection.transport.write

        def counted_write(data: bytes) -> None:
            sizes.append(len(data))
            write(data)

        connection.transport.write = counted_write
        total = 3 * BATCH_LIMIT // len(reply_data)
        writer.write(b"".join(masked(call.format(f"d{i}").encode()) for i in range(total)))
        ids = [json.loads((await read_frame(reader))[1])[1] for _ in range(total)]
        assert ids == [f"d{i}" for i in range(total)]
        assert len(sizes) >= 3 and max(sizes) < BATCH_LIMIT + len(reply_data) + 100
    finally:
        writer.close()


async def test_a_sink_that_raises_closes_with_1011_and_is_logged(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The peer never raises from its sink; if it did, the message is logged and the
    connection closed (1011), on the direct frame road as on websockets'."""
    server = await make_server()
    connections: list[Any] = []
    server.on("client", lambda client: connections.append(client._transport.connection))
    reader, writer = await open_raw(server.port)
    try:
        writer.write(masked(b'[2,"h","Heartbeat",{}]'))
        await read_frame(reader)
        assert connections[0]._fast > 0  # the next frame takes the direct road

        def broken(message: str | bytes) -> None:
            raise RuntimeError("broken sink")

        connections[0].sink = broken
        writer.write(masked(b'[2,"x","Heartbeat",{}]'))
        first, payload = await read_frame(reader)
        assert first == 0x88 and int.from_bytes(payload[:2], "big") == 1011
        assert any("message handler failed" in r.getMessage() for r in caplog.records)
    finally:
        writer.close()
