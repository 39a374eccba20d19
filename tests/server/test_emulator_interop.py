"""The station driven by another CSMS: the mobilityhouse ``ocpp`` package's central
system (1.6 and 2.0.1) on ``websockets.serve``, over loopback.  It checks every payload
against its own schemas both ways, so what the station answers and sends is valid to
a CSMS we did not write.  (Here, not in tests/emulator, which also runs under Pyodide:
this needs sockets, websockets and that package.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from browser_ocpp import OCPPClient
from browser_ocpp.emulator import Station, StationConfig

WAIT_S = 10.0
Kwargs = dict[str, Any]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Recorder:
    """Keeps what the station sent, per action, to wait on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.inbox: defaultdict[str, asyncio.Queue[Kwargs]] = defaultdict(asyncio.Queue)

    def got(self, action: str, kwargs: Kwargs) -> None:
        self.inbox[action].put_nowait(kwargs)

    async def until(self, action: str, check: Callable[[Kwargs], bool]) -> Kwargs:
        async def scan() -> Kwargs:
            while True:
                kwargs = await self.inbox[action].get()
                if check(kwargs):
                    return kwargs

        return await asyncio.wait_for(scan(), WAIT_S)


class Central16(_Recorder, ChargePoint16):  # type: ignore[misc]
    @on("BootNotification")
    def on_boot(self, **kw: Any) -> Any:
        return result16.BootNotification(current_time=_now(), interval=300, status="Accepted")

    @on("Heartbeat")
    def on_heartbeat(self, **kw: Any) -> Any:
        return result16.Heartbeat(current_time=_now())

    @on("StatusNotification")
    def on_status(self, **kw: Any) -> Any:
        self.got("StatusNotification", kw)
        return result16.StatusNotification()

    @on("Authorize")
    def on_authorize(self, **kw: Any) -> Any:
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
        return result201.BootNotification(current_time=_now(), interval=300, status="Accepted")

    @on("Heartbeat")
    def on_heartbeat(self, **kw: Any) -> Any:
        return result201.Heartbeat(current_time=_now())

    @on("StatusNotification")
    def on_status(self, **kw: Any) -> Any:
        self.got("StatusNotification", kw)
        return result201.StatusNotification()

    @on("Authorize")
    def on_authorize(self, **kw: Any) -> Any:
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
    our booted station connected to it; returns (their central, our station)."""
    cleanup: list[Callable[[], Awaitable[None]]] = []

    async def connect(protocol: str, **config: Any) -> Pair:
        cls = Central16 if protocol == "ocpp1.6" else Central201
        centrals: asyncio.Queue[Any] = asyncio.Queue()

        async def on_connect(websocket: Any) -> None:
            central = cls("EMU-1", websocket, response_timeout=WAIT_S)
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


def _power(samples: list[Kwargs]) -> float | None:
    for value in samples[0]["sampled_value"]:
        if value.get("measurand") == "Power.Active.Import":
            return float(value["value"])
    return None


async def test_smart_charging_from_their_1_6_central_system(their_csms: Connect) -> None:
    central, station = await their_csms("ocpp1.6", power_kw=11)
    assert await station.start_transaction(1, "TAG-1")
    await central.until("StartTransaction", lambda kw: True)
    schedule = {
        "charging_rate_unit": "A",
        "charging_schedule_period": [{"start_period": 0, "limit": 10}],
    }
    profile = {
        "charging_profile_id": 1,
        "stack_level": 0,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Relative",
        "transaction_id": 77,
        "charging_schedule": schedule,
    }
    answer = await central.call(
        call16.SetChargingProfile(connector_id=1, cs_charging_profiles=profile)
    )
    assert answer.status == "Accepted"
    await central.until("MeterValues", lambda kw: _power(kw["meter_value"]) == 6900)  # 10 A x 690 V
    composite = await central.call(
        call16.GetCompositeSchedule(connector_id=1, duration=300, charging_rate_unit="A")
    )
    assert composite.status == "Accepted" and composite.connector_id == 1
    assert composite.charging_schedule["charging_schedule_period"] == [
        {"start_period": 0, "limit": 10.0}
    ]
    cleared = await central.call(call16.ClearChargingProfile(id=1))
    assert cleared.status == "Accepted"
    await central.until("MeterValues", lambda kw: _power(kw["meter_value"]) == 11_000)
    profile["transaction_id"] = 78
    answer = await central.call(
        call16.SetChargingProfile(connector_id=1, cs_charging_profiles=profile)
    )
    assert answer.status == "Rejected"  # not the running transaction


async def test_smart_charging_from_their_2_0_1_csms(their_csms: Connect) -> None:
    central, station = await their_csms("ocpp2.0.1", power_kw=11)
    assert await station.start_transaction(1, "TAG-1")
    transaction_id = station.connectors[0].transaction_id
    profile = {
        "id": 4,
        "stack_level": 1,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Relative",
        "transaction_id": transaction_id,
        "charging_schedule": [
            {
                "id": 1,
                "charging_rate_unit": "W",
                "charging_schedule_period": [{"start_period": 0, "limit": 3000}],
            }
        ],
    }
    answer = await central.call(call201.SetChargingProfile(evse_id=1, charging_profile=profile))
    assert answer.status == "Accepted"
    await central.until(
        "TransactionEvent", lambda kw: "meter_value" in kw and _power(kw["meter_value"]) == 3000
    )
    composite = await central.call(
        call201.GetCompositeSchedule(duration=60, evse_id=1, charging_rate_unit="W")
    )
    assert composite.status == "Accepted"
    assert composite.schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 3000}]
    found = await central.call(
        call201.GetChargingProfiles(request_id=3, charging_profile={"stack_level": 1})
    )
    assert found.status == "Accepted"
    report = await central.until("ReportChargingProfiles", lambda kw: True)
    assert report["request_id"] == 3 and report["charging_profile"][0]["id"] == 4
    cleared = await central.call(
        call201.ClearChargingProfile(
            charging_profile_criteria={"charging_profile_purpose": "TxProfile"}
        )
    )
    assert cleared.status == "Accepted"
    await central.until(
        "TransactionEvent", lambda kw: "meter_value" in kw and _power(kw["meter_value"]) == 11_000
    )


def _in(seconds: float) -> str:
    when = datetime.now(UTC) + timedelta(seconds=seconds)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def test_reservations_from_their_1_6_central_system(their_csms: Connect) -> None:
    central, station = await their_csms("ocpp1.6")
    answer = await central.call(
        call16.ReserveNow(connector_id=2, expiry_date=_in(600), id_tag="MINE", reservation_id=5)
    )
    assert answer.status == "Accepted"
    await central.until("StatusNotification", lambda kw: kw["status"] == "Reserved")
    assert not await station.start_transaction(2, "OTHER")
    assert await station.start_transaction(2, "MINE")
    start = await central.until("StartTransaction", lambda kw: True)
    assert start["reservation_id"] == 5
    short = call16.ReserveNow(connector_id=1, expiry_date=_in(0.3), id_tag="MINE", reservation_id=6)
    assert (await central.call(short)).status == "Accepted"
    await central.until("StatusNotification", lambda kw: kw["status"] == "Reserved")
    await central.until(
        "StatusNotification", lambda kw: kw == {**kw, "connector_id": 1, "status": "Available"}
    )
    assert (await central.call(call16.CancelReservation(reservation_id=6))).status == "Rejected"


async def test_reservations_from_their_2_0_1_csms(their_csms: Connect) -> None:
    central, station = await their_csms("ocpp2.0.1")
    token = {"id_token": "MINE", "type": "ISO14443"}
    answer = await central.call(
        call201.ReserveNow(id=5, expiry_date_time=_in(600), id_token=token, evse_id=1)
    )
    assert answer.status == "Accepted"
    await central.until("StatusNotification", lambda kw: kw["connector_status"] == "Reserved")
    assert (await central.call(call201.CancelReservation(reservation_id=5))).status == "Accepted"
    assert station.reservations.by_id == {}
    await central.until("StatusNotification", lambda kw: kw["connector_status"] == "Available")
    short = call201.ReserveNow(id=6, expiry_date_time=_in(0.3), id_token=token)
    assert (await central.call(short)).status == "Accepted"
    update = await central.until("ReservationStatusUpdate", lambda kw: True)
    assert update == {"reservation_id": 6, "reservation_update_status": "Expired"}
