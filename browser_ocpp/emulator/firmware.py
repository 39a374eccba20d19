"""Firmware updates: UpdateFirmware and the FirmwareStatusNotification sequence, then a
reboot into the new version (shown in the next BootNotification).

1.6 (§5.19, §4.5): Downloading, Downloaded, Installing, reboot, Installed; or
DownloadFailed / InstallationFailed.  2.x (Part 2 L01): Downloading, Downloaded,
SignatureVerified (a signed firmware), Installing, InstallRebooting, reboot
(BootNotification reason FirmwareUpdate), Installed; or DownloadFailed,
InvalidSignature, InstallationFailed; a new request cancels the one under way
(AcceptedCanceled).  An update is over once its last status is set: a request
coming while that notification awaits its answer finds none under way.  Nothing is
downloaded: ``station.faults.firmware_failure`` chooses a failure, ``step_s`` the time
each step takes.  Downloads are retried ``retries`` times, ``retryInterval`` seconds
apart, as the request says.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..peer.handlers import HandlerContext
from .auth import parse_time

if TYPE_CHECKING:
    from .station import Station

__all__ = ["V2", "V16", "Firmware", "next_version"]

Payload = dict[str, Any]


def next_version(current: str, location: str) -> str:
    """The version a firmware at ``location`` installs: the dotted version its file name
    carries (``.../fw-2.1.0.bin``), else ``current`` with its last number raised."""
    name = location.rstrip("/").rsplit("/", 1)[-1]
    found = re.search(r"\d+(?:\.\d+)+", name)
    if found:
        return found.group(0)
    parts = re.match(r"(.*?)(\d+)(\D*)$", current)
    if parts is None:
        return f"{current}.1"
    return f"{parts.group(1)}{int(parts.group(2)) + 1}{parts.group(3)}"


class Firmware:
    """The station's firmware: its version, the update under way and its last status."""

    step_s: float = 1.0
    """Time each step (download, verification, installation) takes."""

    def __init__(self, station: Station) -> None:
        self._station = station
        self.status = "Idle"
        """The last status notified (1.6 and 2.x spelling alike)."""
        self.request_id: int | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def version(self) -> str:
        return self._station.config.firmware

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(
        self,
        location: str,
        when: datetime | None,
        retries: int,
        interval: float,
        signed: bool,
        request_id: int | None,
    ) -> bool:
        """Begin an update (after the reply); True if one under way was cancelled."""
        cancelled = self.busy
        if self._task is not None and cancelled:
            self._task.cancel()
        self.request_id = request_id
        run = self._run(location, when, retries, interval, signed)
        self._task = self._station._spawn(run)
        return cancelled

    async def send_triggered(self) -> None:
        """The status a TriggerMessage asks for: the update's, Idle when none runs
        (1.6 errata: Idle only then)."""
        await self._send(self.status if self.busy else "Idle")

    async def _finish(self, status: str) -> None:
        """Notify the update's last status, the update being over from here: the CSMS
        may send the next request as soon as it has this one, before answering it."""
        self._task = None
        await self._notify(status)

    async def _notify(self, status: str) -> None:
        station = self._station
        self.status = status
        station.note(f"Firmware: {status}")
        station._changed()
        await self._send(status)

    async def _send(self, status: str) -> None:
        station = self._station
        payload: Payload = {"status": status}
        if not station.v16 and self.request_id is not None:
            payload["requestId"] = self.request_id
        await station._call("FirmwareStatusNotification", payload)

    async def _run(
        self, location: str, when: datetime | None, retries: int, interval: float, signed: bool
    ) -> None:
        station = self._station
        if when is not None:
            await asyncio.sleep(max(0.0, (when - datetime.now(UTC)).total_seconds()))
        failure = station.faults.firmware_failure
        for attempt in range(retries + 1):
            await self._notify("Downloading")
            await asyncio.sleep(self.step_s)
            if failure != "DownloadFailed":
                break
            if attempt < retries:
                station.note(f"Firmware download failed: retry in {interval:g} s")
                await asyncio.sleep(interval)
        else:
            await self._finish("DownloadFailed")
            return
        await self._notify("Downloaded")
        if signed and not station.v16:
            await asyncio.sleep(self.step_s)
            if failure == "InvalidSignature":
                await self._finish("InvalidSignature")
                return
            await self._notify("SignatureVerified")
        await self._notify("Installing")
        await asyncio.sleep(self.step_s)
        if failure == "InstallationFailed":
            await self._finish("InstallationFailed")
            return
        new = next_version(station.config.firmware, location)
        if not station.v16:
            await self._notify("InstallRebooting")
        station.note(f"Firmware {new} installed: rebooting (was {station.config.firmware})")
        station.config.firmware = new
        await station.reset("Reboot", boot_reason="FirmwareUpdate")
        await self._finish("Installed")


def update_firmware_16(station: Station, ctx: HandlerContext) -> Payload:
    p = ctx.params
    when = parse_time(p["retrieveDate"])
    retries, interval = p.get("retries", 0), p.get("retryInterval", 0)

    async def begin() -> None:
        station.firmware.start(p["location"], when, retries, interval, False, None)

    station.after_reply(ctx.message_id, begin)
    station.note(f"UpdateFirmware ({p['location']}) requested by CSMS")
    return {}


def update_firmware_2(station: Station, ctx: HandlerContext) -> Payload:
    p, firmware = ctx.params, ctx.params["firmware"]
    when = parse_time(firmware["retrieveDateTime"])
    signed = "signature" in firmware
    status = "AcceptedCanceled" if station.firmware.busy else "Accepted"
    retries, interval = p.get("retries", 0), p.get("retryInterval", 0)

    async def begin() -> None:
        station.firmware.start(
            firmware["location"], when, retries, interval, signed, p["requestId"]
        )

    station.after_reply(ctx.message_id, begin)
    station.note(
        f"UpdateFirmware {p['requestId']} ({firmware['location']}) requested by CSMS: {status}"
    )
    return {"status": status}


V16 = {"UpdateFirmware": update_firmware_16}
V2 = {"UpdateFirmware": update_firmware_2}
