"""The console's custom call and message log against a CSMS of our own making: one that
answers with what no schema allows, and records every frame the station sends."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Console, LoopThread, connect, open_console
from playwright.sync_api import BrowserContext, Page, expect

from browser_ocpp import OCPPServer

NOW = "2024-01-01T00:00:00Z"


class OddCSMS:
    """Accepts boots; answers DataTransfer with a status no version has; keeps every
    text frame it receives."""

    def __init__(self, loop: LoopThread, protocol: str) -> None:
        self.loop, self.received = loop, []
        self.server = OCPPServer(protocols=[protocol], strict_mode=False)
        received: list[str] = self.received

        @self.server.on("client")
        def connected(client: Any) -> None:
            client.on("message", lambda event: event.outbound or received.append(event.message))
            client.handle(
                "BootNotification",
                lambda ctx: {"status": "Accepted", "currentTime": NOW, "interval": 300},
            )
            client.handle("StatusNotification", lambda ctx: {})
            client.handle("DataTransfer", lambda ctx: {"status": "Bogus"})

        self.port = loop.run(self.server.listen(0, "127.0.0.1"))
        self.url = f"ws://127.0.0.1:{self.port}"

    def frames_with(self, needle: str) -> list[str]:
        return self.loop.call(lambda: [text for text in self.received if needle in text])

    def close(self) -> None:
        self.loop.run(self.server.close())


def csms_for(loop: LoopThread, protocol: str) -> Iterator[OddCSMS]:
    csms = OddCSMS(loop, protocol)
    yield csms
    csms.close()


@pytest.fixture
def csms16(loop_thread: LoopThread) -> Iterator[OddCSMS]:
    yield from csms_for(loop_thread, "ocpp1.6")


def open_against(
    context: BrowserContext, console: Console, csms: OddCSMS, identity: str, *, strict: bool
) -> Page:
    page = open_console(context, console, identity)
    page.get_by_test_id("endpoint").fill(csms.url)
    page.get_by_test_id("version").select_option("ocpp1.6")
    page.get_by_test_id("strict").set_checked(strict)
    connect(page)
    return page


def choose(page: Page, action: str, *, raw: bool = False) -> None:
    """Choose ``action`` and wait for its template, which the worker fills in (also when
    it was chosen already: choosing dispatches ``change`` all the same)."""
    page.get_by_test_id("custom-payload").evaluate("editor => delete editor.dataset.filledFor")
    page.get_by_test_id("custom-action").select_option(action)
    wait_template(page, action, raw=raw)


def wait_template(page: Page, action: str, *, raw: bool = False) -> None:
    kind = "raw" if raw else "call"
    filled = re.compile(f"/{re.escape(action)}/{kind}$")
    editor = page.get_by_test_id("custom-payload")
    expect(editor).to_have_attribute("data-filled-for", filled, timeout=20_000)


def set_payload(page: Page, action: str, payload: Any) -> None:
    choose(page, action)
    text = payload if isinstance(payload, str) else json.dumps(payload, indent=2)
    page.get_by_test_id("custom-payload").fill(text)


def test_an_invalid_csms_answer_is_an_invalid_row_with_the_reason(
    context: BrowserContext, console: Console, csms16: OddCSMS
) -> None:
    page = open_against(context, console, csms16, "CP-ODD", strict=True)
    set_payload(page, "DataTransfer", {"vendorId": "BrowserOCPP"})
    page.get_by_test_id("custom-send").click()
    result = page.get_by_test_id("custom-result")
    expect(result).to_have_attribute("data-kind", "error", timeout=20_000)
    expect(result).to_contain_text("PropertyConstraintViolation")
    row = page.locator("[data-testid=log-row][data-action=DataTransfer][data-direction=in]")
    expect(row).to_have_attribute("data-kind", "invalid", timeout=10_000)
    expect(row.locator("summary")).to_contain_text("PropertyConstraintViolation")
    expect(row.locator("summary")).to_contain_text("status")
    # On 1.6 the error box names errors as 1.6 spells them.
    set_payload(page, "BootNotification", {"chargePointVendor": "V"})
    page.get_by_test_id("custom-send").click()
    expect(page.get_by_test_id("custom-error")).to_contain_text(
        "OccurenceConstraintViolation", timeout=10_000
    )


def test_strict_off_sends_as_written_and_raw_frames_go_as_typed(
    context: BrowserContext, console: Console, csms16: OddCSMS
) -> None:
    page = open_against(context, console, csms16, "CP-LAX", strict=False)
    select = page.get_by_test_id("custom-action")
    # The CSMS's actions are listed apart, and only raw frames may use them.
    group = select.locator("optgroup", has=page.locator("option[value=Reset]"))
    expect(group).to_have_attribute("label", re.compile("CSMS → station"))
    assert select.locator("option[value=Reset]").is_disabled()
    assert select.locator("option[value=Heartbeat]").is_enabled()
    # Templates are realistic: connector 1, a plausible status.
    choose(page, "StatusNotification")
    template = json.loads(page.get_by_test_id("custom-payload").input_value())
    assert template == {"connectorId": 1, "errorCode": "NoError", "status": "Available"}

    set_payload(page, "StatusNotification", {"connectorId": 1, "status": "Bogus"})
    page.get_by_test_id("custom-send").click()
    expect(page.get_by_test_id("custom-error")).to_contain_text("sent as written", timeout=20_000)
    expect(page.get_by_test_id("custom-result")).to_have_attribute(
        "data-kind", "result", timeout=20_000
    )
    assert any('"Bogus"' in text for text in csms16.frames_with("StatusNotification"))

    page.get_by_test_id("custom-raw").check()
    wait_template(page, "StatusNotification", raw=True)
    assert select.locator("option[value=Reset]").is_enabled()
    raw = json.loads(page.get_by_test_id("custom-payload").input_value())
    assert raw[0] == 2 and raw[2] == "StatusNotification"
    cut = '[2,"raw-1","Heartbeat",{'
    page.get_by_test_id("custom-payload").fill(cut)
    page.get_by_test_id("custom-send").click()
    out = page.locator("[data-testid=log-row][data-direction=out][data-kind=bad]")
    expect(out.first).to_contain_text("FormationViolation", timeout=20_000)
    choose(page, "Reset", raw=True)
    page.get_by_test_id("custom-payload").fill('[2,"raw-2","Reset",{"type":"Soft"}]')
    page.get_by_test_id("custom-send").click()
    reset = page.locator("[data-testid=log-row][data-direction=out][data-action=Reset]")
    expect(reset).to_have_attribute("data-kind", "call", timeout=20_000)
    # The CSMS refuses a command the wrong way round; the engine never sent that id, so
    # its answer is a bad message to it, and the log says so.
    answer = page.locator("[data-testid=log-row][data-direction=in]", has_text="raw-2")
    expect(answer).to_contain_text("NotSupported", timeout=20_000)
    expect(answer).to_have_attribute("data-kind", "bad")
    assert csms16.frames_with(cut) and csms16.frames_with('"raw-2","Reset"')
