"""The demo CSMS's operator view in real Chromium; the stations are real OCPPClients
on loopback (the view needs no Pyodide, so neither do these tests)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import LoopThread, new_page, offline_route
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from browser_ocpp import OCPPClient, RPCNotSupportedError
from browser_ocpp.demo import ConsoleServer

SHOTS = Path("/tmp/operator-shots")
OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"


class Demo:
    """The console server (demo CSMS and operator view) and stations driven from here."""

    def __init__(self, loop: LoopThread, runtime: Path) -> None:
        self.loop = loop
        self.server = ConsoleServer(runtime)
        self.port = loop.run(self.server.listen(0))
        self.url = f"http://127.0.0.1:{self.port}"
        self.clients: dict[str, OCPPClient] = {}
        self.received: list[tuple[str, str, dict[str, Any]]] = []
        self.release = asyncio.Event()

    def connect(self, identity: str, protocol: str = "ocpp1.6") -> None:
        async def start() -> None:
            client = OCPPClient(
                identity=identity,
                endpoint=f"ws://127.0.0.1:{self.port}/ocpp",
                protocols=[protocol],
                reconnect=False,
            )

            def record(action: str, answer: dict[str, Any]) -> Any:
                def handler(ctx: Any) -> dict[str, Any]:
                    self.received.append((identity, action, ctx.params))
                    return answer

                return handler

            def refuse(ctx: Any) -> dict[str, Any]:
                raise RPCNotSupportedError("no resets today", {"why": "maintenance"})

            async def hang(ctx: Any) -> dict[str, Any]:
                await self.release.wait()
                return {}

            client.handle(
                "ChangeConfiguration", record("ChangeConfiguration", {"status": "Accepted"})
            )
            # One result at least: the demo CSMS refuses an answer its schema does not allow.
            accepted = {
                "attributeStatus": "Accepted",
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
            }
            client.handle("SetVariables", record("SetVariables", {"setVariableResult": [accepted]}))
            client.handle("ClearCache", record("ClearCache", {"status": "Accepted"}))
            client.handle("Reset", refuse)
            client.handle("GetLocalListVersion", hang)
            await client.connect()
            self.clients[identity] = client

        self.loop.run(start())

    def charge(self, identity: str) -> None:
        """A 1.6 station's boot, a connector charging and a transaction started."""

        async def calls(client: OCPPClient) -> None:
            await client.call(
                "BootNotification", {"chargePointVendor": "ACME", "chargePointModel": "One"}
            )
            status = {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
            await client.call("StatusNotification", status)
            start = {
                "connectorId": 1,
                "idTag": "TAG-1",
                "meterStart": 0,
                "timestamp": "2024-01-01T00:00:00Z",
            }
            await client.call("StartTransaction", start)

        self.loop.run(calls(self.clients[identity]))

    def drop(self, identity: str) -> None:
        self.loop.run(self.clients.pop(identity).close(1000, "bye"))

    def close(self) -> None:
        self.loop.call(self.release.set)
        for identity in list(self.clients):
            self.drop(identity)
        self.loop.run(self.server.close())


@pytest.fixture
def demo(loop_thread: LoopThread, tmp_path: Path) -> Iterator[Demo]:
    for folder in ("pyodide", "pyscript"):
        (tmp_path / folder).mkdir()
    server = Demo(loop_thread, tmp_path)  # the view needs no runtime
    yield server
    server.close()


def open_operator(context: BrowserContext, demo: Demo) -> Page:
    return new_page(context, demo.url + "/csms/")


def row(page: Page, identity: str) -> Any:
    return page.get_by_test_id(f"op-station-{identity}")


def wait_connected(page: Page, identity: str, connected: bool = True) -> None:
    dot = row(page, identity).locator(".dot.on" if connected else ".dot.off")
    expect(dot).to_be_visible(timeout=10_000)


def test_the_target_and_an_edited_payload_survive_a_drop_and_return(
    context: BrowserContext, demo: Demo
) -> None:
    demo.connect("CP-A")
    demo.connect("CP-B")
    page = open_operator(context, demo)
    wait_connected(page, "CP-A")
    wait_connected(page, "CP-B")
    page.get_by_test_id("op-identity").select_option("CP-B")
    page.get_by_test_id("op-action").select_option("ChangeConfiguration")
    edited = {"key": "MeterValueSampleInterval", "value": "5"}
    page.get_by_test_id("op-params").fill(json.dumps(edited))
    demo.drop("CP-B")
    wait_connected(page, "CP-B", connected=False)
    demo.connect("CP-C")  # the list changes while CP-B is away
    wait_connected(page, "CP-C")
    demo.connect("CP-B")
    wait_connected(page, "CP-B")
    assert page.get_by_test_id("op-identity").input_value() == "CP-B"
    assert page.get_by_test_id("op-action").input_value() == "ChangeConfiguration"
    assert json.loads(page.get_by_test_id("op-params").input_value()) == edited
    page.get_by_test_id("op-send").click()
    entry = page.get_by_test_id("op-history-entry").first
    expect(entry).to_have_attribute("data-state", "ok", timeout=10_000)
    assert demo.loop.call(lambda: list(demo.received)) == [("CP-B", "ChangeConfiguration", edited)]
    # Picking another action fills its template; asking for it restores it too.
    page.get_by_test_id("op-action").select_option("ClearCache")
    assert json.loads(page.get_by_test_id("op-params").input_value()) == {}
    page.get_by_test_id("op-params").fill('{"x": 1}')
    page.get_by_test_id("op-template").click()
    assert json.loads(page.get_by_test_id("op-params").input_value()) == {}


def test_a_history_of_calls_and_answers_newest_first_and_clearable(
    context: BrowserContext, demo: Demo
) -> None:
    demo.connect("CP-H")
    page = open_operator(context, demo)
    wait_connected(page, "CP-H")
    page.get_by_test_id("op-identity").select_option("CP-H")
    entries = page.get_by_test_id("op-history-entry")
    page.get_by_test_id("op-action").select_option("ClearCache")
    page.get_by_test_id("op-send").click()
    expect(entries.first).to_have_attribute("data-state", "ok", timeout=10_000)
    page.get_by_test_id("op-action").select_option("Reset")
    page.get_by_test_id("op-send").click()
    expect(entries).to_have_count(2, timeout=10_000)
    expect(entries.first).to_have_attribute("data-state", "callerror", timeout=10_000)
    newest, oldest = entries.nth(0), entries.nth(1)
    # The CALLERROR says what the station said: code, description, details.
    for text in ("Reset", "CP-H", "NotSupported", "no resets today", "maintenance", '"Soft"'):
        expect(newest).to_contain_text(text)
    for text in ("ClearCache", "CP-H", '"Accepted"'):
        expect(oldest).to_contain_text(text)
    assert newest.get_attribute("data-action") == "Reset"
    assert oldest.get_attribute("data-action") == "ClearCache"
    expect(newest.locator("time")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))
    # Reuse puts an entry back in the form.
    page.get_by_test_id("op-params").fill('{"edited": true}')
    oldest.get_by_role("button", name="Reuse").click()
    assert page.get_by_test_id("op-action").input_value() == "ClearCache"
    assert json.loads(page.get_by_test_id("op-params").input_value()) == {}
    # It survives a reload, and is cleared on request.
    page.reload()
    expect(entries).to_have_count(2, timeout=10_000)
    page.get_by_test_id("op-history-clear").click()
    expect(entries).to_have_count(0)
    page.reload()
    wait_connected(page, "CP-H")
    expect(entries).to_have_count(0)


