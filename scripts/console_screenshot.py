"""The README's screenshot of the console: ``.venv/bin/python scripts/console_screenshot.py``.

Serves the console and the demo CSMS on loopback, opens it in Debian's Chromium at
1280x800, connects, starts a transaction on connector 1 and waits (bounded) for a few
meter values, then writes ``docs/console.png`` (and ``--narrow``: a 400 px wide page,
whole, to ``runtime/screenshots/console-400-full.png`` for a look at small screens).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from browser_ocpp.demo import ConsoleServer  # noqa: E402
from browser_ocpp.runtime import ensure_runtime  # noqa: E402
from chromium import ChromiumRun, LoopThread  # noqa: E402

READY_MS = 180_000


def drive(page: Page, url: str, identity: str) -> None:
    page.goto(url)
    page.wait_for_function(
        "document.querySelector('[data-testid=progress]').dataset.state === 'ready'",
        timeout=READY_MS,
    )
    page.get_by_test_id("identity").fill(identity)
    page.get_by_test_id("meter-interval").fill("2")
    page.get_by_test_id("connect").click()
    page.get_by_test_id("boot-status").filter(has_text="Accepted").wait_for(timeout=30_000)
    page.get_by_test_id("plug-1").click()
    page.get_by_test_id("start-1").click()
    page.get_by_test_id("status-1").filter(has_text="Charging").wait_for(timeout=30_000)
    rows = page.locator("[data-testid=log-row][data-action=MeterValues][data-direction=out]")
    rows.nth(2).wait_for(state="attached", timeout=30_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--narrow", action="store_true", help="also a 400 px wide page")
    args = parser.parse_args()
    runtime = ensure_runtime(ROOT / "runtime")
    loop = LoopThread()
    server = ConsoleServer(runtime)
    port = loop.run(server.listen(0))
    url = f"http://127.0.0.1:{port}/"
    try:
        with sync_playwright() as playwright, tempfile.TemporaryDirectory() as tmp:
            browser = ChromiumRun(Path(tmp)).launch(playwright)
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                drive(page, url, "CP-README")
                page.screenshot(path=str(ROOT / "docs" / "console.png"))
                context.close()
                if args.narrow:
                    context = browser.new_context(viewport={"width": 400, "height": 800})
                    page = context.new_page()
                    drive(page, url, "CP-NARROW")
                    out = ROOT / "runtime" / "screenshots" / "console-400-full.png"
                    out.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(out), full_page=True)
                    context.close()
            finally:
                browser.close()
    finally:
        loop.run(server.close())
        loop.stop()


if __name__ == "__main__":
    main()
