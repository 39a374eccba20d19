"""Diagnostics and logs: GetDiagnostics (1.6) / GetLog (2.x) with the status sequence,
and the upload of a small generated log (the station's recent activity lines).

1.6 (§5.9, §4.4): GetDiagnostics is answered with the file name, then
DiagnosticsStatusNotification Uploading, Uploaded or UploadFailed.  2.x (Part 2 N01):
GetLog is answered Accepted (AcceptedCanceled when it replaces an upload under way)
with the file name, then LogStatusNotification Uploading, Uploaded or UploadFailure,
each with the requestId.  The upload is an HTTP POST of the text to the location, made
only when it is ``http://`` on loopback (127.0.0.1, ::1, localhost): any other location
fails (UploadFailed / UploadFailure, with an activity line saying why) without being
contacted.  ``station.faults.upload_failure`` makes every upload fail.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..peer.handlers import HandlerContext
from .messages import timestamp

if TYPE_CHECKING:
    from .station import Station

__all__ = ["V2", "V16", "Logs", "loopback_target", "post"]

Payload = dict[str, Any]

LOOPBACK = ("127.0.0.1", "::1", "localhost")
UPLOAD_TIMEOUT_S = 10.0
KEPT_LINES = 200
"""Activity lines the station keeps for its logs."""


def loopback_target(location: str) -> tuple[str, int, str] | str:
    """(host, port, path) of an ``http://`` loopback location, or why it is refused."""
    try:
        parts = urlsplit(location)
        port = parts.port or 80
    except ValueError as exc:
        return f"{location!r} is not a URL ({exc})"
    if parts.scheme != "http":
        return f"{parts.scheme or 'no'} scheme: the emulator uploads over http:// only"
    if parts.hostname not in LOOPBACK:
        return f"{parts.hostname} is not loopback: the emulator uploads to 127.0.0.1 or ::1 only"
    path = parts.path or "/"
    return parts.hostname, port, path + (f"?{parts.query}" if parts.query else "")


async def post(location: str, name: str, body: bytes) -> str | None:
    """POST ``body`` (file ``name``) to a loopback ``location``; None if the server
    answered 2xx, else what went wrong."""
    target = loopback_target(location)
    if isinstance(target, str):
        return target
    if sys.platform == "emscripten":  # the page's fetch: no sockets in Pyodide
        return await _fetch(location, name, body)
    host, port, path = target
    try:
        return await asyncio.wait_for(_post(host, port, path, name, body), UPLOAD_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        return f"upload failed: {type(exc).__name__}: {exc}"


async def _post(host: str, port: int, path: str, name: str, body: bytes) -> str | None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: text/plain\r\n"
            f'Content-Disposition: attachment; filename="{name}"\r\n'
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)
        await writer.drain()
        status_line = (await reader.readline()).decode("latin-1").split()
        code = int(status_line[1]) if len(status_line) >= 2 and status_line[1].isdigit() else 0
        return (
            None
            if 200 <= code < 300
            else f"the server answered {' '.join(status_line[1:]) or 'nothing'}"
        )
    finally:
        writer.close()


async def _fetch(location: str, name: str, body: bytes) -> str | None:  # pragma: no cover
    from pyodide.http import pyfetch

    try:
        headers = {
            "Content-Type": "text/plain",
            "Content-Disposition": f'attachment; filename="{name}"',  # as _post names it
        }
        response = await pyfetch(location, method="POST", body=body, headers=headers)
    except Exception as exc:
        return f"upload failed: {exc}"
    return None if response.ok else f"the server answered {response.status}"


class Logs:
    """The station's recent activity (``lines``) and the upload under way."""

    step_s: float = 0.5
    """Time before the upload starts (collecting the log)."""

    def __init__(self, station: Station) -> None:
        self._station = station
        self.lines: deque[str] = deque(maxlen=KEPT_LINES)
        self.status = "Idle"
        self.request_id: int | None = None
        self.last_upload: str | None = None
        """The file name of the last log uploaded."""
        self.location: str | None = None
        """Where the last upload asked for goes (or went)."""
        self._task: asyncio.Task[None] | None = None
        station.on_activity(self._keep)

    def _keep(self, line: str) -> None:
        self.lines.append(f"{timestamp()} {line}")

    @property
    def busy(self) -> bool:
        return self._task is not None and not self._task.done()

    def file_name(self, kind: str) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        return f"{self._station.config.serial}-{kind}-{stamp}.log"

    def start(
        self, location: str, name: str, request_id: int | None, retries: int, interval: float
    ) -> None:
        if self._task is not None and self.busy:
            self._task.cancel()
        self.request_id, self.location = request_id, location
        self._task = self._station._spawn(self._run(location, name, retries, interval))

    async def send_triggered(self) -> None:
        """The status a TriggerMessage asks for: the upload's, Idle when none runs."""
        await self._send(self.status if self.busy else "Idle")

    async def _finish(self, status: str) -> None:
        """Notify the request's last status, the request being over from here: the
        CSMS may send the next one as soon as it has this one, before answering it."""
        self._task = None
        await self._notify(status)

    async def _notify(self, status: str) -> None:
        self.status = status
        self._station._changed()
        await self._send(status)

    async def _send(self, status: str) -> None:
        station = self._station
        if station.v16:
            await station._call("DiagnosticsStatusNotification", {"status": status})
        else:
            payload: Payload = {"status": status}
            if self.request_id is not None:
                payload["requestId"] = self.request_id
            await station._call("LogStatusNotification", payload)

    async def _run(self, location: str, name: str, retries: int, interval: float) -> None:
        station = self._station
        await asyncio.sleep(self.step_s)
        await self._notify("Uploading")
        body = "\n".join(["# " + name, *self.lines, ""]).encode()
        problem: str | None = "upload failure chosen with station.faults"
        for attempt in range(retries + 1):
            if not station.faults.upload_failure:
                problem = await post(location, name, body)
            if problem is None or isinstance(loopback_target(location), str):
                break
            if attempt < retries:
                await asyncio.sleep(interval)
        if problem is None:
            self.last_upload = name
            station.note(f"Log {name} uploaded to {location} ({len(body)} bytes)")
            await self._finish("Uploaded")
        else:
            station.note(f"Log upload to {location} failed: {problem}")
            await self._finish("UploadFailed" if station.v16 else "UploadFailure")


def get_diagnostics(station: Station, ctx: HandlerContext) -> Payload:
    p = ctx.params
    name = station.logs.file_name("diagnostics")
    retries, interval = p.get("retries", 0), p.get("retryInterval", 0)

    async def begin() -> None:
        station.logs.start(p["location"], name, None, retries, interval)

    station.after_reply(ctx.message_id, begin)
    station.note(f"GetDiagnostics ({p['location']}) requested by CSMS: {name}")
    return {"fileName": name}


def get_log(station: Station, ctx: HandlerContext) -> Payload:
    p = ctx.params
    kind = "security" if p["logType"] == "SecurityLog" else "diagnostics"
    name = station.logs.file_name(kind)
    status = "AcceptedCanceled" if station.logs.busy else "Accepted"
    retries, interval = p.get("retries", 0), p.get("retryInterval", 0)
    location = p["log"]["remoteLocation"]

    async def begin() -> None:
        station.logs.start(location, name, p["requestId"], retries, interval)

    station.after_reply(ctx.message_id, begin)
    station.note(
        f"GetLog {p['requestId']} ({p['logType']}, {location}) requested by CSMS: {status}"
    )
    return {"status": status, "filename": name}


V16 = {"GetDiagnostics": get_diagnostics}
V2 = {"GetLog": get_log}
