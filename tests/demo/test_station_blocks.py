"""The emulated station driven from the demo CSMS's operator side (``DemoCSMS.command``,
what ``/api/command`` calls): smart charging, reservations, the local list, firmware,
logs (uploaded to the demo's ``/api/uploads``) and display messages, with the operator
view's own templates (1.6, 2.0.1 and 2.1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from browser_ocpp import OCPPClient
from browser_ocpp.demo import ConsoleServer
from browser_ocpp.demo.commands import commands
from browser_ocpp.demo.csms import DemoCSMS
from browser_ocpp.emulator import Station, StationConfig

IDENTITY = "EMU-DEMO"
WAIT_S = 10.0
Payload = dict[str, Any]


class Rig:
    def __init__(self, demo: DemoCSMS, station: Station, protocol: str, base_url: str) -> None:
        self.demo, self.station, self.protocol = demo, station, protocol
        self.base_url = base_url
        self.v16 = protocol == "ocpp1.6"
        self.changed = asyncio.Event()
        station.on_change(self.changed.set)
        station.client.on("call_result", lambda event: self.changed.set())

    @property
    def where(self) -> str:
        """How the demo names connector 1 (2.x: EVSE 1, connector 1)."""
        return "1" if self.v16 else "1/1"

    def template(self, action: str) -> Payload:
        """The operator view's template of ``action``, made now, on this demo server."""
        listed = commands(self.protocol, self.base_url)
        return next(c["template"] for c in listed if c["action"] == action)

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


@pytest.fixture(params=["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    protocol = str(request.param)
    web, runtime = tmp_path / "web", tmp_path / "runtime"
    for folder in (web, runtime / "pyodide", runtime / "pyscript"):
        folder.mkdir(parents=True)
    console = ConsoleServer(runtime, web=web, protocols=[protocol], strict_mode=True)
    port = await console.listen(0)
    server = console.server
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
    yield Rig(console.csms, station, protocol, f"http://127.0.0.1:{port}")
    await station.shutdown()
    await client.close()
    await server.close()


async def test_authorization_templates_act_on_the_station(rig: Rig) -> None:
    station = rig.station
    assert await station.authorize("CACHED")
    assert "CACHED" in station.auth.cache
    assert await rig.send("ClearCache", rig.template("ClearCache")) == {"status": "Accepted"}
    assert station.auth.cache == {}
    local = await rig.send("SendLocalList", rig.template("SendLocalList"))
    assert local == {"status": "Accepted"}
    statuses = {tag: info.status for tag, info in station.auth.local_list.items()}
    assert statuses == {"TAG-0001": "Accepted", "TAG-0002": "Blocked"}
    assert (await rig.send("GetLocalListVersion", rig.template("GetLocalListVersion"))) == (
        {"listVersion": 1} if rig.v16 else {"versionNumber": 1}
    )


async def test_reservation_templates_act_on_the_station(rig: Rig) -> None:
    reserve = rig.template("ReserveNow")  # made now: it ends an hour from now
    assert await rig.send("ReserveNow", reserve) == {"status": "Accepted"}
    await until(rig, lambda: rig.demo.stations[IDENTITY].statuses.get(rig.where) == "Reserved")
    connector = rig.station.connectors[0]
    assert rig.station.refusal(connector, "SOMEONE-ELSE") is not None
    assert rig.station.refusal(connector, "TAG-0001") is None  # the template's idTag
    assert await rig.send("CancelReservation", rig.template("CancelReservation")) == {
        "status": "Accepted"
    }
    await until(rig, lambda: rig.demo.stations[IDENTITY].statuses.get(rig.where) == "Available")
    assert rig.station.refusal(connector, "SOMEONE-ELSE") is None


async def test_smart_charging_templates_limit_the_power(rig: Rig) -> None:
    station, config = rig.station, rig.station.config
    ten_amps = 10 * config.voltage_v * config.phases
    assert ten_amps < config.power_kw * 1000  # so the template's limit shows
    answer = await rig.send("SetChargingProfile", rig.template("SetChargingProfile"))
    assert answer == {"status": "Accepted"}
    assert await station.start_transaction(1, "TAG-1")
    assert station.connectors[0].power_w == ten_amps  # a TxDefaultProfile of 10 A
    composite = await rig.send("GetCompositeSchedule", rig.template("GetCompositeSchedule"))
    schedule = composite["chargingSchedule"] if rig.v16 else composite["schedule"]
    assert composite["status"] == "Accepted" and schedule["chargingRateUnit"] == "A"
    assert schedule["chargingSchedulePeriod"][0]["limit"] == 10.0
    if not rig.v16:
        reported = await rig.send("GetChargingProfiles", rig.template("GetChargingProfiles"))
        assert reported == {"status": "Accepted"}
        await until(rig, lambda: any("ReportChargingProfiles" in e for e in rig.events()))
    cleared = await rig.send("ClearChargingProfile", rig.template("ClearChargingProfile"))
    assert cleared == {"status": "Accepted"}
    assert station.connectors[0].power_w == config.power_kw * 1000  # no limit any more


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


async def test_firmware_and_log_templates_update_and_upload_to_the_demo(rig: Rig) -> None:
    started = await rig.send("UpdateFirmware", rig.template("UpdateFirmware"))
    assert started == ({} if rig.v16 else {"status": "Accepted"})  # retrieved at once
    await until(rig, lambda: rig.station.firmware.status == "Installed")
    boot = rig.demo.stations[IDENTITY].boot or {}
    version = boot["firmwareVersion"] if rig.v16 else boot["chargingStation"]["firmwareVersion"]
    assert version == "1.0.1"  # the template's file names no version: the last one raised
    action = "GetDiagnostics" if rig.v16 else "GetLog"
    template = rig.template(action)
    location = template["location"] if rig.v16 else template["log"]["remoteLocation"]
    assert location == f"{rig.base_url}/api/uploads"  # this demo server's upload endpoint
    answer = await rig.send(action, template)
    name = answer["fileName"] if rig.v16 else answer["filename"]
    await until(rig, lambda: rig.demo.uploads.get(name) is not None)
    upload = rig.demo.uploads.get(name)
    assert upload is not None and upload.identity == IDENTITY
    text = upload.body.decode()
    assert text.startswith(f"# {name}\n") and "Installed" in text  # its recent activity
    assert any(f"upload received: {name}" in event for event in rig.events())
    await until(rig, lambda: rig.station.logs.status == "Uploaded")


async def test_a_log_to_a_location_off_loopback_fails_unseen(rig: Rig) -> None:
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


async def test_display_message_templates_act_on_the_station(rig: Rig) -> None:
    if rig.v16:
        assert "SetDisplayMessage" not in [c["action"] for c in commands(rig.protocol)]
        return
    station = rig.station
    answer = await rig.send("SetDisplayMessage", rig.template("SetDisplayMessage"))
    assert answer == {"status": "Accepted"}
    assert [m["message"]["content"] for m in station.display.shown()] == [
        "Welcome! Charging at up to 10 A"
    ]
    listed = await rig.send("GetDisplayMessages", rig.template("GetDisplayMessages"))
    assert listed == {"status": "Accepted"}
    await until(rig, lambda: any("NotifyDisplayMessages" in e for e in rig.events()))
    cleared = await rig.send("ClearDisplayMessage", rig.template("ClearDisplayMessage"))
    assert cleared == {"status": "Accepted"}
    assert station.display.shown() == []
