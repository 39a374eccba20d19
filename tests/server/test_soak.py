"""A short soak: a fleet doing ordinary work on a server with every guard on, beside
stations that misbehave in each way the guards are for. Longer runs are bench/'s.

Every well-behaved call is answered, every misbehaving station is answered or
dropped as documented, and what the server keeps stays bounded.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from browser_ocpp import OCPPServer, OCPPServerClient, RPCGenericError

from ..peer.conftest import wait
from .conftest import BOOT16, BOOT_OK, ClientFactory
from .test_static import http_get

STATIONS = 20
ROUNDS = 25  # calls of each kind per station
METER = {
    "connectorId": 1,
    "meterValue": [
        {"timestamp": "2024-01-01T00:00:00Z", "sampledValue": [{"value": "10", "unit": "Wh"}]}
    ],
}


def _csms() -> OCPPServer:
    server = OCPPServer(
        protocols=["ocpp1.6"],
        strict_mode=True,
        rate_limit={
            "limit": 1_000,
            "window_ms": 1_000,
            "methods": {"DataTransfer": {"limit": 5, "window_ms": 60_000}},
        },
        max_connections=STATIONS + 10,
        health_endpoint=True,
    )

    def setup(client: OCPPServerClient) -> None:
        client.handle("BootNotification", lambda ctx: BOOT_OK)
        client.handle("Heartbeat", lambda ctx: {"currentTime": "2024-01-01T00:00:00Z"})
        client.handle("MeterValues", lambda ctx: {})
        client.handle("DataTransfer", lambda ctx: {"status": "Accepted"})

    server.on("client", setup)
    return server


async def _work(client: Any) -> int:
    await wait(client.connect())
    answered = 0
    assert await wait(client.call("BootNotification", BOOT16)) == BOOT_OK
    for _ in range(ROUNDS):
        await wait(client.call("Heartbeat", {}))
        await wait(client.call("MeterValues", METER))
        answered += 2
    return answered


async def _invalid_and_unreadable(port: int) -> list[Any]:
    """Schema-invalid calls and frames that are not OCPP: each gets its CALLERROR."""
    answers = []
    async with connect(f"ws://127.0.0.1:{port}/ocpp/BAD-1", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        for number in range(ROUNDS):
            await ws.send(json.dumps([2, f"m{number}", "MeterValues", {"connectorId": "x"}]))
            answers.append(json.loads(await wait(ws.recv())))
            await ws.send("not json at all")
            answers.append(json.loads(await wait(ws.recv())))
    return answers


async def test_a_fleet_works_beside_stations_that_misbehave(make_client: ClientFactory) -> None:
    server = _csms()
    port = await server.listen(0)
    try:
        fleet = [make_client(server, identity=f"CP-{n}") for n in range(STATIONS)]
        greedy = make_client(server, identity="GREEDY")
        await wait(greedy.connect())
        work = asyncio.gather(*(_work(client) for client in fleet))
        noise = asyncio.ensure_future(_invalid_and_unreadable(port))
        refusals: list[str] = []
        for _ in range(10):  # DataTransfer: 5 a minute, then refused at once
            try:
                await wait(greedy.call("DataTransfer", {"vendorId": "V"}))
            except RPCGenericError as exc:
                refusals.append(exc.message)
        answered = await wait(work, 60)
        answers = await wait(noise, 60)

        assert answered == [2 * ROUNDS] * STATIONS  # nothing a good station sent was lost
        assert len(refusals) == 5 and all("rate limited" in text for text in refusals)
        codes = {tuple(answer[:1] + answer[2:3]) for answer in answers}
        # 1.6 spellings: a missing meterValue is found before the connectorId's type.
        assert codes == {(4, "OccurenceConstraintViolation"), (4, "FormationViolation")}
        stats = server.stats()
        assert stats["active_sessions"] <= STATIONS + 2
        assert stats["web_sockets"]["buffered_amount"] < 64 * 1024
        status, _, body = await http_get(port, "/metrics")
        assert status == 200
        heartbeats = [
            sample.value
            for family in text_string_to_metric_families(body.decode())
            for sample in family.samples
            if sample.name == "ocpp_inbound_calls_total"
            and sample.labels == {"action": "Heartbeat", "outcome": "ok"}
        ]
        assert heartbeats == [STATIONS * ROUNDS]
    finally:
        await server.close()
