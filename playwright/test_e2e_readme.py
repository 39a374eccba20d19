"""The README's PyScript page, as written, boots a station in Chromium."""

from __future__ import annotations

import queue
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, LoopThread, offline_route
from playwright.sync_api import Browser

from browser_ocpp import OCPPServer, OCPPServerClient

README = ROOT / "README.md"
README_ENDPOINT = "ws://127.0.0.1:9000"


def _page() -> str:
    (block,) = re.findall(r"```html\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert README_ENDPOINT in block
    return "<!doctype html>\n<meta charset='utf-8'>\n" + block


@pytest.fixture
def csms(
    loop_thread: LoopThread, runtime_dir: Path, tmp_path: Path
) -> Iterator[tuple[OCPPServer, queue.Queue[tuple[str, Any]]]]:
    """A CSMS that also serves the README's page (its endpoint pointed at this CSMS)."""
    seen: queue.Queue[tuple[str, Any]] = queue.Queue()

    def on_client(client: OCPPServerClient) -> None:
        def boot(ctx: Any) -> dict[str, Any]:
            seen.put((client.identity, ctx.params))
            return {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 300}

        client.handle("BootNotification", boot)

    async def start() -> OCPPServer:
        server = OCPPServer(protocols=["ocpp2.0.1"], strict_mode=True)
        server.on("client", on_client)
        server.mount("/", tmp_path)
        server.mount("/pyodide/", runtime_dir / "pyodide")
        server.mount("/pyscript/", runtime_dir / "pyscript")
        await server.listen(0)
        return server

    server = loop_thread.run(start())
    page = _page().replace(README_ENDPOINT, f"ws://127.0.0.1:{server.port}")
    (tmp_path / "index.html").write_text(page, encoding="utf-8")
    yield server, seen
    loop_thread.run(server.close())


def test_readme_pyscript_page_boots_a_station(
    browser: Browser,
    csms: tuple[OCPPServer, queue.Queue[tuple[str, Any]]],
    offline_guard: list[str],
) -> None:
    server, seen = csms
    context = browser.new_context()
    context.route("**/*", offline_route(offline_guard))
    try:
        page = context.new_page()
        page.on("console", lambda message: print(f"[page {message.type}] {message.text}"))
        # Wait through Playwright (a blocked thread would stall the page's routed requests).
        with page.expect_websocket(timeout=90_000) as opened:
            page.goto(f"http://127.0.0.1:{server.port}/")
        opened.value.wait_for_event(
            "framereceived", lambda frame: '"Accepted"' in str(frame), timeout=30_000
        )
        identity, params = seen.get(timeout=5)  # handled before the answer went out
    finally:
        context.close()
    assert identity == "WEB-1"
    assert params["chargingStation"] == {"vendorName": "ACME", "model": "Web"}
