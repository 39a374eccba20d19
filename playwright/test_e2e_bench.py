"""The test bench page (bench.html) in real Chromium against the demo CSMS it is
served with: a scenario runs to its verdicts, the conformance check fills its table,
a fleet of 20 stations boots from one tab; screenshots at 1280x800 and 400 px wide."""

from __future__ import annotations

import re
import urllib.request

from conftest import SCREENSHOTS, Console, new_page, wait_ready
from playwright.sync_api import BrowserContext, Page, expect

from browser_ocpp.scenario.conformance import cases_for

VERDICT = re.compile(r"^(pass|fail|inconclusive)$")


def open_bench(context: BrowserContext, console: Console, view: str) -> Page:
    page = new_page(context, f"{console.url}/bench.html#{view}")
    wait_ready(page)
    expect(page.get_by_test_id(f"view-{view}")).to_be_visible()
    expect(page.get_by_test_id("bench-csms")).to_have_value(f"ws://127.0.0.1:{console.port}/ocpp")
    return page


def shoot(page: Page, name: str) -> None:
    """Screenshots at 1280x800 and 400 px wide (the whole page), then back to 1280."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"bench-{name}-1280.png"))
    page.set_viewport_size({"width": 400, "height": 800})
    page.evaluate("window.scrollTo(0, 0)")  # a full-page shot of a scrolled page moves the bar
    page.screenshot(path=str(SCREENSHOTS / f"bench-{name}-400.png"), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the {name} view is {width} px wide at 400 px: it scrolls sideways"
    page.set_viewport_size({"width": 1280, "height": 800})


def test_a_scenario_runs_to_its_verdicts_step_by_step(
    context: BrowserContext, console: Console
) -> None:
    page = open_bench(context, console, "scenario")
    expect(page.get_by_test_id("scenario-editor")).to_have_value(re.compile("@scenario"))
    page.get_by_test_id("scenario-run").click()
    verdict = page.get_by_test_id("scenario-verdict")
    expect(verdict).to_have_text("pass", timeout=60_000)
    steps = page.locator("[data-testid=scenario-case] .step")
    expect(steps).to_have_count(4)
    for index in range(4):
        expect(steps.nth(index)).to_have_attribute("data-verdict", "pass")
    log = page.get_by_test_id("scenario-log")
    expect(log).to_contain_text("BENCH-SC -> CALL BootNotification")
    expect(log).to_contain_text("EXAMPLE-1: pass")
    expect(page.get_by_test_id("scenario-summary")).to_have_text(
        "1 pass, 0 fail, 0 inconclusive of 1"
    )
    assert console.station("BENCH-SC")["boot"] is not None  # the demo saw the station
    shoot(page, "scenario")

    # An idTag the demo refuses: the Authorize step fails, and with it the run.
    page.get_by_test_id("bench-idtag").fill("BLOCKED-7")
    page.get_by_test_id("scenario-run").click()
    expect(verdict).to_have_text("fail", timeout=60_000)
    expect(steps).to_have_count(3)
    expect(steps.nth(2)).to_have_attribute("data-verdict", "fail")
    expect(steps.nth(2)).to_contain_text("idTag refused")

    # Code that does not compile: the line is named, nothing runs.
    page.get_by_test_id("scenario-editor").fill("async def scenario_x(bench)\n    pass\n")
    page.get_by_test_id("scenario-run").click()
    expect(page.get_by_test_id("bench-error")).to_have_text(re.compile(r"^Line 1: "))
    expect(verdict).to_have_text("fail")  # the last run's verdict stays


def test_the_check_view_shows_the_pack_as_a_table_with_frames(
    context: BrowserContext, console: Console
) -> None:
    page = open_bench(context, console, "check")
    page.get_by_test_id("bench-protocol").select_option("ocpp2.0.1")
    page.get_by_test_id("check-timeout").fill("3")
    page.get_by_test_id("check-run").click()
    rows = page.get_by_test_id("check-row")
    expected = [case.id for case in cases_for("ocpp2.0.1")]
    expect(rows).to_have_count(len(expected))
    expect(page.get_by_test_id("check-verdict")).to_have_text(VERDICT, timeout=240_000)
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.case)") == expected
    verdicts = rows.evaluate_all("rows => rows.map(r => r.dataset.verdict)")
    assert set(verdicts) <= {"pass", "fail", "inconclusive"}, verdicts
    by_case = dict(zip(expected, verdicts, strict=True))
    assert by_case["BOOT-ACCEPTED"] == "pass"
    assert by_case["HEARTBEAT"] == "pass"
    assert by_case["CMD-RESET"] == "inconclusive"  # nobody told the demo to send one
    # The demo is strict: a malformed payload gets a CALLERROR. (Not every case: the
    # timing one, RPC-RESPONSE-TIME, may fail on a loaded machine.)
    assert by_case["RPC-MISSING-FIELD"] == "pass"
    assert by_case["RPC-WRONG-TYPE"] == "pass"
    # A dropped connection is over once dropped: the reconnect's calls are answered.
    assert by_case["RECONNECT"] == "pass"
    detail = page.get_by_test_id("check-detail")
    boot = page.locator("[data-testid=check-row][data-case=BOOT-ACCEPTED]")
    boot.click()
    expect(detail).to_have_count(1)
    expect(detail.locator(".frame").first).to_contain_text("CALL BootNotification")
    page.evaluate("window.scrollTo(0, document.querySelector('.tabs').offsetTop - 70)")
    shoot(page, "check")
    boot.click()
    expect(detail).to_have_count(0)

    missing = page.locator("[data-testid=check-row][data-case=RPC-MISSING-FIELD]")
    missing.click()
    expect(detail).to_have_count(1)
    expect(detail).to_contain_text("Frames that decided it")
    deciding = detail.get_by_test_id("deciding-frames").locator(".frame")
    expect(deciding).to_have_count(2)  # the CALL and what answered it
    expect(deciding.nth(0)).to_contain_text("CALL StatusNotification")
    expect(deciding.nth(1)).to_contain_text("CALLERROR")


def test_the_fleet_view_holds_twenty_stations_against_the_demo(
    context: BrowserContext, console: Console
) -> None:
    page = open_bench(context, console, "fleet")
    page.get_by_test_id("fleet-stations").fill("20")
    page.get_by_test_id("fleet-duration").fill("600")
    page.get_by_test_id("fleet-heartbeat").fill("2")
    page.get_by_test_id("fleet-meter").fill("1")
    page.get_by_test_id("fleet-start").click()
    expect(page.get_by_test_id("fleet-booted")).to_have_text("20 / 20", timeout=90_000)
    expect(page.get_by_test_id("fleet-connected")).to_have_text("20")
    table = page.get_by_test_id("fleet-table")
    for action in ("BootNotification", "Heartbeat", "StatusNotification", "StartTransaction"):
        expect(table.locator(f"tr[data-action={action}]")).to_be_visible(timeout=60_000)
    boot_calls = table.locator("tr[data-action=BootNotification] td").nth(1)
    expect(boot_calls).to_have_text("20")
    expect(page.locator("[data-testid=fleet-chart] polyline.c-p99")).not_to_have_count(0)
    expect(page.get_by_test_id("fleet-errors")).to_have_text("0")
    stations = console.loop.call(console.server.csms.snapshot)
    fleet = [s for s in stations if s["identity"].startswith("WEBFLEET-")]
    assert len(fleet) == 20 and all(s["connected"] for s in fleet)
    page.wait_for_function(  # a chart with some history to look at
        "parseFloat(document.getElementById('ff-elapsed').textContent) >= 20", timeout=90_000
    )
    page.evaluate("window.scrollTo(0, document.querySelector('.tabs').offsetTop - 70)")
    shoot(page, "fleet")

    page.get_by_test_id("fleet-stop").click()
    expect(page.get_by_test_id("fleet-state")).to_have_text(
        "finished: 20 of 20 booted", timeout=60_000
    )
    stations = console.loop.call(console.server.csms.snapshot)
    assert not any(s["connected"] for s in stations if s["identity"].startswith("WEBFLEET-"))


def test_the_console_and_the_operator_view_link_to_the_bench(console: Console) -> None:
    for path, link in (("/", 'href="./bench.html"'), ("/csms/", 'href="/bench.html"')):
        with urllib.request.urlopen(console.url + path, timeout=10) as answer:
            assert link in answer.read().decode("utf-8"), f"{path} has no link to the bench"
    with urllib.request.urlopen(console.url + "/bench.html", timeout=10) as answer:
        assert answer.status == 200
