"""Diagnostics and logs: GetDiagnostics (1.6) / GetLog (2.x), the status sequence and the
upload to an HTTP server on loopback (every version, the strict test CSMS).  The
``test_upload_`` tests listen on sockets (not run under Pyodide)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from browser_ocpp.emulator.logs import loopback_target

from .conftest import WAIT_S, Payload, Rig, RigFactory


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("http://127.0.0.1:8080/up", ("127.0.0.1", 8080, "/up")),
        ("http://[::1]:81/a?b=1", ("::1", 81, "/a?b=1")),
        ("http://localhost", ("localhost", 80, "/")),
        ("https://127.0.0.1/up", "scheme"),
        ("ftp://127.0.0.1/up", "scheme"),
        ("http://192.0.2.1/up", "not loopback"),
        ("http://127.0.0.1.example.com/up", "not loopback"),
        ("http://127.0.0.1:99999/up", "not a URL"),
    ],
)
def test_only_http_on_loopback_is_uploaded_to(location: str, expected: object) -> None:
    target = loopback_target(location)
    if isinstance(expected, str):
        assert isinstance(target, str) and expected in target
    else:
        assert target == expected


@dataclass
class Receiver:
    """An HTTP server on loopback that takes uploads and answers ``status``."""

    status: str = "201 Created"
    uploads: asyncio.Queue[tuple[str, bytes]] = field(default_factory=asyncio.Queue)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        length = next(
            int(line.split(":", 1)[1])
            for line in head.split("\r\n")
            if line.lower().startswith("content-length:")
        )
        body = await reader.readexactly(length)
        self.uploads.put_nowait((head, body))
        writer.write(f"HTTP/1.1 {self.status}\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    yield receiver
    server.close()
    await server.wait_closed()


async def ask(rig: Rig, location: str) -> Payload:
    rig.csms.answers["DiagnosticsStatusNotification" if rig.v16 else "LogStatusNotification"] = (
        lambda p: {}
    )
    rig.station.logs.step_s = 0.01
    if rig.v16:
        return await rig.csms.send("GetDiagnostics", {"location": location})
    payload = {"logType": "DiagnosticsLog", "requestId": 4, "log": {"remoteLocation": location}}
    return await rig.csms.send("GetLog", payload)


async def statuses(rig: Rig, count: int) -> list[str]:
    action = "DiagnosticsStatusNotification" if rig.v16 else "LogStatusNotification"
    seen = [await rig.csms.next(action) for _ in range(count)]
    if not rig.v16:
        assert all(p["requestId"] == 4 for p in seen)
    return [p["status"] for p in seen]


def failed(rig: Rig) -> str:
    return "UploadFailed" if rig.v16 else "UploadFailure"


async def test_upload_to_a_loopback_server(make_rig: RigFactory, receiver: Receiver) -> None:
    rig = await make_rig()
    await rig.station.start_transaction(1, "TAG-1")
    answer = await ask(rig, f"http://127.0.0.1:{receiver.port}/upload")
    name = answer["fileName" if rig.v16 else "filename"]
    assert name.startswith("EMU-0001-diagnostics-") and name.endswith(".log")
    if not rig.v16:
        assert answer["status"] == "Accepted"
    assert await statuses(rig, 2) == ["Uploading", "Uploaded"]
    head, body = await asyncio.wait_for(receiver.uploads.get(), 5)
    assert head.startswith("POST /upload HTTP/1.1") and f'filename="{name}"' in head
    assert "transaction" in body.decode() and "started for TAG-1" in body.decode()
    assert rig.station.logs.last_upload == name and rig.station.logs.status == "Uploaded"
    assert rig.station.logs.location == f"http://127.0.0.1:{receiver.port}/upload"


async def test_upload_refused_by_the_server_fails(make_rig: RigFactory, receiver: Receiver) -> None:
    rig = await make_rig()
    receiver.status = "500 Internal Server Error"
    await ask(rig, f"http://127.0.0.1:{receiver.port}/upload")
    assert await statuses(rig, 2) == ["Uploading", failed(rig)]
    assert any("the server answered 500" in line for line in rig.lines)


async def test_a_location_off_loopback_is_not_contacted(make_rig: RigFactory) -> None:
    rig = await make_rig()
    await ask(rig, "http://192.0.2.1/upload")
    assert await statuses(rig, 2) == ["Uploading", failed(rig)]
    assert any("192.0.2.1 is not loopback" in line for line in rig.lines)


async def test_upload_failure_chosen_with_faults(make_rig: RigFactory, receiver: Receiver) -> None:
    rig = await make_rig()
    rig.station.faults.upload_failure = True
    await ask(rig, f"http://127.0.0.1:{receiver.port}/upload")
    assert await statuses(rig, 2) == ["Uploading", failed(rig)]
    assert receiver.uploads.empty()


@pytest.mark.parametrize("protocol", ["ocpp2.0.1", "ocpp2.1"])
async def test_a_log_request_is_over_once_its_last_status_is_sent(make_rig: RigFactory) -> None:
    """A CSMS may send the next GetLog as soon as it has a request's last status, before
    it has answered that notification: nothing is under way, so the answer is Accepted
    (N01), not AcceptedCanceled."""
    rig = await make_rig()
    rig.station.logs.step_s = 0.01
    rig.station.faults.upload_failure = True
    next_sent = asyncio.Event()

    async def answer(payload: Payload) -> Payload:
        if (payload["requestId"], payload["status"]) == (4, "UploadFailure"):
            await asyncio.wait_for(next_sent.wait(), WAIT_S)  # answered after the next request
        return {}

    def get_log(request_id: int) -> Payload:
        log = {"remoteLocation": "http://127.0.0.1:9/up"}
        return {"logType": "DiagnosticsLog", "requestId": request_id, "log": log}

    rig.csms.answers["LogStatusNotification"] = answer  # type: ignore[assignment]
    assert (await rig.csms.send("GetLog", get_log(4)))["status"] == "Accepted"
    await rig.csms.until("LogStatusNotification", lambda p: p["status"] == "UploadFailure")
    second = await rig.csms.send("GetLog", get_log(5))
    next_sent.set()
    assert second["status"] == "Accepted"
    done = await rig.csms.until("LogStatusNotification", lambda p: p["status"] == "UploadFailure")
    assert done["requestId"] == 5
