"""The station's other blocks driven by the ``ocpp`` package's central system (1.6 and
2.0.1, see their_csms.py): the local list and cache, firmware updates, diagnostics and
logs (uploaded to a loopback HTTP receiver the test runs) and display messages.  Each
test checks what that CSMS received and what the station did."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from .their_csms import WAIT_S, Connect, Kwargs, now

TOKEN = {"type": "ISO14443"}


async def test_local_list_and_cache_from_their_1_6_central_system(their_csms: Connect) -> None:
    central, station = await their_csms("ocpp1.6")
    assert await station.authorize("CACHED")
    await central.until("Authorize", lambda kw: kw["id_tag"] == "CACHED")
    assert "CACHED" in station.auth.cache
    assert (await central.call(call16.ClearCache())).status == "Accepted"
    assert station.auth.cache == {}
    full = call16.SendLocalList(
        list_version=1,
        update_type="Full",
        local_authorization_list=[
            {"id_tag": "TAG-A", "id_tag_info": {"status": "Accepted"}},
            {"id_tag": "TAG-B", "id_tag_info": {"status": "Blocked"}},
        ],
    )
    assert (await central.call(full)).status == "Accepted"
    assert (await central.call(call16.GetLocalListVersion())).list_version == 1
    differential = call16.SendLocalList(
        list_version=2,
        update_type="Differential",
        local_authorization_list=[
            {"id_tag": "TAG-B"},  # no idTagInfo: removed
            {"id_tag": "TAG-C", "id_tag_info": {"status": "Accepted"}},
        ],
    )
    assert (await central.call(differential)).status == "Accepted"
    statuses = {tag: info.status for tag, info in station.auth.local_list.items()}
    assert statuses == {"TAG-A": "Accepted", "TAG-C": "Accepted"}
    assert (await central.call(call16.GetLocalListVersion())).list_version == 2
    assert (await central.call(differential)).status == "VersionMismatch"  # not above 2
    station.configuration["LocalAuthListEnabled"] = "false"
    assert (await central.call(full)).status == "NotSupported"
    assert (await central.call(call16.GetLocalListVersion())).list_version == -1


async def test_local_list_and_cache_from_their_2_0_1_csms(their_csms: Connect) -> None:
    central, station = await their_csms("ocpp2.0.1")
    assert await station.authorize("CACHED")
    await central.until("Authorize", lambda kw: kw["id_token"]["id_token"] == "CACHED")
    assert "CACHED" in station.auth.cache
    assert (await central.call(call201.ClearCache())).status == "Accepted"
    assert station.auth.cache == {}
    full = call201.SendLocalList(
        version_number=1,
        update_type="Full",
        local_authorization_list=[
            {"id_token": {"id_token": "TAG-A", **TOKEN}, "id_token_info": {"status": "Accepted"}},
            {"id_token": {"id_token": "TAG-B", **TOKEN}, "id_token_info": {"status": "Blocked"}},
        ],
    )
    assert (await central.call(full)).status == "Accepted"
    assert (await central.call(call201.GetLocalListVersion())).version_number == 1
    differential = call201.SendLocalList(
        version_number=2,
        update_type="Differential",
        local_authorization_list=[
            {"id_token": {"id_token": "TAG-B", **TOKEN}},
            {"id_token": {"id_token": "TAG-C", **TOKEN}, "id_token_info": {"status": "Accepted"}},
        ],
    )
    assert (await central.call(differential)).status == "Accepted"
    statuses = {tag: info.status for tag, info in station.auth.local_list.items()}
    assert statuses == {"TAG-A": "Accepted", "TAG-C": "Accepted"}
    assert (await central.call(call201.GetLocalListVersion())).version_number == 2
    assert (await central.call(differential)).status == "VersionMismatch"


async def _statuses(central: Any, action: str, last: set[str]) -> list[Kwargs]:
    """The ``action`` notifications the central received, up to one with a status in ``last``."""
    seen: list[Kwargs] = []
    while not seen or seen[-1]["status"] not in last:
        seen.append(await central.until(action, lambda kw: True))
    return seen


def _firmware_and_boots(central: Any) -> list[str]:
    """The firmware statuses and boots the central received, in order."""
    wanted = ("FirmwareStatusNotification", "BootNotification")
    return [kw.get("status", action) for action, kw in central.received.order if action in wanted]


async def test_firmware_update_from_their_1_6_central_system(their_csms: Connect) -> None:
    central, station = await their_csms("ocpp1.6")
    station.firmware.step_s = 0.01
    update = call16.UpdateFirmware(location="http://127.0.0.1/fw-2.0.0.bin", retrieve_date=now())
    await central.call(update)  # an empty answer
    done = {"Installed", "InstallationFailed", "DownloadFailed"}
    seen = await _statuses(central, "FirmwareStatusNotification", done)
    assert [kw["status"] for kw in seen] == ["Downloading", "Downloaded", "Installing", "Installed"]
    steps = ["Downloading", "Downloaded", "Installing", "BootNotification", "Installed"]
    assert _firmware_and_boots(central) == ["BootNotification", *steps]  # reboot, Installed
    boots = [kw for action, kw in central.received.order if action == "BootNotification"]
    assert boots[-1]["firmware_version"] == "2.0.0" == station.firmware.version
    station.faults.firmware_failure = "DownloadFailed"
    central = central.received.current  # the rebooted station's connection
    await central.call(update)
    seen = await _statuses(central, "FirmwareStatusNotification", done)
    assert [kw["status"] for kw in seen] == ["Downloading", "DownloadFailed"]


async def test_firmware_update_from_their_2_0_1_csms(their_csms: Connect) -> None:
    central, station = await their_csms("ocpp2.0.1")
    station.firmware.step_s = 0.01
    firmware = {
        "location": "http://127.0.0.1/fw-2.0.0.bin",
        "retrieve_date_time": now(),
        "signature": "c2lnbmVk",
    }
    answer = await central.call(call201.UpdateFirmware(request_id=9, firmware=firmware))
    assert answer.status == "Accepted"
    done = {"Installed", "InstallationFailed", "DownloadFailed", "InvalidSignature"}
    seen = await _statuses(central, "FirmwareStatusNotification", done)
    assert [kw["status"] for kw in seen] == [
        "Downloading",
        "Downloaded",
        "SignatureVerified",
        "Installing",
        "InstallRebooting",
        "Installed",
    ]
    assert {kw["request_id"] for kw in seen} == {9}
    assert _firmware_and_boots(central)[-3:] == [
        "InstallRebooting",
        "BootNotification",
        "Installed",
    ]
    boot = await central.until("BootNotification", lambda kw: kw["reason"] == "FirmwareUpdate")
    assert boot["charging_station"]["firmware_version"] == "2.0.0" == station.firmware.version
    station.faults.firmware_failure = "InvalidSignature"
    central = central.received.current  # the rebooted station's connection
    answer = await central.call(call201.UpdateFirmware(request_id=10, firmware=firmware))
    assert answer.status == "Accepted"
    seen = await _statuses(central, "FirmwareStatusNotification", done)
    assert [kw["status"] for kw in seen] == ["Downloading", "Downloaded", "InvalidSignature"]


@dataclass
class Receiver:
    """A small HTTP server on loopback taking POSTed logs: 200 for them, 500 at /fail."""

    port: int = 0
    uploads: asyncio.Queue[tuple[str, bytes]] = field(default_factory=asyncio.Queue)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = (await reader.readline()).decode("latin-1").split()
            length = 0
            for _ in range(100):  # headers, bounded
                line = (await reader.readline()).decode("latin-1").strip()
                if not line:
                    break
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            path = request[1] if len(request) > 1 else ""
            code = "500 Internal Server Error" if path == "/fail" else "200 OK"
            if code == "200 OK":
                self.uploads.put_nowait((path, body))
            writer.write(f"HTTP/1.1 {code}\r\nContent-Length: 0\r\n\r\n".encode())
            await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    server = await asyncio.start_server(receiver.serve, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    yield receiver
    server.close()
    await server.wait_closed()


async def test_diagnostics_from_their_1_6_central_system(
    their_csms: Connect, receiver: Receiver
) -> None:
    central, station = await their_csms("ocpp1.6")
    station.logs.step_s = 0.01
    answer = await central.call(call16.GetDiagnostics(location=receiver.url("/up")))
    done = {"Uploaded", "UploadFailed"}
    seen = await _statuses(central, "DiagnosticsStatusNotification", done)
    assert [kw["status"] for kw in seen] == ["Uploading", "Uploaded"]
    path, body = await asyncio.wait_for(receiver.uploads.get(), WAIT_S)
    assert path == "/up" and body.decode().startswith(f"# {answer.file_name}\n")
    assert "GetDiagnostics" in body.decode()  # the station's recent activity
    await central.call(call16.GetDiagnostics(location=receiver.url("/fail")))
    seen = await _statuses(central, "DiagnosticsStatusNotification", done)
    assert [kw["status"] for kw in seen] == ["Uploading", "UploadFailed"]
    assert station.logs.status == "UploadFailed"


async def test_log_from_their_2_0_1_csms(their_csms: Connect, receiver: Receiver) -> None:
    central, station = await their_csms("ocpp2.0.1")
    station.logs.step_s = 0.01
    log = {"remote_location": receiver.url("/up")}
    answer = await central.call(call201.GetLog(log=log, log_type="DiagnosticsLog", request_id=4))
    assert answer.status == "Accepted"
    done = {"Uploaded", "UploadFailure"}
    seen = await _statuses(central, "LogStatusNotification", done)
    assert [(kw["status"], kw["request_id"]) for kw in seen] == [("Uploading", 4), ("Uploaded", 4)]
    path, body = await asyncio.wait_for(receiver.uploads.get(), WAIT_S)
    assert path == "/up" and body.decode().startswith(f"# {answer.filename}\n")
    log = {"remote_location": receiver.url("/fail")}
    answer = await central.call(call201.GetLog(log=log, log_type="SecurityLog", request_id=5))
    assert answer.status == "Accepted"  # the first is over: nothing to cancel
    seen = await _statuses(central, "LogStatusNotification", done)
    assert [kw["status"] for kw in seen] == ["Uploading", "UploadFailure"]


async def test_display_messages_from_their_2_0_1_csms(their_csms: Connect) -> None:
    central, station = await their_csms("ocpp2.0.1")
    message = {"id": 1, "priority": "InFront", "message": {"format": "UTF8", "content": "Hello"}}
    answer = await central.call(call201.SetDisplayMessage(message=message))
    assert answer.status == "Accepted"
    assert [m["message"]["content"] for m in station.display.shown()] == ["Hello"]
    unknown = {**message, "id": 2, "transaction_id": "NOT-RUNNING"}
    answer = await central.call(call201.SetDisplayMessage(message=unknown))
    assert answer.status == "UnknownTransaction"
    assert (await central.call(call201.GetDisplayMessages(request_id=5))).status == "Accepted"
    notified = await central.until("NotifyDisplayMessages", lambda kw: True)
    assert notified["request_id"] == 5
    assert [m["message"]["content"] for m in notified["message_info"]] == ["Hello"]
    missing = call201.GetDisplayMessages(request_id=6, id=[99])
    assert (await central.call(missing)).status == "Unknown"
    assert (await central.call(call201.ClearDisplayMessage(id=1))).status == "Accepted"
    assert station.display.shown() == []
    assert (await central.call(call201.ClearDisplayMessage(id=1))).status == "Unknown"
