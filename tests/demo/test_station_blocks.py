"""The emulated station driven from the demo CSMS's operator side (``DemoCSMS.command``,
what ``/api/command`` calls): smart charging, reservations, the local list, firmware
and logs, with the operator view's own templates where it has one (1.6 and 2.0.1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from browser_ocpp import OCPPClient, OCPPServer
from browser_ocpp.demo.commands import commands
from browser_ocpp.demo.csms import DemoCSMS
from browser_ocpp.emulator import Station, StationConfig

IDENTITY = "EMU-DEMO"
WAIT_S = 10.0
Payload = dict[str, Any]


class Rig:
    def __init__(self, demo: DemoCSMS, station: Station, protocol: str) -> None:
        self.demo, self.station, self.protocol = demo, station, protocol
        self.v16 = protocol == "ocpp1.6"
        self.changed = asyncio.Event()
        station.on_change(self.changed.set)
        station.client.on("call_result", lambda event: self.changed.set())

    @property
    def where(self) -> str:
        """How the demo names connector 1 (2.x: EVSE 1, connector 1)."""
        return "1" if self.v16 else "1/1"

    def template(self, action: str) -> Payload:
        return next(c["template"] for c in commands(self.protocol) if c["action"] == action)

    async def send(self, action: str, params: Payload) -> Payload:
        answer = await self.demo.command(IDENTITY, action, params)
        assert answer["ok"], answer
        return dict(answer["result"])

    def events(self) -> list[str]:
        return list(self.demo.stations[IDENTITY].events)


async def until(rig: Rig, check: Callable[[], bool]) -> None:
    """Wait (bounded) for ``check`` to hold, looking again at each change of the station
    and each answer it gets from the demo CSMS (the demo's records change on its calls)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not check():
        rig.changed.clear()
        await asyncio.wait_for(rig.changed.wait(), max(0.0, deadline - loop.time()))


@pytest.fixture(params=["ocpp1.6", "ocpp2.0.1"])
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    protocol = str(request.param)
    server = OCPPServer(protocols=[protocol], strict_mode=True)
    demo = DemoCSMS(server)
    await server.listen(0)
    client = OCPPClient(
        identity=IDENTITY,
        endpoint=f"ws://127.0.0.1:{server.port}/ocpp",
        protocols=[protocol],
        strict_mode=True,
    )
    station = Station(client, StationConfig(meter_interval_s=0.05))
    station.firmware.step_s = station.logs.step_s = 0.01
    station.reconnect_retry_s = 0.05
    await client.connect()
    await asyncio.wait_for(station.start(), WAIT_S)
    yield Rig(demo, station, protocol)
    await station.shutdown()
    await client.close()
    await server.close()


async def test_operator_templates_act_on_the_station(rig: Rig) -> None:
    local = await rig.send(
        "SendLocalList",
        rig.template("SendLocalList")
        if rig.v16
        else {
            "versionNumber": 1,
            "updateType": "Full",
            "localAuthorizationList": [{"idToken": {"idToken": "TAG-0001", "type": "Central"}}],
        },
    )
    assert local == {"status": "Accepted"}
    assert (await rig.send("GetLocalListVersion", rig.template("GetLocalListVersion"))) == (
        {"listVersion": 1} if rig.v16 else {"versionNumber": 1}
    )
    reserve = (
        rig.template("ReserveNow")
        if rig.v16
        else {
            "id": 1,
            "expiryDateTime": "2030-01-01T00:00:00Z",
            "idToken": {"idToken": "TAG-0001", "type": "Central"},
            "evseId": 1,
        }
    )
    assert await rig.send("ReserveNow", reserve) == {"status": "Accepted"}
    await until(rig, lambda: rig.demo.stations[IDENTITY].statuses.get(rig.where) == "Reserved")
    assert await rig.send("CancelReservation", rig.template("CancelReservation")) == {
        "status": "Accepted"
    }
    await until(rig, lambda: rig.demo.stations[IDENTITY].statuses.get(rig.where) == "Available")
    composite = await rig.send("GetCompositeSchedule", rig.template("GetCompositeSchedule"))
    assert composite["status"] == "Accepted"


async def test_a_profile_from_the_operator_limits_the_power(rig: Rig) -> None:
    assert await rig.station.start_transaction(1, "TAG-1")
    schedule = {
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 2500}],
    }
    if rig.v16:
        profile: Payload = {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": schedule,
        }
        params = {"connectorId": 0, "csChargingProfiles": profile}
    else:
        profile = {
            "id": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": [{"id": 1, **schedule}],
        }
        params = {"evseId": 0, "chargingProfile": profile}
    assert await rig.send("SetChargingProfile", params) == {"status": "Accepted"}
    assert rig.station.connectors[0].power_w == 2500


async def test_firmware_and_a_log_from_the_operator(rig: Rig) -> None:
    location = "http://127.0.0.1:1/fw/acme-4.2.0.bin"
    if rig.v16:
        await rig.send(
            "UpdateFirmware", {"location": location, "retrieveDate": "2024-01-01T00:00:00Z"}
        )
    else:
        firmware = {"location": location, "retrieveDateTime": "2024-01-01T00:00:00Z"}
        assert await rig.send("UpdateFirmware", {"requestId": 1, "firmware": firmware}) == {
            "status": "Accepted"
        }
    await until(rig, lambda: rig.station.firmware.status == "Installed")
    boot = rig.demo.stations[IDENTITY].boot or {}
    version = boot["firmwareVersion"] if rig.v16 else boot["chargingStation"]["firmwareVersion"]
    assert version == "4.2.0"
    assert any("FirmwareStatusNotification" in event for event in rig.events())
    if rig.v16:
        await rig.send("GetDiagnostics", {"location": "http://192.0.2.1/up"})
    else:
        log = {
            "logType": "DiagnosticsLog",
            "requestId": 2,
            "log": {"remoteLocation": "http://192.0.2.1/up"},
        }
        assert (await rig.send("GetLog", log))["status"] == "Accepted"
    await until(rig, lambda: rig.station.logs.status in ("UploadFailed", "UploadFailure"))
    kind = "DiagnosticsStatusNotification" if rig.v16 else "LogStatusNotification"
    await until(rig, lambda: any(kind in event for event in rig.events()))
