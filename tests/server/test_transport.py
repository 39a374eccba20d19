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
from .conftest import ServerFactory

HEARTBEAT_OK = {"currentTime": "2024-01-01T00:00:00Z"}


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
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ocpp/CP-1 HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
    ).encode()
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


async def test_a_station_that_does_not_read_stops_being_read(
    make_server: ServerFactory,
) -> None:
    """Replies are written without waiting; while they pile up unread, the server
    stops reading calls. Once the station reads again, every call is answered."""
    server = await make_server(setup=False)
    handled = 0
    paused = asyncio.Event()
    big = "x" * 60_000
    call_data = json.dumps({"vendorId": "V", "data": "y" * 20_000})  # calls span many reads

    def on_client(client: OCPPServerClient) -> None:
        def data_transfer(ctx: Any) -> dict[str, Any]:
            nonlocal handled
            handled += 1
            return {"status": "Accepted", "data": big}

        client.handle("DataTransfer", data_transfer)
        socket = client._transport.connection.transport  # type: ignore[union-attr]
        pause_reading = socket.pause_reading

        def spy() -> None:  # tells the test when the server stops reading
            pause_reading()
            paused.set()

        socket.pause_reading = spy

    server.on("client", on_client)
    total = 400  # 8 MB of calls, 24 MB of replies: more than the socket buffers hold
    async with await raw_station(server.port) as ws:
        ws.transport.pause_reading()  # the station stops reading
        sender = asyncio.ensure_future(
            asyncio.gather(
                *(ws.send(f'[2,"d{i}","DataTransfer",{call_data}]') for i in range(total))
            )
        )
        await wait(paused.wait())
        assert 0 < handled < total
        # Replies held back: the write limit plus those of one read (at most 256 KiB
        # of calls, 13 here), not the 24 MB the calls sent would make.
        assert server.stats()["web_sockets"]["buffered_amount"] < 2_000_000
        ws.transport.resume_reading()
        answered = set()
        for _ in range(total):
            answered.add(json.loads(await wait(ws.recv()))[1])
        await wait(sender)
    assert answered == {f"d{i}" for i in range(total)}
    assert handled == total


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