def test_a_timeout_and_a_station_that_left_are_told_apart(
    context: BrowserContext, demo: Demo
) -> None:
    demo.connect("CP-T")
    page = open_operator(context, demo)
    wait_connected(page, "CP-T")
    page.get_by_test_id("op-identity").select_option("CP-T")
    page.get_by_test_id("op-action").select_option("GetLocalListVersion")
    page.get_by_test_id("op-timeout").select_option("1000")
    page.get_by_test_id("op-send").click()
    newest = page.get_by_test_id("op-history-entry").first
    expect(newest).to_have_attribute("data-state", "timeout", timeout=20_000)
    expect(newest).to_contain_text("Timeout")
    demo.drop("CP-T")
    wait_connected(page, "CP-T", connected=False)
    expect(page.get_by_test_id("op-send")).to_be_disabled()
    expect(page.get_by_test_id("op-target-note")).to_contain_text("disconnected")


def test_disconnected_stations_show_as_such_can_be_forgotten_and_come_back_in_place(
    context: BrowserContext, demo: Demo
) -> None:
    demo.connect("CP-1")
    demo.connect("CP-2")
    page = open_operator(context, demo)
    wait_connected(page, "CP-1")
    wait_connected(page, "CP-2")
    demo.drop("CP-1")
    wait_connected(page, "CP-1", connected=False)
    expect(row(page, "CP-1")).to_contain_text("disconnected")
    expect(row(page, "CP-1")).to_have_attribute("data-connected", "false")
    demo.connect("CP-1")
    wait_connected(page, "CP-1")
    expect(page.locator("[data-testid=op-station-CP-1]")).to_have_count(1)  # the same entry
    expect(page.get_by_test_id("op-forget-CP-1")).to_have_count(0)  # connected: nothing to forget
    demo.drop("CP-2")
    wait_connected(page, "CP-2", connected=False)
    page.get_by_test_id("op-forget-CP-2").click()
    expect(row(page, "CP-2")).to_have_count(0, timeout=10_000)
    assert [s["identity"] for s in demo.loop.call(demo.server.csms.snapshot)] == ["CP-1"]


