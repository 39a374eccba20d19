"""The web console in real Chromium, against the demo CSMS it is served with."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    READY_MS,
    SCREENSHOTS,
    Console,
    connect,
    offline_route,
    open_console,
    wait_ready,
)
from playwright.sync_api import Browser, BrowserContext, expect


def _starts(prefix: str) -> Any:
    import re

    return re.compile("^" + re.escape(prefix))


def test_loads_with_progress_then_connects_and_boots(
    context: BrowserContext, console: Console
) -> None:
    page = context.new_page()
    page.goto(console.url + "/")
    progress = page.get_by_test_id("progress")
    expect(progress).to_be_visible(timeout=5_000)  # visible at once, not a blank page
    stages = [progress.text_content() or ""]
    page.wait_for_function(
        "document.querySelector('[data-testid=progress]').textContent !== " + json.dumps(stages[0]),
        timeout=READY_MS,
    )
    wait_ready(page)
    assert page.get_by_test_id("endpoint").input_value() == f"ws://127.0.0.1:{console.port}/ocpp"
    page.get_by_test_id("identity").fill("CP-BOOT")
    connect(page)
    rows = page.locator("[data-testid=log-row][data-action=BootNotification]")
    expect(rows).to_have_count(2, timeout=20_000)  # the CALL and its answer
    assert {rows.nth(i).get_attribute("data-direction") for i in range(rows.count())} == {
        "in",
        "out",
    }
    assert console.station("CP-BOOT")["boot"] is not None


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
def test_transaction_with_meter_values_reaches_the_csms(
    context: BrowserContext, console: Console, version: str
) -> None:
    identity = f"CP-TX-{version[-3:]}"
    page = open_console(context, console, identity)
    page.get_by_test_id("version").select_option(version)
    page.get_by_test_id("meter-interval").fill("1")
    connect(page)
    page.get_by_test_id("plug-1").click()
    page.get_by_test_id("start-1").click()
    expect(page.get_by_test_id("status-1")).to_have_text("Charging", timeout=20_000)
    action = "MeterValues" if version == "ocpp1.6" else "TransactionEvent"
    meter_rows = page.locator(f"[data-testid=log-row][data-action={action}][data-direction=out]")
    expect(meter_rows.nth(1)).to_be_attached(timeout=20_000)
    page.get_by_test_id("stop-1").click()
    expect(page.get_by_test_id("status-1")).not_to_have_text("Charging", timeout=20_000)
    record = console.station(identity)
    (transaction,) = record["transactions"]
    assert transaction["stopped"] is not None
    assert transaction["meter_values"] >= 1 and transaction["meter_wh"] is not None


def test_operator_view_drives_remote_start_and_reset(
    context: BrowserContext, console: Console
) -> None:
    page = open_console(context, console, "CP-OPS")
    connect(page)
    operator = context.new_page()
    operator.goto(console.url + "/csms/")
    expect(operator.get_by_test_id("op-station-CP-OPS")).to_be_visible(timeout=10_000)
    operator.get_by_test_id("op-identity").select_option("CP-OPS")
    operator.get_by_test_id("op-action").select_option("RemoteStartTransaction")
    operator.get_by_test_id("op-send").click()
    answer = operator.get_by_test_id("op-history-entry").first
    expect(answer).to_have_attribute("data-state", "ok", timeout=20_000)
    expect(answer).to_contain_text('"Accepted"')
    expect(page.get_by_test_id("status-1")).to_have_text("Charging", timeout=20_000)
    boots_before = page.locator(
        "[data-testid=log-row][data-action=BootNotification][data-direction=out]"
    ).count()
    operator.get_by_test_id("op-action").select_option("Reset")
    operator.get_by_test_id("op-send").click()
    expect(answer).to_have_attribute("data-action", "Reset")
    expect(answer).to_have_attribute("data-state", "ok", timeout=20_000)
    expect(answer).to_contain_text('"Accepted"')
    boots = page.locator("[data-testid=log-row][data-action=BootNotification][data-direction=out]")
    expect(boots.nth(boots_before)).to_be_attached(timeout=30_000)  # it rebooted
    expect(page.get_by_test_id("conn-state")).to_have_text(_starts("open"), timeout=30_000)
    assert any(
        "RemoteStartTransaction" in line or "Reset" in line
        for line in console.station("CP-OPS")["events"]
    )


def test_custom_call_shows_the_validation_error_next_to_the_field(
    context: BrowserContext, console: Console
) -> None:
    page = open_console(context, console, "CP-CUSTOM")
    connect(page)
    page.get_by_test_id("custom-action").select_option("BootNotification")
    editor = page.get_by_test_id("custom-payload")
    expect(editor).to_have_value(re.compile("chargePointModel"))  # filled in by the worker
    payload = json.loads(editor.input_value())
    assert set(payload) >= {"chargePointVendor", "chargePointModel"}  # pre-filled from the schema
    del payload["chargePointModel"]
    page.get_by_test_id("custom-payload").fill(json.dumps(payload))
    page.get_by_test_id("custom-send").click()
    expect(page.get_by_test_id("custom-error")).to_contain_text("chargePointModel", timeout=10_000)
    payload["chargePointModel"] = "Custom"
    page.get_by_test_id("custom-payload").fill(json.dumps(payload))
    page.get_by_test_id("custom-send").click()
    expect(page.get_by_test_id("custom-result")).to_contain_text("Accepted", timeout=10_000)


def test_python_runs_in_a_web_worker_of_an_isolated_page(
    context: BrowserContext, console: Console
) -> None:
    """Python never runs on the page's main thread (so it never blocks the page): it
    reaches the page from a worker, through SharedArrayBuffer (cross-origin isolation)."""
    page = open_console(context, console, "CP-WORKER")
    assert page.evaluate("crossOriginIsolated") is True
    assert page.evaluate("document.documentElement.dataset.python") == "worker"
    connect(page)  # and the station works from there


def test_the_message_log_exports_as_json(context: BrowserContext, console: Console) -> None:
    page = open_console(context, console, "CP-EXPORT")
    connect(page)
    with page.expect_download(timeout=20_000) as download:
        page.get_by_test_id("log-export").click()
    assert download.value.suggested_filename.startswith("ocpp-log-CP-EXPORT-")
    exported = json.loads(Path(download.value.path()).read_text())
    actions = {message.get("action") for message in exported["messages"]}
    assert "BootNotification" in actions and exported["identity"] == "CP-EXPORT"


def test_settings_survive_a_reload(context: BrowserContext, console: Console) -> None:
    page = open_console(context, console, "CP-KEEP")
    page.get_by_test_id("version").select_option("ocpp2.0.1")
    page.get_by_test_id("vendor").fill("Keepers")
    page.get_by_test_id("backoff-max").fill("7000")
    page.get_by_test_id("identity").press("Tab")
    page.reload()
    wait_ready(page)
    assert page.get_by_test_id("identity").input_value() == "CP-KEEP"
    assert page.get_by_test_id("version").input_value() == "ocpp2.0.1"
    assert page.get_by_test_id("vendor").input_value() == "Keepers"
    assert page.get_by_test_id("backoff-max").input_value() == "7000"


def test_reconnects_after_the_csms_restarts(context: BrowserContext, console: Console) -> None:
    page = open_console(context, console, "CP-AGAIN")
    page.get_by_test_id("backoff-min").fill("200")
    page.get_by_test_id("backoff-max").fill("1000")
    connect(page)
    console.restart()
    # Back on the network, not powered up again: no new BootNotification (OCPP-J
    # "Reconnecting"), and the restarted CSMS sees the station connect.
    state = page.get_by_test_id("conn-state")
    expect(state).to_have_text(_starts("reconnecting"), timeout=30_000)
    expect(state).to_have_text(_starts("open"), timeout=30_000)
    expect(page.get_by_test_id("boot-status")).to_have_text("Accepted")
    boots = page.locator("[data-testid=log-row][data-action=BootNotification][data-direction=out]")
    assert boots.count() == 1
    record = console.station("CP-AGAIN")
    assert record["connected"] is True and record["boot"] is None


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (400, 800)])
def test_layout_screenshots(
    browser: Browser, console: Console, offline_guard: list[str], width: int, height: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        context.route("**/*", offline_route(offline_guard))
        page = open_console(context, console, f"CP-SHOT-{width}")
        connect(page)
        page.get_by_test_id("plug-1").click()
        # Nothing may be wider than the window: a narrow screen scrolls down, never sideways.
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"console-{width}.png"), full_page=width < 800)
    finally:
        context.close()
