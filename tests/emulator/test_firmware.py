"""Firmware updates: the status sequence, the reboot into the new version, and the
failures chosen with ``station.faults`` (every version, the strict test CSMS)."""

from __future__ import annotations

import asyncio

import pytest

from browser_ocpp.emulator.firmware import next_version

from .conftest import WAIT_S, Payload, Rig, RigFactory

PAST = "2024-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("current", "location", "expected"),
    [
        ("1.0.0", "http://127.0.0.1/fw/acme-2.3.1.bin", "2.3.1"),
        ("1.0.0", "http://127.0.0.1/fw/latest", "1.0.1"),
        ("v7", "ftp://127.0.0.1/x", "v8"),
        ("beta", "ftp://127.0.0.1/x", "beta.1"),
    ],
)
def test_next_version(current: str, location: str, expected: str) -> None:
    assert next_version(current, location) == expected


async def update(rig: Rig, location: str, signed: bool = False, request_id: int = 9) -> Payload:
    if rig.v16:
        return await rig.csms.send("UpdateFirmware", {"location": location, "retrieveDate": PAST})
    firmware: Payload = {"location": location, "retrieveDateTime": PAST}
    if signed:
        firmware.update(signingCertificate="-----BEGIN CERTIFICATE-----", signature="c2ln")
    return await rig.csms.send("UpdateFirmware", {"requestId": request_id, "firmware": firmware})


async def statuses(rig: Rig, last: str) -> list[str]:
    """The firmware statuses notified, up to ``last``."""
    seen: list[str] = []
    while not seen or seen[-1] != last:
        payload = await rig.csms.next("FirmwareStatusNotification")
        if not rig.v16:
            assert payload["requestId"] == 9
        seen.append(payload["status"])
    return seen


async def firmware_rig(make_rig: RigFactory) -> Rig:
    rig = await make_rig()
    rig.csms.answers["FirmwareStatusNotification"] = lambda p: {}
    rig.station.firmware.step_s = 0.01
    return rig


async def test_an_update_installs_and_reboots_into_the_new_version(make_rig: RigFactory) -> None:
    rig = await firmware_rig(make_rig)
    await rig.station.start_transaction(1, "TAG-1")
    answer = await update(rig, "http://127.0.0.1/fw/acme-2.0.0.bin", signed=True)
    assert answer == ({} if rig.v16 else {"status": "Accepted"})
    seen = await statuses(rig, "Installed")
    if rig.v16:
        assert seen == ["Downloading", "Downloaded", "Installing", "Installed"]
    else:
        expected = ["Downloading", "Downloaded", "SignatureVerified", "Installing"]
        assert seen == [*expected, "InstallRebooting", "Installed"]
    boot = await rig.csms.next("BootNotification")  # the reboot, before Installed
    if rig.v16:
        assert boot["firmwareVersion"] == "2.0.0"
        stop = await rig.csms.next("StopTransaction")
        assert stop["reason"] == "Reboot"
    else:
        assert boot["chargingStation"]["firmwareVersion"] == "2.0.0"
        assert boot["reason"] == "FirmwareUpdate"
    assert rig.station.firmware.version == "2.0.0" and rig.station.firmware.status == "Installed"


@pytest.mark.parametrize("failure", ["DownloadFailed", "InstallationFailed", "InvalidSignature"])
async def test_failures_chosen_with_faults(make_rig: RigFactory, failure: str) -> None:
    rig = await firmware_rig(make_rig)
    if rig.v16 and failure == "InvalidSignature":
        return  # 1.6 firmware is not signed
    rig.station.faults.firmware_failure = failure
    await update(rig, "http://127.0.0.1/fw/acme-2.0.0.bin", signed=True)
    seen = await statuses(rig, failure)
    assert seen[0] == "Downloading" and seen.count(failure) == 1
    assert rig.station.firmware.version == "1.0.0"  # not installed, no reboot
    assert rig.csms.inbox["BootNotification"].empty()


async def test_download_retries(make_rig: RigFactory) -> None:
    rig = await firmware_rig(make_rig)
    rig.station.faults.firmware_failure = "DownloadFailed"
    location = "http://127.0.0.1/fw/acme-2.0.0.bin"
    if rig.v16:
        payload: Payload = {
            "location": location,
            "retrieveDate": PAST,
            "retries": 2,
            "retryInterval": 0,
        }
    else:
        payload = {
            "requestId": 9,
            "retries": 2,
            "retryInterval": 0,
            "firmware": {"location": location, "retrieveDateTime": PAST},
        }
    await rig.csms.send("UpdateFirmware", payload)
    assert await statuses(rig, "DownloadFailed") == ["Downloading"] * 3 + ["DownloadFailed"]


async def test_a_new_request_cancels_the_one_under_way(make_rig: RigFactory) -> None:
    rig = await firmware_rig(make_rig)
    if rig.v16:
        return  # 2.x: 1.6 answers UpdateFirmware with nothing
    rig.station.firmware.step_s = 30  # the first stays in its download
    assert await update(rig, "http://127.0.0.1/fw/acme-2.0.0.bin", request_id=9) == {
        "status": "Accepted"
    }
    assert (await rig.csms.next("FirmwareStatusNotification"))["status"] == "Downloading"
    rig.station.firmware.step_s = 0.01
    answer = await update(rig, "http://127.0.0.1/fw/acme-3.0.0.bin", request_id=10)
    assert answer == {"status": "AcceptedCanceled"}
    last = await rig.csms.until("FirmwareStatusNotification", lambda p: p["status"] == "Installed")
    assert last["requestId"] == 10 and rig.station.firmware.version == "3.0.0"


@pytest.mark.parametrize("protocol", ["ocpp2.0.1", "ocpp2.1"])
@pytest.mark.parametrize("failure", [None, "DownloadFailed"])
async def test_an_update_is_over_once_its_last_status_is_sent(
    make_rig: RigFactory, failure: str | None
) -> None:
    """A CSMS may send the next UpdateFirmware as soon as it has an update's last status
    (Installed, or a failure), before it has answered that notification: there is then
    nothing under way to cancel, so the answer is Accepted (L01), not AcceptedCanceled."""
    rig = await firmware_rig(make_rig)
    rig.station.faults.firmware_failure = failure
    last = failure or "Installed"
    next_sent = asyncio.Event()

    async def answer(payload: Payload) -> Payload:
        if (payload["requestId"], payload["status"]) == (9, last):
            await asyncio.wait_for(next_sent.wait(), WAIT_S)  # answered after the next update
        return {}

    rig.csms.answers["FirmwareStatusNotification"] = answer  # type: ignore[assignment]
    await update(rig, "http://127.0.0.1/fw/acme-2.0.0.bin", request_id=9)
    await rig.csms.until("FirmwareStatusNotification", lambda p: p["status"] == last)
    second = await update(rig, "http://127.0.0.1/fw/acme-3.0.0.bin", request_id=10)
    next_sent.set()
    assert second == {"status": "Accepted"}
    done = await rig.csms.until("FirmwareStatusNotification", lambda p: p["status"] == last)
    assert done["requestId"] == 10
