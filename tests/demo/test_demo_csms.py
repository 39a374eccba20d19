"""The demo CSMS, its operator API and the ``browser-ocpp serve`` command."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from browser_ocpp import (
    OCPPClient,
    RPCNotImplementedError,
    RPCNotSupportedError,
    UnexpectedHttpResponse,
)
from browser_ocpp.demo import ConsoleServer, csms
from browser_ocpp.demo import uploads as csms_uploads
from browser_ocpp.rpc.validation import validator_for
from browser_ocpp.rpc.versions import known_actions

from ..peer.conftest import expect, wait
from ..server.test_static import http_get

BOOT16 = {"chargePointVendor": "ACME", "chargePointModel": "One"}
T0 = "2024-01-01T00:00:00Z"
BOOT2 = {"chargingStation": {"vendorName": "ACME", "model": "Two"}, "reason": "PowerUp"}


@pytest.fixture
async def console(tmp_path: Path) -> Any:
    web, runtime = tmp_path / "web", tmp_path / "runtime"
    for folder in (web, runtime / "pyodide", runtime / "pyscript"):
        folder.mkdir(parents=True)
    (web / "index.html").write_text("<title>console</title>")
    server = ConsoleServer(runtime, web=web)
    await server.listen(0)
    yield server
    await server.close()


async def api(server: ConsoleServer, path: str, **query: str) -> Any:
    extra = {"X-OCPP-Operator": "1"}
    status, headers, body = await http_get(server.server.port, f"{path}?{urlencode(query)}", extra)
    assert headers["content-type"] == "application/json"
    return status, json.loads(body)


def station(server: ConsoleServer, identity: str, protocol: str) -> OCPPClient:
    url = f"ws://127.0.0.1:{server.server.port}/ocpp"
    return OCPPClient(identity=identity, endpoint=url, protocols=[protocol], strict_mode=True)


async def test_the_console_is_served_cross_origin_isolated(console: ConsoleServer) -> None:
    """Its Python runs in a Web Worker that reaches the page through SharedArrayBuffer,
    which only a cross-origin isolated page has: the page, and what it loads."""
    for path in ("/", "/index.html"):
        status, headers, _ = await http_get(console.server.port, path)
        assert status == 200
        assert headers["cross-origin-opener-policy"] == "same-origin"
        assert headers["cross-origin-embedder-policy"] == "require-corp"
        assert headers["cross-origin-resource-policy"] == "same-origin"


async def test_boot_authorize_and_a_16_transaction(console: ConsoleServer) -> None:
    client = station(console, "CP-16", "ocpp1.6")
    await wait(client.connect())
    boot = await wait(client.call("BootNotification", BOOT16))
    assert boot["status"] == "Accepted" and boot["interval"] == 60
    assert (await client.call("Authorize", {"idTag": "TAG-1"}))["idTagInfo"]["status"] == "Accepted"
    assert (await client.call("Authorize", {"idTag": "BLOCKED-1"}))["idTagInfo"][
        "status"
    ] == "Invalid"
    await client.call(
        "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
    )
    start = await client.call(
        "StartTransaction",
        {
            "connectorId": 1,
            "idTag": "TAG-1",
            "meterStart": 1000,
            "timestamp": "2024-01-01T00:00:00Z",
        },
    )
    tx = start["transactionId"]
    sample = {"value": "2500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
    await client.call(
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": tx,
            "meterValue": [{"timestamp": "2024-01-01T00:01:00Z", "sampledValue": [sample]}],
        },
    )
    await client.call(
        "StopTransaction",
        {"transactionId": tx, "meterStop": 3000, "timestamp": "2024-01-01T00:02:00Z"},
    )
    status, body = await api(console, "/api/stations")
    (record,) = body["stations"]
    assert status == 200 and record["identity"] == "CP-16" and record["connected"]
    assert record["statuses"] == {"1": "Charging"} and record["meter_values"] == 1
    (transaction,) = record["transactions"]
    assert (transaction["meter_start_wh"], transaction["meter_wh"]) == (1000, 3000)
    assert transaction["stopped"] == "2024-01-01T00:02:00Z"
    await client.close()


async def test_a_201_transaction_event_flow(console: ConsoleServer) -> None:
    client = station(console, "CP-2", "ocpp2.0.1")
    await wait(client.connect())
    assert (await client.call("BootNotification", BOOT2))["status"] == "Accepted"
    base = {
        "transactionInfo": {"transactionId": "tx-1"},
        "timestamp": "2024-01-01T00:00:00Z",
        "seqNo": 0,
    }
    meter = [{"timestamp": "2024-01-01T00:00:00Z", "sampledValue": [{"value": 500.0}]}]
    started = {
        **base,
        "eventType": "Started",
        "triggerReason": "Authorized",
        "evse": {"id": 1, "connectorId": 1},
        "idToken": {"idToken": "TAG-2", "type": "ISO14443"},
        "meterValue": meter,
    }
    assert (await client.call("TransactionEvent", started))["idTokenInfo"]["status"] == "Accepted"
    last = [{"timestamp": "2024-01-01T00:05:00Z", "sampledValue": [{"value": 4500.0}]}]
    ended = {**base, "eventType": "Ended", "triggerReason": "StopAuthorized", "seqNo": 1}
    ended["meterValue"] = last
    await client.call("TransactionEvent", ended)
    _, body = await api(console, "/api/stations")
    (transaction,) = body["stations"][0]["transactions"]
    assert transaction["id_tag"] == "TAG-2" and transaction["connector"] == 1
    assert (transaction["meter_start_wh"], transaction["meter_wh"]) == (500.0, 4500.0)
    assert transaction["stopped"] == "2024-01-01T00:00:00Z"
    await client.close()


async def test_operator_command_reaches_the_station(console: ConsoleServer) -> None:
    client = station(console, "CP-OP", "ocpp1.6")
    client.handle(
        "Reset", lambda ctx: {"status": "Accepted" if ctx.params["type"] == "Soft" else "Rejected"}
    )
    await wait(client.connect())
    status, body = await api(
        console, "/api/command", identity="CP-OP", action="Reset", params='{"type": "Soft"}'
    )
    assert status == 200 and body["ok"] is True and body["result"] == {"status": "Accepted"}
    assert isinstance(body["ms"], int) and body["ms"] >= 0
    _, body = await api(
        console, "/api/command", identity="CP-OP", action="GetConfiguration", params="{}"
    )
    assert body["ok"] is False and body["error"] == "RPCNotSupportedError"
    assert (body["kind"], body["code"]) == ("callerror", "NotSupported")
    _, body = await api(console, "/api/command", identity="nobody", action="Reset", params="{}")
    assert body["ok"] is False and "'nobody' is connected" in body["message"]
    assert body["kind"] == "disconnected"
    status, body = await api(
        console, "/api/command", identity="CP-OP", action="Reset", params="{oops"
    )
    assert status == 400 and body["error"] == "BadParams"
    await client.close()


async def test_disconnect_is_recorded(console: ConsoleServer) -> None:
    client = station(console, "CP-GONE", "ocpp1.6")
    await wait(client.connect())
    server_side_closed = expect(console.server.clients["CP-GONE"], "close")
    await client.close(1000, "bye")
    await wait(server_side_closed)
    _, body = await api(console, "/api/stations")
    assert body["stations"][0]["connected"] is False
    assert any("disconnected (1000 bye)" in line for line in body["stations"][0]["events"])


async def test_console_pages_are_served(console: ConsoleServer) -> None:
    status, _, body = await http_get(console.server.port, "/")
    assert status == 200 and b"console" in body
    status, _, body = await http_get(console.server.port, "/csms/")
    assert status == 200 and b"operator view" in body


def test_serve_command_prints_the_url_and_stops_on_sigterm(tmp_path: Path) -> None:
    web, runtime = tmp_path / "web", tmp_path / "runtime"
    for folder in (web, runtime / "pyodide", runtime / "pyscript"):
        folder.mkdir(parents=True)
    (web / "index.html").write_text("<title>console</title>")
    command = [sys.executable, "-m", "browser_ocpp.cli", "serve", "--port", "0"]
    command += ["--web", str(web), "--runtime", str(runtime)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            assert process.stdout.readline().startswith("Web console:   http://127.0.0.1:")
            assert process.stdout.readline().startswith("Demo CSMS:     ws://127.0.0.1:")
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        finally:
            process.kill()


def test_serve_refuses_a_folder_without_a_console(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "browser_ocpp.cli", "serve", "--web", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "expected index.html" in done.stderr


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-OCPP-Operator": "0"}, {"X-OCPP-Operator": "1", "Origin": "http://evil.example"}],
)
async def test_commands_only_from_the_operator_page(
    console: ConsoleServer, headers: dict[str, str]
) -> None:
    client = station(console, "CP-SAFE", "ocpp1.6")
    resets: list[Any] = []
    client.handle("Reset", lambda ctx: resets.append(ctx.params) or {"status": "Accepted"})
    await wait(client.connect())
    query = urlencode({"identity": "CP-SAFE", "action": "Reset", "params": '{"type": "Hard"}'})
    status, _, body = await http_get(console.server.port, f"/api/command?{query}", headers)
    assert status == 403 and b"Forbidden" in body
    assert resets == []
    await client.close()


async def test_a_nan_meter_reading_keeps_the_api_valid_json(console: ConsoleServer) -> None:
    client = station(console, "CP-NAN", "ocpp1.6")
    await wait(client.connect())
    start = await client.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": "2024-01-01T00:00:00Z"},
    )
    for value in ("NaN", "Infinity", "-Infinity", "1e999"):
        sample = {"value": value, "measurand": "Energy.Active.Import.Register"}
        await client.call(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": start["transactionId"],
                "meterValue": [{"timestamp": "2024-01-01T00:00:00Z", "sampledValue": [sample]}],
            },
        )
    _, _, body = await http_get(console.server.port, "/api/stations")

    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    stations = json.loads(body, parse_constant=refuse)["stations"]
    assert stations[0]["transactions"][0]["meter_wh"] == 0
    await client.close()


async def test_what_the_demo_keeps_per_station_is_bounded(console: ConsoleServer) -> None:
    client = station(console, "CP-MANY", "ocpp1.6")
    await wait(client.connect())
    for connector in range(1, 101):
        status = {"connectorId": connector, "errorCode": "NoError", "status": "Available"}
        await client.call("StatusNotification", status)
    for _ in range(csms.TRANSACTIONS_KEPT + 20):
        params = {
            "connectorId": 1,
            "idTag": "T",
            "meterStart": 0,
            "timestamp": "2024-01-01T00:00:00Z",
        }
        await client.call("StartTransaction", params)
    record = console.csms.stations["CP-MANY"]
    assert len(record.statuses) == csms.CONNECTORS_KEPT
    assert len(record.transactions) == csms.TRANSACTIONS_KEPT
    assert min(int(t) for t in record.transactions) == 21  # the oldest went first
    await client.close()


@pytest.mark.parametrize("path", ["/api/stations", "/api/command?identity=X&action=Reset"])
async def test_the_api_refuses_host_names_it_does_not_know(
    console: ConsoleServer, path: str
) -> None:
    """A DNS-rebinding page reaches us under its own name: refused."""
    port = console.server.port
    headers = {"Host": f"rebind.example:{port}", "X-OCPP-Operator": "1"}
    status, _, body = await http_get(port, path, headers)
    assert status == 403 and b"unknown Host" in body
    for host in (f"localhost:{port}", f"[::1]:{port}", f"127.0.0.1:{port}"):
        status, _, _ = await http_get(port, "/api/stations", {"Host": host})
        assert status == 200, host


async def test_allowed_host_names_reach_the_api(tmp_path: Path) -> None:
    (tmp_path / "runtime" / "pyodide").mkdir(parents=True)
    (tmp_path / "runtime" / "pyscript").mkdir(parents=True)
    server = ConsoleServer(tmp_path / "runtime", allowed_hosts=["csms.lan"])
    port = await server.listen(0)
    try:
        status, _, _ = await http_get(port, "/api/stations", {"Host": f"csms.lan:{port}"})
        assert status == 200
    finally:
        await server.close()


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [(None, True), ("same", True), ("http://evil.example", False), ("null", False)],
)
async def test_pages_of_other_origins_cannot_take_a_station_identity(
    console: ConsoleServer, origin: str | None, allowed: bool
) -> None:
    port = console.server.port
    headers = {}
    if origin is not None:
        headers["Origin"] = f"http://127.0.0.1:{port}" if origin == "same" else origin
    client = OCPPClient(
        identity="CP-ORIGIN",
        endpoint=f"ws://127.0.0.1:{port}/ocpp",
        protocols=["ocpp1.6"],
        headers=headers,
        reconnect=False,
    )
    if allowed:
        await wait(client.connect())
        assert "CP-ORIGIN" in console.server.clients
        await client.close()
    else:
        with pytest.raises(UnexpectedHttpResponse) as refused:
            await wait(client.connect())
        assert refused.value.status == 403
        assert "CP-ORIGIN" not in console.server.clients


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_unknown_and_wrong_direction_calls_are_refused_like_the_library(
    console: ConsoleServer, protocol: str
) -> None:
    """Only station-to-CSMS notifications get the demo's empty answer; a call the CSMS
    itself would send is NotSupported, an action the version lacks NotImplemented."""
    client = OCPPClient(
        identity=f"CP-DIR-{protocol[-3:]}",
        endpoint=f"ws://127.0.0.1:{console.server.port}/ocpp",
        protocols=[protocol],
        reconnect=False,
    )
    await wait(client.connect())
    # Valid payloads: the demo is strict, so an invalid one gets its schema's error first.
    if protocol == "ocpp1.6":
        wrong_way = ("RemoteStartTransaction", {"idTag": "X"})
        reset = {"type": "Hard"}
    else:
        token = {"idToken": "X", "type": "ISO14443"}
        wrong_way = ("RequestStartTransaction", {"idToken": token, "remoteStartId": 1})
        reset = {"type": "Immediate"}
    with pytest.raises(RPCNotSupportedError):
        await client.call(*wrong_way)
    with pytest.raises(RPCNotSupportedError):
        await client.call("Reset", reset)
    with pytest.raises(RPCNotImplementedError):
        await client.call("NoSuchAction", {})
    other_version = "TransactionEvent" if protocol == "ocpp1.6" else "StartTransaction"
    with pytest.raises(RPCNotImplementedError):
        await client.call(other_version, {})
    event = {"type": "Other", "timestamp": T0}
    assert await client.call("SecurityEventNotification", event) == {}
    await client.close()


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
def test_the_notifications_the_demo_answers_empty_are_valid_station_calls(protocol: str) -> None:
    validator = validator_for(protocol)
    assert validator is not None
    notifications = csms.notifications(protocol)
    assert notifications <= known_actions(protocol)
    for action in notifications:
        validator.validate_response(action, {})
    assert not {"CostUpdated", "GetConfiguration", "UpdateFirmware", "Reset"} & notifications
    assert not csms.ANSWERED & notifications
    assert {"SecurityEventNotification", "FirmwareStatusNotification"} <= notifications
    # answered with a status, so not with {}: refused rather than answered invalidly
    assert not {"SignCertificate", "NotifyEVChargingNeeds"} & notifications


def test_the_16_notifications_are_the_status_and_security_ones() -> None:
    assert csms.notifications("ocpp1.6") == {
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "LogStatusNotification",
        "SecurityEventNotification",
        "SignedFirmwareStatusNotification",
    }
    assert csms.notifications("ocpp9") == frozenset()


async def test_a_command_the_station_leaves_unanswered_times_out_as_asked(
    console: ConsoleServer,
) -> None:
    client = station(console, "CP-SLOW", "ocpp1.6")
    never = asyncio.Event()

    async def hang(ctx: Any) -> dict[str, Any]:
        await never.wait()
        return {}

    client.handle("ClearCache", hang)
    await wait(client.connect())
    _, body = await api(
        console, "/api/command", identity="CP-SLOW", action="ClearCache", timeout_ms="200"
    )
    assert body["ok"] is False and body["kind"] == "timeout"
    assert body["error"] == "CallTimeoutError"
    for bad in ("0", "99", "120001", "abc", "-5"):
        status, body = await api(
            console, "/api/command", identity="CP-SLOW", action="ClearCache", timeout_ms=bad
        )
        assert (
            status == 400 and body["error"] == "BadTimeout" and "100 to 120000" in body["message"]
        )
    never.set()
    await client.close()


async def test_a_callerror_comes_with_its_code_and_details(console: ConsoleServer) -> None:
    client = station(console, "CP-ERR", "ocpp2.0.1")

    def refuse(ctx: Any) -> dict[str, Any]:
        raise RPCNotSupportedError("no resets today", {"why": "maintenance"})

    client.handle("Reset", refuse)
    await wait(client.connect())
    _, body = await api(
        console, "/api/command", identity="CP-ERR", action="Reset", params='{"type": "Immediate"}'
    )
    assert body["ok"] is False and body["kind"] == "callerror"
    assert (body["code"], body["message"]) == ("NotSupported", "no resets today")
    assert body["details"] == {"why": "maintenance"}
    await client.close()


async def test_a_command_strict_mode_refuses_is_not_sent_and_says_so(
    console: ConsoleServer,
) -> None:
    """The demo is strict: an invalid payload never reaches the station, and the answer
    is told apart from a CALLERROR the station sent."""
    client = station(console, "CP-STRICT", "ocpp1.6")
    received: list[Any] = []
    client.handle("Reset", lambda ctx: received.append(ctx.params) or {"status": "Accepted"})
    await wait(client.connect())
    _, body = await api(
        console, "/api/command", identity="CP-STRICT", action="Reset", params='{"type": "Bogus"}'
    )
    assert body["ok"] is False and body["kind"] == "invalid"
    assert "PropertyConstraintViolation" in body["message"] and "$.type" in body["message"]
    _, body = await api(
        console, "/api/command", identity="CP-STRICT", action="Reset", params='{"type": "Soft"}'
    )
    assert body == {"ok": True, "result": {"status": "Accepted"}, "ms": body["ms"]}
    assert received == [{"type": "Soft"}]  # the invalid one never arrived
    await client.close()


async def test_a_station_that_comes_back_is_the_same_record_connected_again(
    console: ConsoleServer,
) -> None:
    client = station(console, "CP-BACK", "ocpp1.6")
    await wait(client.connect())
    await client.call("BootNotification", BOOT16)
    await client.call(
        "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
    )
    record = console.csms.stations["CP-BACK"]
    closed = expect(console.server.clients["CP-BACK"], "close")
    await client.close(1000, "bye")
    await wait(closed)
    (gone,) = console.csms.snapshot()
    assert gone["connected"] is False and gone["disconnected_for_s"] is not None
    again = station(console, "CP-BACK", "ocpp1.6")
    await wait(again.connect())
    assert console.csms.stations["CP-BACK"] is record
    (back,) = console.csms.snapshot()
    assert back["connected"] is True and back["disconnected_for_s"] is None
    # What it said before the drop is still known: a reconnect is not a reboot.
    assert back["boot"] == BOOT16 and back["statuses"] == {"1": "Available"}
    await again.close()


async def test_a_late_close_of_an_older_connection_leaves_the_new_one_connected(
    console: ConsoleServer,
) -> None:
    first = station(console, "CP-TWICE", "ocpp1.6")
    await wait(first.connect())
    old_side = console.server.clients["CP-TWICE"]
    closed = expect(old_side, "close")
    second = station(console, "CP-TWICE", "ocpp1.6")
    await wait(second.connect())  # the server replaces the first connection
    await wait(closed)
    assert console.csms.snapshot()[0]["connected"] is True
    await first.close()
    await second.close()


async def test_disconnected_stations_are_forgotten_after_a_while_or_on_request(
    tmp_path: Path,
) -> None:
    (tmp_path / "runtime" / "pyodide").mkdir(parents=True)
    (tmp_path / "runtime" / "pyscript").mkdir(parents=True)
    server = ConsoleServer(tmp_path / "runtime")
    clock = [1000.0]
    server.csms.clock = lambda: clock[0]
    server.csms.forget_after_s = 60
    await server.listen(0)
    try:
        clients = [station(server, name, "ocpp1.6") for name in ("CP-A", "CP-B", "CP-C")]
        for client in clients:
            await wait(client.connect())
        for client in clients[:2]:
            closed = expect(server.server.clients[client.identity], "close")
            await client.close()
            await wait(closed)
        status, body = await api(server, "/api/forget", identity="CP-C")
        assert status == 200 and body["ok"] is False and body["error"] == "Connected"
        _, body = await api(server, "/api/forget", identity="CP-A")
        assert body == {"ok": True}
        _, body = await api(server, "/api/forget", identity="CP-A")
        assert body["ok"] is False and body["error"] == "UnknownStation"
        _, body = await api(server, "/api/stations")
        assert [s["identity"] for s in body["stations"]] == ["CP-C", "CP-B"]
        assert body["forget_after_s"] == 60
        clock[0] += 59
        _, body = await api(server, "/api/stations")
        assert {s["identity"] for s in body["stations"]} == {"CP-B", "CP-C"}
        assert body["stations"][1]["disconnected_for_s"] == 59
        clock[0] += 1
        _, body = await api(server, "/api/stations")
        assert [s["identity"] for s in body["stations"]] == ["CP-C"]  # the connected one stays
        status, _, _ = await http_get(server.server.port, "/api/forget?identity=CP-C")
        assert status == 403  # changes something: the operator header is needed
        await clients[2].close()
    finally:
        await server.close()


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_the_command_list_is_the_versions_csms_commands_with_valid_templates(
    console: ConsoleServer, protocol: str
) -> None:
    status, body = await api(console, "/api/commands")
    assert status == 200 and set(body) == {"ocpp1.6", "ocpp2.0.1", "ocpp2.1"}
    listed = body[protocol]
    actions = [entry["action"] for entry in listed]
    assert len(actions) == len(set(actions)) and set(actions) <= known_actions(protocol)
    validator = validator_for(protocol)
    assert validator is not None
    for entry in listed:
        validator.validate_request(entry["action"], entry["template"])
    # The station's own calls are not commands; the ones the console acts on come first.
    assert not {"BootNotification", "Heartbeat", "StatusNotification", "Authorize"} & set(actions)
    common = [entry["action"] for entry in listed if entry["common"]]
    assert actions[: len(common)] == common and common[0] == "Reset"
    start = "RemoteStartTransaction" if protocol == "ocpp1.6" else "RequestStartTransaction"
    assert start in common and "DataTransfer" in common
    assert ("GetConfiguration" in actions) == (protocol == "ocpp1.6")
    assert ("SetVariables" in actions) == (protocol != "ocpp1.6")
    assert ("RequestBatterySwap" in actions) == (protocol == "ocpp2.1")


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_the_station_block_templates_are_made_for_now_and_this_server(
    console: ConsoleServer, protocol: str
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    _, body = await api(console, "/api/commands")
    after = datetime.now(UTC)
    templates = {entry["action"]: entry for entry in body[protocol]}
    v16 = protocol == "ocpp1.6"
    blocks = ["SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule"]
    blocks += ["ReserveNow", "CancelReservation", "SendLocalList", "GetLocalListVersion"]
    blocks += ["ClearCache", "UpdateFirmware", "GetDiagnostics" if v16 else "GetLog"]
    blocks += [] if v16 else ["SetDisplayMessage", "GetDisplayMessages", "ClearDisplayMessage"]
    assert all(templates[action]["common"] for action in blocks)
    assert not templates["GetLog"]["common"] if v16 else True  # 1.6's GetLog: not acted on
    server = f"http://127.0.0.1:{console.server.port}"
    reserve = templates["ReserveNow"]["template"]
    expiry = datetime.fromisoformat(reserve["expiryDate" if v16 else "expiryDateTime"])
    assert before + timedelta(minutes=59) <= expiry <= after + timedelta(hours=1)
    firmware = templates["UpdateFirmware"]["template"]
    firmware = firmware if v16 else firmware["firmware"]
    assert firmware["location"].startswith(server + "/")
    retrieve = datetime.fromisoformat(firmware["retrieveDate" if v16 else "retrieveDateTime"])
    assert before <= retrieve <= after
    log = templates["GetDiagnostics" if v16 else "GetLog"]["template"]
    assert (log["location"] if v16 else log["log"]["remoteLocation"]) == server + "/api/uploads"
    profile = templates["SetChargingProfile"]["template"]
    profile = profile["csChargingProfiles"] if v16 else profile["chargingProfile"]
    schedule = profile["chargingSchedule"] if v16 else profile["chargingSchedule"][0]
    assert profile["chargingProfilePurpose"] == "TxDefaultProfile"
    assert schedule["chargingRateUnit"] == "A"
    entries = templates["SendLocalList"]["template"]["localAuthorizationList"]
    assert len(entries) == 2


async def post(
    port: int, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """POST ``body`` with a Content-Length (and ``headers``); the status and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    fields = {"Host": f"127.0.0.1:{port}", "Content-Length": str(len(body)), **(headers or {})}
    head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    writer.write(f"POST {path} HTTP/1.1\r\n{head}\r\n".encode() + body)
    raw = await wait(reader.read())
    writer.close()
    await writer.wait_closed()
    status_line, _, rest = raw.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


