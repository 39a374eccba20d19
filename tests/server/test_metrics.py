"""health_endpoint=True: /health and /metrics over real sockets, read back with
prometheus_client's own parser; each metric is shown by what the stations did."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any, cast

import pytest
from prometheus_client.parser import text_string_to_metric_families

from browser_ocpp import (
    NOREPLY,
    CallTimeoutError,
    ConnectionClosedError,
    OCPPServer,
    OCPPServerClient,
    RPCGenericError,
    RPCNotImplementedError,
    RPCNotSupportedError,
    UnexpectedHttpResponse,
)
from browser_ocpp.server import metrics as metrics_module
from browser_ocpp.server.transport import WebSocketTransport

from ..peer.conftest import collect, expect, wait
from .conftest import BOOT16, BOOT_OK, ClientFactory, ServerFactory
from .test_static import http_get

BOOT201 = {"chargingStation": {"vendorName": "ACME", "model": "One"}, "reason": "PowerUp"}


class Scrape:
    """One /metrics answer, parsed by prometheus_client."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: list[tuple[str, dict[str, str], float]] = [
            (sample.name, dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float | None:
        """The sample ``name`` with exactly ``labels``, or None."""
        for found, found_labels, value in self.samples:
            if found == name and found_labels == labels:
                return value
        return None

    def labelled(self, name: str) -> list[dict[str, str]]:
        return [labels for found, labels, _ in self.samples if found == name]


async def scrape(server: OCPPServer) -> Scrape:
    status, headers, body = await http_get(server.port, "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape(body.decode())


def bucket(result: Scrape, name: str, action: str, le: str) -> float | None:
    return result.value(f"{name}_bucket", action=action, le=le)


async def test_heartbeats_are_counted_with_their_handler_time(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(setup=False, health_endpoint=True)

    @server.on("client")
    def setup(client: OCPPServerClient) -> None:
        client.handle("Heartbeat", lambda ctx: {"currentTime": "2024-01-01T00:00:00Z"})

        @client.handle("BootNotification")
        async def slow_boot(ctx: Any) -> dict[str, Any]:
            await asyncio.sleep(0.03)
            return BOOT_OK

    client = make_client(server)
    await wait(client.connect())
    for _ in range(3):
        await wait(client.call("Heartbeat", {}))
    await wait(client.call("BootNotification", BOOT16))
    result = await scrape(server)
    name = "ocpp_inbound_call_duration_seconds"
    assert result.value("ocpp_inbound_calls_total", action="Heartbeat", outcome="ok") == 3
    assert result.value(f"{name}_count", action="Heartbeat") == 3
    assert bucket(result, name, "Heartbeat", "+Inf") == 3
    assert 0 < (result.value(f"{name}_sum", action="Heartbeat") or 0) < 0.5
    # The async handler's 30 ms are in its histogram: above 25 ms, below 5 s.
    assert result.value("ocpp_inbound_calls_total", action="BootNotification", outcome="ok") == 1
    assert bucket(result, name, "BootNotification", "0.025") == 0
    assert bucket(result, name, "BootNotification", "5.0") == 1
    assert (result.value(f"{name}_sum", action="BootNotification") or 0) >= 0.03
    buckets = [
        value
        for found, labels, value in result.samples
        if found == f"{name}_bucket" and labels["action"] == "Heartbeat"
    ]
    assert buckets == sorted(buckets) and len(buckets) == len(metrics_module.LATENCY_BUCKETS) + 1


async def test_inbound_errors_are_counted_by_code(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(setup=False, health_endpoint=True)

    @server.on("client")
    def setup(client: OCPPServerClient) -> None:
        client.handle("Heartbeat", lambda ctx: 1 / 0)
        client.handle("StatusNotification", lambda ctx: NOREPLY)

    client = make_client(server)
    await wait(client.connect())
    with pytest.raises(RPCNotSupportedError):
        await wait(client.call("Authorize", {"idTag": "TAG"}))
    with pytest.raises(RPCNotImplementedError):
        await wait(client.call("VendorThing", {}))
    for _ in range(2):
        with pytest.raises(Exception, match="internal error"):
            await wait(client.call("Heartbeat", {}))
    with pytest.raises(CallTimeoutError):
        await wait(client.call("StatusNotification", {}, timeout_ms=50))
    result = await scrape(server)
    calls = "ocpp_inbound_calls_total"
    assert result.value(calls, action="Authorize", outcome="NotSupported") == 1
    assert result.value(calls, action="VendorThing", outcome="NotImplemented") == 1
    assert result.value(calls, action="Heartbeat", outcome="InternalError") == 2
    assert result.value(calls, action="StatusNotification", outcome="ok") == 1  # NOREPLY
    assert result.value("ocpp_inbound_call_duration_seconds_count", action="Heartbeat") == 2


async def test_outbound_calls_by_outcome_with_their_round_trip(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(health_endpoint=True)
    client = make_client(server)

    @client.handle("Reset")
    async def reset(ctx: Any) -> dict[str, Any]:
        await asyncio.sleep(0.03)
        return {"status": "Accepted"}

    client.handle("ClearCache", lambda ctx: NOREPLY)
    client.handle("DataTransfer", lambda ctx: (_ for _ in ()).throw(RPCGenericError("no")))
    connected = expect(server, "client")
    await wait(client.connect())
    station = await wait(connected)
    for _ in range(2):
        assert await wait(station.call("Reset", {"type": "Soft"})) == {"status": "Accepted"}
    with pytest.raises(RPCNotSupportedError):
        await wait(station.call("UnlockConnector", {"connectorId": 1}))
    with pytest.raises(RPCGenericError):
        await wait(station.call("DataTransfer", {"vendorId": "ACME"}))
    with pytest.raises(CallTimeoutError):
        await wait(station.call("ClearCache", {}, timeout_ms=50))
    pending = asyncio.ensure_future(station.call("ClearCache", {}))
    await asyncio.sleep(0.05)
    await client.close(force=True)
    with pytest.raises(ConnectionClosedError):
        await wait(pending)
    result = await scrape(server)
    calls = "ocpp_outbound_calls_total"
    assert result.value(calls, action="Reset", outcome="ok") == 2
    assert result.value(calls, action="UnlockConnector", outcome="NotSupported") == 1
    assert result.value(calls, action="DataTransfer", outcome="GenericError") == 1
    assert result.value(calls, action="ClearCache", outcome="timeout") == 1
    assert result.value(calls, action="ClearCache", outcome="closed") == 1
    name = "ocpp_outbound_call_duration_seconds"
    assert result.value(f"{name}_count", action="Reset") == 2
    assert bucket(result, name, "Reset", "0.025") == 0  # the station's 30 ms are in it
    assert (result.value(f"{name}_sum", action="Reset") or 0) >= 0.06
    assert (result.value(f"{name}_sum", action="ClearCache") or 0) >= 0.05  # the timeout
    assert result.value("ocpp_inbound_calls_total", action="Reset", outcome="ok") is None


async def test_connected_stations_by_protocol(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(protocols=["ocpp2.0.1", "ocpp1.6"], health_endpoint=True)
    result = await scrape(server)
    assert result.value("ocpp_connected_stations", protocol="ocpp2.0.1") == 0
    assert result.value("ocpp_connected_stations", protocol="ocpp1.6") == 0
    old = [make_client(server, identity=f"OLD-{i}") for i in range(2)]
    new = make_client(server, identity="NEW-1", protocols=["ocpp2.0.1"])
    for station in [*old, new]:
        await wait(station.connect())
    result = await scrape(server)
    assert result.value("ocpp_connected_stations", protocol="ocpp1.6") == 2
    assert result.value("ocpp_connected_stations", protocol="ocpp2.0.1") == 1
    gone = collect(server.clients["OLD-0"], "close")
    await wait(old[0].close())
    await gone.wait_len(1)
    result = await scrape(server)
    assert result.value("ocpp_connected_stations", protocol="ocpp1.6") == 1


async def test_bad_messages_are_counted_by_code(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(health_endpoint=True)
    client = make_client(server)
    connected = expect(server, "client")
    await wait(client.connect())
    station = await wait(connected)
    bad = collect(station, "bad_message")
    await wait(client.send_raw("not json"))
    await wait(client.send_raw("also not json"))
    await wait(client.send_raw('[3,"nobody-asked",{}]'))
    await bad.wait_len(3)
    result = await scrape(server)
    # The codes as answered on the wire (1.6's spelling here).
    assert result.value("ocpp_bad_messages_total", code="FormationViolation") == 2
    assert result.value("ocpp_bad_messages_total", code="GenericError") == 1


async def test_security_events_are_counted_by_type(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(health_endpoint=True)
    server.auth(lambda ctx: ctx.reject(401, "unknown station"))
    for identity in ("CP-1", "CP-2"):
        with pytest.raises(UnexpectedHttpResponse):
            await wait(make_client(server, identity=identity).connect())
    status, _, _ = await http_get(
        server.port,
        "/",
        {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"},
    )
    assert status == 400
    result = await scrape(server)
    assert result.value("ocpp_security_events_total", type="AUTH_FAILED") == 2
    assert result.value("ocpp_security_events_total", type="UPGRADE_ABORTED") == 1


async def test_rate_limited_messages_are_counted_by_action(make_server: ServerFactory) -> None:
    server = await make_server(health_endpoint=True)
    assert server.metrics is not None
    result = await scrape(server)
    assert result.labelled("ocpp_rate_limited_messages_total") == []
    for action in ("Heartbeat", "Heartbeat", "MeterValues"):
        server.metrics.record_rate_limited(action)
    result = await scrape(server)
    assert result.value("ocpp_rate_limited_messages_total", action="Heartbeat") == 2
    assert result.value("ocpp_rate_limited_messages_total", action="MeterValues") == 1


async def test_bytes_waiting_to_be_sent(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    server = await make_server(health_endpoint=True)
    client = make_client(server)
    connected = expect(server, "client")
    await wait(client.connect())
    station = await wait(connected)
    assert (await scrape(server)).value("ocpp_send_buffer_bytes") == 0
    cast(WebSocketTransport, client._transport).connection.transport.pause_reading()
    connection = station._connection
    assert connection is not None
    chunk = json.dumps([2, "x", "DataTransfer", {"vendorId": "v", "data": "x" * 60_000}])
    for _ in range(400):  # 24 MB: more than the kernel's buffers on both ends hold
        connection.write_text(chunk)
    waiting = (await scrape(server)).value("ocpp_send_buffer_bytes") or 0
    assert waiting > 1_000_000
    assert abs(waiting - server.stats()["web_sockets"]["buffered_amount"]) < 1_000_000


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="read from /proc")
async def test_process_memory(make_server: ServerFactory) -> None:
    server = await make_server(health_endpoint=True)
    result = await scrape(server)
    rss = result.value("process_resident_memory_bytes") or 0
    assert rss > 10_000_000
    assert abs(rss - server.stats()["memory_usage"]["rss"]) < 50_000_000
    assert (result.value("process_max_resident_memory_bytes") or 0) >= rss
    assert (result.value("process_cpu_seconds_total") or 0) > 0


async def test_health(make_server: ServerFactory, make_client: ClientFactory) -> None:
    server = await make_server(health_endpoint=True)
    await wait(make_client(server).connect())
    await asyncio.sleep(0.01)
    status, headers, body = await http_get(server.port, "/health")
    assert status == 200 and headers["content-type"] == "application/json"
    health = json.loads(body)
    assert health["status"] == "ok" and health["connected_stations"] == 1
    assert health["pid"] == os.getpid() and health["uptime_seconds"] > 0


async def test_openmetrics_when_asked_for(make_server: ServerFactory) -> None:
    server = await make_server(health_endpoint=True)
    accept = "application/openmetrics-text; version=1.0.0"
    status, headers, body = await http_get(server.port, "/metrics", {"Accept": accept})
    assert status == 200 and headers["content-type"].startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


async def test_two_servers_keep_their_own_metrics(
    make_server: ServerFactory, make_client: ClientFactory
) -> None:
    busy = await make_server(health_endpoint=True)
    quiet = await make_server(health_endpoint=True)
    client = make_client(busy)
    await wait(client.connect())
    await wait(client.call("Heartbeat", {}))
    assert (await scrape(busy)).value(
        "ocpp_inbound_calls_total", action="Heartbeat", outcome="ok"
    ) == 1
    result = await scrape(quiet)
    assert result.labelled("ocpp_inbound_calls_total") == []
    assert result.value("ocpp_connected_stations", protocol="ocpp1.6") == 0


async def test_made_up_action_names_cannot_grow_the_metrics(
    make_server: ServerFactory, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics_module, "MAX_OTHER_ACTIONS", 3)
    server = await make_server(health_endpoint=True)
    client = make_client(server)
    await wait(client.connect())
    for i in range(10):
        with pytest.raises(RPCNotImplementedError):
            await wait(client.call(f"Vendor{i}", {}))
    await wait(client.call("Heartbeat", {}))
    result = await scrape(server)
    actions = {labels["action"] for labels in result.labelled("ocpp_inbound_calls_total")}
    assert actions == {"Vendor0", "Vendor1", "Vendor2", "other", "Heartbeat"}
    assert result.value("ocpp_inbound_calls_total", action="other", outcome="NotImplemented") == 7


async def test_off_by_default(make_server: ServerFactory, make_client: ClientFactory) -> None:
    server = await make_server()
    assert server.metrics is None
    connected = expect(server, "client")
    await wait(make_client(server).connect())
    assert (await wait(connected))._observer is None
    status, _, _ = await http_get(server.port, "/metrics")
    assert status == 426  # no routes: websockets asks for an upgrade


async def test_health_endpoint_is_checked() -> None:
    with pytest.raises(TypeError, match="health_endpoint"):
        OCPPServer(health_endpoint="yes")


def test_a_missing_prometheus_client_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "browser_ocpp.server.metrics")
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails
    with pytest.raises(ImportError, match=r"browser-ocpp\[metrics\]"):
        OCPPServer(health_endpoint=True)
    OCPPServer()  # without it, nothing needs prometheus_client


def test_prometheus_client_is_loaded_only_for_health_endpoint() -> None:
    code = (
        "import sys, browser_ocpp\n"
        "from browser_ocpp import OCPPServer\n"
        "OCPPServer()\n"
        "assert 'prometheus_client' not in sys.modules, 'loaded without health_endpoint'\n"
        "OCPPServer(health_endpoint=True)\n"
        "assert 'prometheus_client' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
