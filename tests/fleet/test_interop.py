"""A fleet of 50 against an independent CSMS: the mobilityhouse ``ocpp`` package's
central system (OCPP 1.6) on ``websockets.serve``, over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, enums
from ocpp.v16 import call_result as result
from ocpp.v16 import datatypes as types
from ocpp.v16.enums import Action

from browser_ocpp.fleet import Fleet, FleetConfig

from .conftest import BRISK, WAIT_S

ACCEPTED = types.IdTagInfo(status=enums.AuthorizationStatus.accepted)
SEEN: Counter[str] = Counter()
TRANSACTION_IDS = itertools.count(1)


def now() -> str:
    return datetime.now(UTC).isoformat()


class TheirCentralSystem(ChargePoint):
    """Its README's central system, answering everything a station sends in 1.6."""

    @on(Action.boot_notification)
    def on_boot(self, **kwargs: Any) -> Any:
        SEEN["BootNotification"] += 1
        return result.BootNotification(
            current_time=now(), interval=300, status=enums.RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **kwargs: Any) -> Any:
        SEEN["Heartbeat"] += 1
        return result.Heartbeat(current_time=now())

    @on(Action.status_notification)
    def on_status(self, **kwargs: Any) -> Any:
        SEEN["StatusNotification"] += 1
        return result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **kwargs: Any) -> Any:
        SEEN["Authorize"] += 1
        return result.Authorize(id_tag_info=ACCEPTED)

    @on(Action.start_transaction)
    def on_start(self, **kwargs: Any) -> Any:
        SEEN["StartTransaction"] += 1
        return result.StartTransaction(transaction_id=next(TRANSACTION_IDS), id_tag_info=ACCEPTED)

    @on(Action.stop_transaction)
    def on_stop(self, **kwargs: Any) -> Any:
        SEEN["StopTransaction"] += 1
        return result.StopTransaction(id_tag_info=ACCEPTED)

    @on(Action.meter_values)
    def on_meter_values(self, **kwargs: Any) -> Any:
        SEEN["MeterValues"] += 1
        return result.MeterValues()


@pytest.fixture
async def their_csms() -> AsyncIterator[str]:
    SEEN.clear()

    async def on_connect(websocket: Any) -> None:
        identity = websocket.request.path.rstrip("/").rsplit("/", 1)[-1]
        with contextlib.suppress(websockets.ConnectionClosed):
            await TheirCentralSystem(identity, websocket, response_timeout=WAIT_S).start()

    server = await websockets.serve(on_connect, "127.0.0.1", 0, subprotocols=["ocpp1.6"])
    port = next(iter(server.sockets)).getsockname()[1]
    yield f"ws://127.0.0.1:{port}/ocpp"
    server.close()
    await asyncio.wait_for(server.wait_closed(), WAIT_S)


async def test_fifty_stations_against_the_ocpp_package(their_csms: str) -> None:
    config = FleetConfig(their_csms, stations=50, duration_s=4.0, ramp_s=1.0, profile=BRISK)
    fleet = Fleet(config)
    snapshot = await asyncio.wait_for(fleet.run(), WAIT_S)
    assert (snapshot.boots.accepted, fleet.not_booted()) == (50, [])
    assert (snapshot.errors, snapshot.disconnects, snapshot.bad_messages) == (0, 0, 0)
    assert snapshot.sessions_started == snapshot.sessions_stopped > 50
    for figures in snapshot.actions:
        assert figures.calls == figures.ok == SEEN[figures.action], figures
        assert 0 < figures.p50_ms <= figures.p99_ms, figures
    assert (
        {f.action for f in snapshot.actions}
        == set(SEEN)
        == {
            "Authorize",
            "BootNotification",
            "Heartbeat",
            "MeterValues",
            "StartTransaction",
            "StatusNotification",
            "StopTransaction",
        }
    )
