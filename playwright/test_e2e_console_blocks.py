"""The console shows what the CSMS's station-block commands did (issue 15), in real
Chromium against the demo CSMS it is served with, the commands sent through the
operator API with its own templates: a charging limit and the power under it, a
reservation, a display message, a firmware update and the reboot into its version."""

from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from conftest import Console, connect, open_console, own_runtime
from playwright.sync_api import BrowserContext, Page, expect

pytestmark = pytest.mark.timeout(480)
SHOTS = Path(os.environ.get("BROWSER_OCPP_SHOTS", "/tmp/browser-ocpp-shots"))


@pytest.fixture(scope="module")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return own_runtime(tmp_path_factory)


def api(console: Console, path: str, **query: str) -> Any:
    """The operator API as the operator view calls it (its header, no other origin)."""
    request = urllib.request.Request(
        f"{console.url}{path}?{urlencode(query)}", headers={"X-OCPP-Operator": "1"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def template(console: Console, protocol: str, action: str) -> dict[str, Any]:
    listed = api(console, "/api/commands")[protocol]
    return dict(next(c["template"] for c in listed if c["action"] == action))


def command(console: Console, identity: str, action: str, params: dict[str, Any]) -> Any:
    answer = api(
        console, "/api/command", identity=identity, action=action, params=json.dumps(params)
    )
    assert answer["ok"], answer
    return answer["result"]


def power_kw(page: Page, n: int) -> float:
    return float(page.get_by_test_id(f"power-{n}").inner_text())


def shoot(page: Page, name: str) -> None:
    """The page at 1280x800 and at 400 px wide (full length), to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=str(SHOTS / f"{name}-1280.png"))
    page.set_viewport_size({"width": 400, "height": 800})
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"{name}-400.png"), full_page=True)
    for area in ("connectors", "blocks"):
        card = page.locator(f".area-{area}")
        card.screenshot(path=str(SHOTS / f"{name}-400-{area}.png"))
    page.set_viewport_size({"width": 1280, "height": 800})


def test_the_console_shows_what_the_csms_did_on_2_0_1(
    context: BrowserContext, console: Console
) -> None:
    identity, protocol = "CP-BLOCKS-2", "ocpp2.0.1"
    page = open_console(context, console, identity)
    page.get_by_test_id("version").select_option(protocol)
    connect(page)
    blocks = page.get_by_test_id("blocks")
    expect(blocks.get_by_test_id("blocks-profiles")).to_have_text("None installed")
    expect(page.get_by_test_id("limit-1")).to_have_text("11.00 kW · 15.9 A · hardware")
    page.get_by_test_id("plug-1").click()
    page.get_by_test_id("start-1").click()
    expect(page.get_by_test_id("status-1")).to_have_text("Charging", timeout=20_000)
    page.wait_for_function(
        "parseFloat(document.querySelector('[data-testid=power-1]').textContent) > 10"
    )

    # SetChargingProfile: the template's TxDefaultProfile of 10 A (6.9 kW) on EVSE 1.
    profile = template(console, protocol, "SetChargingProfile")
    assert command(console, identity, "SetChargingProfile", profile)["status"] == "Accepted"
    expect(page.get_by_test_id("limit-1")).to_have_text("6.90 kW · 10.0 A · TxDefault")
    page.wait_for_function(
        "parseFloat(document.querySelector('[data-testid=power-1]').textContent) <= 6.9"
    )
    assert 0 < power_kw(page, 1) <= 6.9
    row = blocks.get_by_test_id("blocks-profile-1")
    expect(row).to_contain_text("TxDefaultProfile")
    expect(row).to_contain_text("10 A")

    # ReserveNow on the free EVSE 2: Reserved, with the idTag and the time left.
    reserve = {**template(console, protocol, "ReserveNow"), "evseId": 2}
    assert command(console, identity, "ReserveNow", reserve)["status"] == "Accepted"
    expect(page.get_by_test_id("status-2")).to_have_text("Reserved")
    expect(page.get_by_test_id("connector-2")).to_have_attribute("data-status", "Reserved")
    badge = page.get_by_test_id("reservation-2")
    expect(badge).to_have_text(re.compile(r"^Reserved #1 for TAG-0001 · (1:00:00|59:\d\d)$"))
    first = badge.inner_text()
    expect(badge).not_to_have_text(first, timeout=5_000)  # it counts down
    expect(page.get_by_test_id("reservation-1")).to_be_hidden()

    # SetDisplayMessage: the message, its priority and state.
    message = template(console, protocol, "SetDisplayMessage")
    assert command(console, identity, "SetDisplayMessage", message)["status"] == "Accepted"
    shown = blocks.get_by_test_id("blocks-message-1")
    expect(shown).to_contain_text("Welcome! Charging at up to 10 A")
    expect(shown).to_contain_text("NormalCycle")
    expect(shown).to_have_attribute("data-shown", "true")
    shoot(page, "console-blocks-2")

    # UpdateFirmware: the status goes by, the station reboots into the next version.
    firmware = blocks.get_by_test_id("blocks-firmware")
    expect(firmware).to_have_text("1.0.0")
    update = template(console, protocol, "UpdateFirmware")
    assert command(console, identity, "UpdateFirmware", update)["status"] == "Accepted"
    expect(firmware).to_have_text("1.0.1 · update Installed", timeout=60_000)
    expect(page.get_by_test_id("boot-status")).to_have_text("Accepted", timeout=20_000)
    expect(page.get_by_test_id("conn-state")).to_have_text(re.compile("^open"), timeout=20_000)
    boot = console.station(identity)["boot"]
    assert "1.0.1" in json.dumps(boot)  # the CSMS got the new version at the new boot


def test_the_console_shows_what_the_csms_did_on_1_6(
    context: BrowserContext, console: Console
) -> None:
    identity, protocol = "CP-BLOCKS-16", "ocpp1.6"
    page = open_console(context, console, identity)
    page.get_by_test_id("version").select_option(protocol)
    connect(page)
    blocks = page.get_by_test_id("blocks")
    expect(blocks).to_contain_text("Not in OCPP 1.6")  # display messages
    page.get_by_test_id("plug-1").click()
    page.get_by_test_id("start-1").click()
    expect(page.get_by_test_id("status-1")).to_have_text("Charging", timeout=20_000)

    profile = template(console, protocol, "SetChargingProfile")
    assert command(console, identity, "SetChargingProfile", profile)["status"] == "Accepted"
    expect(page.get_by_test_id("limit-1")).to_have_text("6.90 kW · 10.0 A · TxDefault")
    page.wait_for_function(
        "parseFloat(document.querySelector('[data-testid=power-1]').textContent) <= 6.9"
    )
    expect(page.get_by_test_id("limit-2")).to_have_text("11.00 kW · 15.9 A · hardware")  # 1's only

    reserve = {**template(console, protocol, "ReserveNow"), "connectorId": 2}
    assert command(console, identity, "ReserveNow", reserve)["status"] == "Accepted"
    expect(page.get_by_test_id("status-2")).to_have_text("Reserved")
    expect(page.get_by_test_id("reservation-2")).to_contain_text("Reserved #1 for TAG-0001")
    cancel = template(console, protocol, "CancelReservation")
    assert command(console, identity, "CancelReservation", cancel)["status"] == "Accepted"
    expect(page.get_by_test_id("status-2")).to_have_text("Available")
    expect(page.get_by_test_id("reservation-2")).to_be_hidden()

    local_list = template(console, protocol, "SendLocalList")
    assert command(console, identity, "SendLocalList", local_list)["status"] == "Accepted"
    expect(blocks.get_by_test_id("blocks-local-list")).to_have_text("version 1 · 2 entries")

    diagnostics = template(console, protocol, "GetDiagnostics")
    name = command(console, identity, "GetDiagnostics", diagnostics)["fileName"]
    log = blocks.get_by_test_id("blocks-log")
    expect(log).to_have_text(f"Uploaded · {name} · to {diagnostics['location']}", timeout=20_000)
    assert name in [u["name"] for u in api(console, "/api/uploads")["uploads"]]
    shoot(page, "console-blocks-16")

    # A limit of 0: the station stops offering power (SuspendedEVSE, styled as such).
    zero = template(console, protocol, "SetChargingProfile")
    zero["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] = 0
    assert command(console, identity, "SetChargingProfile", zero)["status"] == "Accepted"
    expect(page.get_by_test_id("status-1")).to_have_text("SuspendedEVSE")
    expect(page.get_by_test_id("limit-1")).to_have_text("0.00 kW · 0.0 A · TxDefault")
    expect(page.get_by_test_id("power-1")).to_have_text("0.00")
    expect(page.get_by_test_id("status-1")).to_have_css("color", "rgb(180, 83, 9)")  # --warn