def test_the_command_list_follows_the_stations_version(context: BrowserContext, demo: Demo) -> None:
    demo.connect("CP-16", "ocpp1.6")
    demo.connect("CP-21", "ocpp2.1")
    page = open_operator(context, demo)
    wait_connected(page, "CP-16")
    wait_connected(page, "CP-21")
    actions = page.get_by_test_id("op-action")
    page.get_by_test_id("op-identity").select_option("CP-21")
    expect(actions.locator("option[value=SetVariables]")).to_have_count(1)
    expect(actions.locator("option[value=RequestBatterySwap]")).to_have_count(1)
    expect(actions.locator("option[value=GetConfiguration]")).to_have_count(0)
    expect(actions.locator("option[value=BootNotification]")).to_have_count(0)
    actions.select_option("SetVariables")
    payload = json.loads(page.get_by_test_id("op-params").input_value())
    assert payload["setVariableData"][0]["variable"]["name"] == "HeartbeatInterval"
    page.get_by_test_id("op-send").click()
    newest = page.get_by_test_id("op-history-entry").first
    expect(newest).to_have_attribute("data-state", "ok", timeout=10_000)
    row(page, "CP-16").click()  # a station's row picks it too
    expect(page.get_by_test_id("op-identity")).to_have_value("CP-16")
    expect(actions.locator("option[value=GetConfiguration]")).to_have_count(1)
    expect(actions.locator("option[value=SetVariables]")).to_have_count(0)
    assert actions.input_value() == "Reset"  # SetVariables is no 1.6 command
    assert json.loads(page.get_by_test_id("op-params").input_value()) == {"type": "Soft"}


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (400, 800)])
def test_the_view_fits_the_window(
    browser: Browser, demo: Demo, offline_guard: list[str], width: int, height: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        context.route("**/*", offline_route(offline_guard))
        demo.connect("CP-A-STATION-WITH-A-RATHER-LONG-IDENTITY-0001")
        demo.charge("CP-A-STATION-WITH-A-RATHER-LONG-IDENTITY-0001")
        demo.connect("CP-SHORT", "ocpp2.0.1")
        page = open_operator(context, demo)
        wait_connected(page, "CP-SHORT")
        # Nothing may be wider than the window: a narrow screen scrolls down, never sideways.
        assert page.evaluate(OVERFLOW) <= 0
        page.get_by_test_id("op-identity").select_option("CP-SHORT")
        page.get_by_test_id("op-action").select_option("SetVariables")
        page.get_by_test_id("op-send").click()
        newest = page.get_by_test_id("op-history-entry").first
        expect(newest).to_have_attribute("data-state", "ok", timeout=10_000)
        assert page.evaluate(OVERFLOW) <= 0
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"operator-{width}.png"), full_page=True)
    finally:
        context.close()


def test_a_csms_that_went_away_is_said_and_what_it_said_last_is_kept(
    context: BrowserContext, demo: Demo
) -> None:
    demo.connect("CP-Z")
    page = open_operator(context, demo)
    wait_connected(page, "CP-Z")
    page.get_by_test_id("op-identity").select_option("CP-Z")
    page.get_by_test_id("op-action").select_option("ClearCache")
    demo.loop.run(demo.server.close())
    expect(page.get_by_test_id("op-banner")).to_contain_text("not reachable", timeout=10_000)
    expect(row(page, "CP-Z")).to_be_visible()
    page.get_by_test_id("op-send").click()
    newest = page.get_by_test_id("op-history-entry").first
    expect(newest).to_have_attribute("data-state", "error", timeout=10_000)
    expect(newest).to_contain_text("CSMS unreachable")


def test_a_template_with_a_time_is_made_when_asked_for(context: BrowserContext, demo: Demo) -> None:
    """The list the page loaded may be old by the time the operator picks ReserveNow:
    asking for the template fetches it anew, so the reservation ends in the future."""
    demo.connect("CP-16")
    stale = "2020-01-01T00:00:00Z"
    served: list[str] = []

    def first_one_stale(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        if not served:
            for entry in body["ocpp1.6"]:
                if entry["action"] == "ReserveNow":
                    entry["template"]["expiryDate"] = stale
        served.append(route.request.url)
        route.fulfill(response=response, json=body)

    page = context.new_page()
    page.route("**/api/commands", first_one_stale)
    page.goto(demo.url + "/csms/")
    wait_connected(page, "CP-16")
    page.get_by_test_id("op-action").select_option("ReserveNow")
    params = page.get_by_test_id("op-params")
    expect(params).not_to_have_value(re.compile(stale), timeout=10_000)
    expiry = datetime.fromisoformat(json.loads(params.input_value())["expiryDate"])
    assert expiry > datetime.now(UTC) and len(served) >= 2
