"""Another CSMS for the emulated station: the mobilityhouse ``ocpp`` package's central
system (1.6 and 2.0.1) on ``websockets.serve``, over loopback.  It checks every payload
against its own schemas both ways, and records what the station sends it.  The
``their_csms`` fixture (registered in conftest.py) connects a booted station to it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201

from browser_ocpp import OCPPClient
from browser_ocpp.emulator import Station, StationConfig

__all__ = ["WAIT_S", "Central16", "Central201", "Connect", "Kwargs", "Received", "their_csms"]

WAIT_S = 10.0
Kwargs = dict[str, Any]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Received:
    """What the station sent one server (over all its connections: a reboot reconnects),
    per action to wait on, and in the order it came (``order``)."""

    def __init__(self) -> None:
        self.inbox: defaultdict[str, asyncio.Queue[Kwargs]] = defaultdict(asyncio.Queue)
        self.order: list[tuple[str, Kwargs]] = []
        self.current: Any = None
        """The central system of the station's latest connection."""

    def got(self, action: str, kwargs: Kwargs) -> None:
        self.order.append((action, kwargs))
        self.inbox[action].put_nowait(kwargs)

    async def until(self, action: str, check: Callable[[Kwargs], bool]) -> Kwargs:
        """The next ``action`` received for which ``check`` holds (bounded wait)."""

        async def scan() -> Kwargs:
            while True:
                kwargs = await self.inbox[action].get()
                if check(kwargs):
                    return kwargs

        return await asyncio.wait_for(scan(), WAIT_S)


class _Recorder:
    """A central system that records in its server's :class:`Received`."""

    def __init__(self, *args: Any, received: Received, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received = received
        received.current = self

    def got(self, action: str, kwargs: Kwargs) -> None:
        self.received.got(action, kwargs)

    async def until(self, action: str, check: Callable[[Kwargs], bool]) -> Kwargs:
        return await self.received.until(action, check)


class Central16(_Recorder, ChargePoint16):  # type: ignore[misc]
    @on("BootNotification")
    def on_boot(self, **kw: Any) -> Any:
        self.got("BootNotification", kw)
        return result16.BootNotification(current_time=now(), interval=300, status="Accepted")

    @on("Heartbeat")
    def on_heartbeat(self, **kw: Any) -> Any:
        return result16.Heartbeat(current_time=now())

    @on("StatusNotification")
    def on_status(self, **kw: Any) -> Any:
        self.got("StatusNotification", kw)
        return result16.StatusNotification()

    @on("Authorize")
    def on_authorize(self, **kw: Any) -> Any:
        self.got("Authorize", kw)
        return result16.Authorize(id_tag_info={"status": "Accepted"})

    @on("StartTransaction")
    def on_start(self, **kw: Any) -> Any:
        self.got("StartTransaction", kw)
        return result16.StartTransaction(transaction_id=77, id_tag_info={"status": "Accepted"})

    @on("StopTransaction")
    def on_stop(self, **kw: Any) -> Any:
        self.got("StopTransaction", kw)
        return result16.StopTransaction()

    @on("MeterValues")
    def on_meter(self, **kw: Any) -> Any:
        self.got("MeterValues", kw)
        return result16.MeterValues()

    @on("FirmwareStatusNotification")
    def on_firmware(self, **kw: Any) -> Any:
        self.got("FirmwareStatusNotification", kw)
        return result16.FirmwareStatusNotification()

    @on("DiagnosticsStatusNotification")
    def on_diagnostics(self, **kw: Any) -> Any:
        self.got("DiagnosticsStatusNotification", kw)
        return result16.DiagnosticsStatusNotification()


class Central201(_Recorder, ChargePoint201):  # type: ignore[misc]
    @on("BootNotification")
    def on_boot(self, **kw: Any) -> Any:
        self.got("BootNotification", kw)
        return result201.BootNotification(current_time=now(), interval=300, status="Accepted")

    @on("Heartbeat")
    def on_heartbeat(self, **kw: Any) -> Any:
        return result201.Heartbeat(current_time=now())

    @on("StatusNotification")
    def on_status(self, **kw: Any) -> Any:
        self.got("StatusNotification", kw)
        return result201.StatusNotification()

    @on("Authorize")
    def on_authorize(self, **kw: Any) -> Any:
        self.got("Authorize", kw)
        return result201.Authorize(id_token_info={"status": "Accepted"})

    @on("TransactionEvent")
    def on_transaction(self, **kw: Any) -> Any:
        self.got("TransactionEvent", kw)
        return result201.TransactionEvent()

    @on("MeterValues")
    def on_meter(self, **kw: Any) -> Any:
        return result201.MeterValues()

    @on("ReportChargingProfiles")
    def on_report(self, **kw: Any) -> Any:
        self.got("ReportChargingProfiles", kw)
        return result201.ReportChargingProfiles()

    @on("FirmwareStatusNotification")
    def on_firmware(self, **kw: Any) -> Any:
        self.got("FirmwareStatusNotification", kw)
        return result201.FirmwareStatusNotification()

    @on("LogStatusNotification")
    def on_log(self, **kw: Any) -> Any:
        self.got("LogStatusNotification", kw)
        return result201.LogStatusNotification()

    @on("ReservationStatusUpdate")
    def on_reservation(self, **kw: Any) -> Any:
        self.got("ReservationStatusUpdate", kw)
        return result201.ReservationStatusUpdate()

    @on("NotifyDisplayMessages")
    def on_display(self, **kw: Any) -> Any:
        self.got("NotifyDisplayMessages", kw)
        return result201.NotifyDisplayMessages()


Pair = tuple[Any, Station]
Connect = Callable[..., Awaitable[Pair]]


@pytest.fixture
async def their_csms() -> AsyncIterator[Connect]:
    """``await their_csms(protocol, **config)``: their central system on loopback and
    our booted station connected to it; returns (their central, our station).  The
    central is the first connection's; ``central.until`` also sees what the station
    sends over a later one (after a reboot)."""
    cleanup: list[Callable[[], Awaitable[None]]] = []

    async def connect(protocol: str, **config: Any) -> Pair:
        cls = Central16 if protocol == "ocpp1.6" else Central201
        centrals: asyncio.Queue[Any] = asyncio.Queue()
        received = Received()

        async def on_connect(websocket: Any) -> None:
            central = cls("EMU-1", websocket, response_timeout=WAIT_S, received=received)
            centrals.put_nowait(central)
            with contextlib.suppress(websockets.ConnectionClosed):
                await central.start()

        server = await websockets.serve(on_connect, "127.0.0.1", 0, subprotocols=[protocol])
        port = next(iter(server.sockets)).getsockname()[1]
        client = OCPPClient(
            identity="EMU-1",
            endpoint=f"ws://127.0.0.1:{port}/ocpp",
            protocols=[protocol],
            strict_mode=True,
            reconnect=False,
        )
        config.setdefault("meter_interval_s", 0.05)
        station = Station(client, StationConfig(**config))
        station.reconnect_retry_s = 0.05
        await client.connect()
        central = await asyncio.wait_for(centrals.get(), WAIT_S)
        await asyncio.wait_for(station.start(), WAIT_S)

        async def close() -> None:
            await station.shutdown()
            await client.close()
            server.close()
            await server.wait_closed()

        cleanup.append(close)
        return central, station

    yield connect
    for close in cleanup:
        await close()
