"""The console as a station a CSMS tester can trust (issue 13), in real Chromium against
the demo CSMS it is served with: one identity per tab, a reload mid-transaction ends
it with PowerLoss, the form says what is wrong in one place, "Reconnect now", toasts,
the offline switch and the faults panel."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import OPEN, Console, connect, open_console, own_runtime, wait_ready
from playwright.sync_api import BrowserContext, Dialog, expect

pytestmark = pytest.mark.timeout(480)  # some tests load the console twice on a busy machine


@pytest.fixture(scope="module")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return own_runtime(tmp_path_factory)


def events(console: Console, identity: str) -> list[str]:
    return list(console.station(identity)["events"])


def command(
    console: Console, identity: str, action: str, params: dict[str, Any], timeout_ms: int = 15_000
) -> Any:
    csms = console.server.csms
    return console.loop.run(csms.command(identity, action, params, timeout_ms))


def test_a_second_tab_gets_an_identity_of_its_own(
    context: BrowserContext, console: Console
) -> None:
    first = open_console(context, console, "CP-TAB")
    connect(first)
    # A duplicated tab starts with the original's sessionStorage, hence its identity.
    second = context.new_page()
    second.add_init_script("sessionStorage.setItem('browser-ocpp.console.identity', 'CP-TAB')")
    second.goto(console.url + "/")
    wait_ready(second)
    identity = second.get_by_test_id("identity")
    expect(identity).not_to_have_value("CP-TAB", timeout=10_000)
    expect(identity).not_to_have_value("")
    toast = second.get_by_test_id("toast").filter(has_text="CP-TAB is open in another tab")
    expect(toast).to_be_visible()
    expect(toast).to_have_attribute("role", "status")
    other = identity.input_value()
    connect(second)
    # Typing the first tab's identity is refused, not connected silently.
    second.get_by_test_id("disconnect").click()
    expect(second.get_by_test_id("conn-state")).to_have_text(re.compile("^closed"))
    identity.fill("CP-TAB")
    second.get_by_test_id("connect").click()
    expect(second.get_by_test_id("conn-error")).to_contain_text("in use in another tab")
    expect(second.get_by_test_id("conn-state")).to_have_text(re.compile("^closed"))
    # Neither replaced the other: the first is still on its first connection.
    expect(first.get_by_test_id("conn-state")).to_have_text(OPEN)
    assert console.station("CP-TAB")["connected"] is True
    assert console.station(other)["boot"] is not None
    assert not [e for e in events(console, "CP-TAB") if "disconnected" in e]
    assert first.get_by_test_id("activity").filter(has_text="Connection lost").count() == 0


# Holds this tab's identity claim (Web Locks) until the test lets it go.
GATED_LOCKS = """
const request = navigator.locks.request.bind(navigator.locks);
let open;
window.claimGate = new Promise((resolve) => { open = resolve; });
window.openClaims = () => open();
navigator.locks.request = (...args) => window.claimGate.then(() => request(...args));
"""


def test_an_identity_typed_while_the_tab_claims_its_own_is_kept(
    context: BrowserContext, console: Console
) -> None:
    page = context.new_page()
    page.add_init_script(GATED_LOCKS)
    page.goto(console.url + "/")
    wait_ready(page)
    identity = page.get_by_test_id("identity")
    identity.fill("CP-TYPED")
    page.evaluate("window.openClaims()")  # the tab's own claim settles after the typing
    connect(page)
    expect(identity).to_have_value("CP-TYPED")
    assert console.station("CP-TYPED")["connected"] is True


@pytest.mark.parametrize("version", ["ocpp1.6", "ocpp2.0.1"])
def test_a_reload_mid_transaction_asks_first_then_ends_it_with_power_loss(
    context: BrowserContext, console: Console, version: str
) -> None:
    identity = f"CP-LOSS-{version[-3:]}"
    page = open_console(context, console, identity)
    page.get_by_test_id("version").select_option(version)
    connect(page)
    page.get_by_test_id("plug-1").click()
    page.get_by_test_id("start-1").click()
    expect(page.get_by_test_id("status-1")).to_have_text("Charging", timeout=20_000)
    (transaction,) = console.station(identity)["transactions"]
    assert transaction["stopped"] is None
    dialogs: list[str] = []

    def leave(dialog: Dialog) -> None:
        dialogs.append(dialog.type)
        dialog.accept()

    page.on("dialog", leave)
    page.reload()
    assert dialogs == ["beforeunload"]  # "leave the page?" while a transaction runs
    wait_ready(page)
    assert page.get_by_test_id("identity").input_value() == identity  # the tab's own
    connect(page)
    row = page.get_by_test_id("activity").get_by_text("ended at the CSMS (PowerLoss)")
    expect(row).to_be_visible(timeout=20_000)
    (transaction,) = console.station(identity)["transactions"]
    assert transaction["stopped"] is not None
    assert any("PowerLoss" in event for event in events(console, identity))
    page.remove_listener("dialog", leave)


CLICK_WHEN_BUSY = """() => new Promise((resolve) => {
  const card = document.querySelector('[data-testid="connector-1"]');
  const watch = new MutationObserver(() => {
    if (card.dataset.busy !== "true") return;
    watch.disconnect();
    const start = document.querySelector('[data-testid="start-1"]');
    resolve(start.disabled);
    start.click();
  });
  watch.observe(card, {attributes: true, attributeFilter: ["data-busy"]});
  document.querySelector('[data-testid="plug-1"]').click();
})"""
"""Click Plug in, then Start as soon as the page shows the connector busy (the plug
still under way in the worker); whether Start was disabled then."""


def test_a_click_while_the_connector_is_busy_is_carried_out_after(
    context: BrowserContext, console: Console
) -> None:
    page = open_console(context, console, "CP-BUSY")
    connect(page)
    assert page.evaluate(CLICK_WHEN_BUSY) is False  # not dropped by the browser
    expect(page.get_by_test_id("status-1")).to_have_text("Charging", timeout=20_000)
    out = page.locator("[data-testid=log-row][data-direction=out]")
    actions = [out.nth(i).get_attribute("data-action") for i in range(out.count())]
    assert actions.index("Authorize") > actions.index("StatusNotification")


def test_the_form_says_what_is_wrong_once_and_forgets_it_when_fixed(
    context: BrowserContext, console: Console
) -> None:
    page = open_console(context, console, "CP-FORM")
    endpoint = page.get_by_test_id("endpoint")
    good = endpoint.input_value()
    endpoint.fill(good + "?token=abc")
    expect(page.locator("#url-preview")).to_have_text(good + "/CP-FORM?token=abc")
    endpoint.fill("ws://127.0.0.1:99999/ocpp")
    page.get_by_test_id("connect").click()
    error = page.get_by_test_id("conn-error")
    expect(error).to_have_text("the endpoint's port must be a number from 1 to 65535")
    expect(endpoint).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("settings-error")).to_be_hidden()
    assert page.locator("[role=alert]:visible").count() == 1  # in one place
    endpoint.fill(good)
    expect(error).to_be_hidden()  # fixed: gone without another Connect
    assert endpoint.get_attribute("aria-invalid") is None
    page.get_by_test_id("connectors").fill("0")
    page.get_by_test_id("connect").click()
    expect(page.get_by_test_id("settings-error")).to_contain_text("connectors")
    page.get_by_test_id("connectors").fill("2")
    expect(page.get_by_test_id("settings-error")).to_be_hidden()
    connect(page)
    empty_text = "getComputedStyle(document.getElementById('log'), '::before').content"
    page.get_by_test_id("log-clear").click()
    page.wait_for_function(f"{empty_text}.includes('No frames yet')")
    page.get_by_test_id("log-filter-action").fill("NoSuchAction")
    page.wait_for_function(f"{empty_text}.includes('No frames match the filter')")
    assert "once you connect" not in page.evaluate(empty_text)


def test_reconnect_now_skips_a_long_backoff(context: BrowserContext, console: Console) -> None:
    page = open_console(context, console, "CP-NOW")
    page.get_by_test_id("backoff-min").fill("600000")
    page.get_by_test_id("backoff-max").fill("600000")
    connect(page)
    console.restart()
    button = page.get_by_test_id("reconnect-now")
    expect(button).to_have_text(re.compile(r"^Reconnect now \(\d+ s\)$"), timeout=30_000)
    expect(page.get_by_test_id("conn-state")).to_have_text(re.compile(r"^reconnecting"))
    button.click()
    expect(page.get_by_test_id("conn-state")).to_have_text(OPEN, timeout=30_000)
    expect(button).to_be_hidden()
    assert console.station("CP-NOW")["connected"] is True


def test_refusals_show_at_the_top_of_the_page(context: BrowserContext, console: Console) -> None:
    page = open_console(context, console, "CP-TOAST")
    connect(page)
    # The Meter button's reading is neither periodic nor clock-aligned, nor triggered by
    # the CSMS: its context is "Other" (1.6 ReadingContext).
    page.get_by_test_id("meter-1").click()
    meter = page.locator("[data-testid=log-row][data-action=MeterValues][data-direction=out]")
    expect(meter.first).to_contain_text('"context": "Other"', timeout=20_000)
    expect(meter.first).not_to_contain_text("Sample.Periodic")
    page.get_by_test_id("plug-1").click()
    page.get_by_test_id("connector-id-tag-1").fill("BLOCKED-7")
    page.get_by_test_id("start-1").click()
    toast = page.get_by_test_id("toast").filter(has_text="BLOCKED-7")
    expect(toast.first).to_be_visible(timeout=20_000)
    assert toast.first.bounding_box()["y"] < 200  # type: ignore[index]  # near the top
    answer = command(
        console,
        "CP-TOAST",
        "GetInstalledCertificateIds",
        {"certificateType": "CentralSystemRootCertificate"},
    )
    assert answer["ok"] is False and answer["kind"] == "callerror"
    unsupported = page.get_by_test_id("toast").filter(has_text="GetInstalledCertificateIds")
    expect(unsupported).to_be_visible(timeout=10_000)
    expect(unsupported).to_contain_text(answer["code"])


def test_offline_switch_queue_and_faults(context: BrowserContext, console: Console) -> None:
    page = open_console(context, console, "CP-FAULTS")
    page.get_by_test_id("meter-interval").fill("1")
    connect(page)
    # Faults: Reset refused with a chosen code, as written.
    page.locator("#faults-box > summary").click()
    page.get_by_test_id("fault-reject").select_option("SecurityError")
    page.get_by_test_id("fault-actions").fill("Reset")
    # The worker applies the panel a moment later; its summary says when it has.
    expect(page.get_by_test_id("faults-state")).to_contain_text("for Reset")
    answer = command(console, "CP-FAULTS", "Reset", {"type": "Soft"})
    assert (answer["ok"], answer.get("code")) == (False, "SecurityError")
    assert command(console, "CP-FAULTS", "ClearCache", {})["ok"] is True  # others answered
    page.get_by_test_id("fault-reject").select_option("")
    page.get_by_test_id("fault-actions").fill("")
    page.get_by_test_id("fault-delay").fill("60000")  # answers after the CSMS gave up
    expect(page.get_by_test_id("faults-state")).to_have_text("(answering 60 s late)")
    answer = command(console, "CP-FAULTS", "ClearCache", {}, timeout_ms=500)
    assert (answer["ok"], answer["kind"]) == (False, "timeout")
    page.get_by_test_id("fault-delay").fill("")
    expect(page.get_by_test_id("faults-state")).to_have_text("")
    # Offline: the connectors stay usable, the transaction messages wait in the queue.
    page.get_by_test_id("plug-1").click()
    page.get_by_test_id("start-1").click()
    expect(page.get_by_test_id("status-1")).to_have_text("Charging", timeout=20_000)
    page.get_by_test_id("offline").check()
    state = page.get_by_test_id("conn-state")
    expect(state).to_have_text("offline (network cut on purpose)", timeout=10_000)
    expect(page.get_by_test_id("stop-1")).to_be_enabled()
    page.get_by_test_id("stop-1").click()
    page.get_by_test_id("unplug-1").click()
    expect(page.get_by_test_id("queue-length")).not_to_have_text("Queue: 0", timeout=10_000)
    assert console.station("CP-FAULTS")["connected"] is False
    (transaction,) = console.station("CP-FAULTS")["transactions"]
    assert transaction["stopped"] is None  # the CSMS has not heard yet
    page.get_by_test_id("offline").uncheck()
    expect(state).to_have_text(OPEN, timeout=30_000)
    expect(page.get_by_test_id("queue-length")).to_have_text("Queue: 0", timeout=30_000)
    (transaction,) = console.station("CP-FAULTS")["transactions"]
    assert transaction["stopped"] is not None
    # A frame no station should send: the CSMS answers it with an error.
    page.get_by_test_id("fault-wrong-type").click()
    expect(page.get_by_test_id("activity")).to_contain_text("a message of type 7 sent")
    assert json.dumps(console.station("CP-FAULTS")["boot"]) != "null"
