"""The operator view in real Chromium against station-chosen text: a station's
identity (any characters but control ones and ':') lands in attributes of the page,
so it must not be able to add attributes (an event handler would run script with
the operator's right to send commands to every station)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import LoopThread, new_page
from playwright.sync_api import BrowserContext, expect

from browser_ocpp import OCPPClient
from browser_ocpp.demo import ConsoleServer

HOSTILE = 'CP" data-pwned="1'
"""An identity that closes a double-quoted attribute and opens one of its own."""


@pytest.fixture
def demo_port(loop_thread: LoopThread, tmp_path: Path) -> Iterator[int]:
    for folder in ("pyodide", "pyscript"):
        (tmp_path / folder).mkdir()
    server = ConsoleServer(tmp_path)  # the view needs no runtime
    port = loop_thread.run(server.listen(0))
    yield port
    loop_thread.run(server.close())


def test_a_station_identity_cannot_add_attributes_to_the_operator_page(
    context: BrowserContext, loop_thread: LoopThread, demo_port: int
) -> None:
    port = demo_port
    client = OCPPClient(
        identity=HOSTILE,
        endpoint=f"ws://127.0.0.1:{port}/ocpp",
        protocols=["ocpp1.6"],
        reconnect=False,
    )
    loop_thread.run(client.connect())
    page = new_page(context, f"http://127.0.0.1:{port}/csms/")
    target = page.locator("#identity option")
    expect(target).to_have_count(1, timeout=10_000)
    assert target.get_attribute("value") == HOSTILE  # the select sends what was listed
    loop_thread.run(client.close(1000, "bye"))
    forget = page.locator("button[data-forget]")
    expect(forget).to_have_count(1, timeout=10_000)  # drawn once the station left
    assert forget.get_attribute("data-forget") == HOSTILE
    assert page.locator("[data-pwned]").count() == 0
