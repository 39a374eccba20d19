"""Every CALL gets an answer, even when its id or its reply cannot go out as is."""

from __future__ import annotations

import json
from typing import Any

from browser_ocpp import OCPPServerClient

from ..peer.conftest import wait
from .conftest import ServerFactory
from .test_transport import HEARTBEAT_OK, raw_station


def _deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


async def _echo_server(make_server: ServerFactory) -> Any:
    def setup(client: OCPPServerClient) -> None:
        client.handle("Heartbeat", lambda ctx: HEARTBEAT_OK)
        client.handle(
            "DataTransfer", lambda ctx: {"status": "Accepted", "data": ctx.params.get("data")}
        )
        client.handle(
            "Authorize", lambda ctx: {"idTagInfo": {"status": "Accepted"}, "x": _deep(10**5)}
        )

    server = await make_server(setup=False)
    server.on("client", setup)
    return server


async def test_a_lone_surrogate_in_the_message_id_is_echoed_escaped(
    make_server: ServerFactory,
) -> None:
    server = await _echo_server(make_server)
    async with await raw_station(server.port) as ws:
        await ws.send('[2,"\\ud800","Heartbeat",{}]')  # valid JSON: an escaped lone surrogate
        raw = await wait(ws.recv())
        assert json.loads(raw) == [3, "\ud800", HEARTBEAT_OK]
        assert "\\ud800" in raw


async def test_a_lone_surrogate_in_the_reply_is_sent_escaped(make_server: ServerFactory) -> None:
    server = await _echo_server(make_server)
    async with await raw_station(server.port) as ws:
        await ws.send('[2,"d1","DataTransfer",{"vendorId":"V","data":"a\\udfffb"}]')
        assert json.loads(await wait(ws.recv())) == [
            3,
            "d1",
            {"status": "Accepted", "data": "a\udfffb"},
        ]


async def test_a_reply_too_deep_to_encode_is_answered_with_an_error(
    make_server: ServerFactory,
) -> None:
    server = await _echo_server(make_server)
    async with await raw_station(server.port) as ws:
        await ws.send('[2,"a1","Authorize",{"idTag":"T"}]')
        reply = json.loads(await wait(ws.recv()))
        assert reply[:3] == [4, "a1", "InternalError"]
        await ws.send('[2,"h1","Heartbeat",{}]')  # and the connection goes on
        assert json.loads(await wait(ws.recv())) == [3, "h1", HEARTBEAT_OK]