async def test_stations_upload_logs_to_the_demo(console: ConsoleServer) -> None:
    port = console.server.port
    disposition = {"Content-Disposition": 'attachment; filename="EMU-1-log.log"'}
    status, body = await post(port, "/api/uploads", b"line 1\nline 2\n", disposition)
    assert status == 201 and json.loads(body) == {"ok": True, "name": "EMU-1-log.log", "bytes": 14}
    status, body = await post(port, "/api/uploads?name=../../etc/passwd", b"x")
    assert status == 201 and json.loads(body)["name"] == "_.._etc_passwd"  # a name, no path
    status, listing = await api(console, "/api/uploads")
    assert status == 200 and [u["name"] for u in listing["uploads"]] == [
        "_.._etc_passwd",
        "EMU-1-log.log",
    ]
    assert listing["uploads"][1]["bytes"] == 14
    status, headers, content = await http_get(port, "/api/uploads?name=EMU-1-log.log")
    assert (status, content) == (200, b"line 1\nline 2\n")
    assert headers["content-type"] == "text/plain; charset=utf-8"  # never run as a page
    assert headers["x-content-type-options"] == "nosniff"  # nor sniffed into one
    status, _ = await api(console, "/api/uploads", name="missing.log")
    assert status == 404


async def test_uploads_are_bounded_in_size_and_number(console: ConsoleServer) -> None:
    port = console.server.port
    status, body = await post(port, "/api/uploads", b"x" * (csms_uploads.MAX_UPLOAD_BYTES + 1))
    assert status == 413 and b"at most" in body
    status, _ = await post(port, "/api/uploads", b"x" * csms_uploads.MAX_UPLOAD_BYTES)
    assert status == 201
    for number in range(csms_uploads.UPLOADS_KEPT + 5):
        status, _ = await post(port, f"/api/uploads?name=n{number}.log", b"log")
        assert status == 201
    _, listing = await api(console, "/api/uploads")
    names = [u["name"] for u in listing["uploads"]]
    assert len(names) == csms_uploads.UPLOADS_KEPT and names[0] == "n24.log"


async def test_uploads_from_other_sites_are_refused(console: ConsoleServer) -> None:
    port = console.server.port
    status, _ = await post(port, "/api/uploads", b"x", {"Origin": "http://evil.example"})
    assert status == 403
    status, _ = await post(port, "/api/uploads", b"x", {"Host": f"rebind.example:{port}"})
    assert status == 403
    same = {"Origin": f"http://127.0.0.1:{port}"}  # the console's own in-browser station
    assert (await post(port, "/api/uploads", b"x", same))[0] == 201
    _, listing = await api(console, "/api/uploads")
    assert len(listing["uploads"]) == 1
