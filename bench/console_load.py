"""The web console as a user gets it: load time and the page's responsiveness.

In one run, in alternating page loads from the same server (the demo CSMS and the
console, as ``browser-ocpp serve`` serves them):
* navigation start to the console being ready (its Python in a Web Worker), against
  a bare Pyodide boot on the main thread (``loadPyodide()`` alone, no packages);
* the longest task the page's long-task observer saw on the main thread while each
  loaded, and the longest gap between two animation frames (what freezes the
  progress bar);
* then a session in the console (connect, plug in, start a transaction, stop it):
  the longest main-thread task and frame gap meanwhile.
Read the ratios: the machines are shared and noisy.

    .venv/bin/python bench/console_load.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from browser_ocpp.demo.app import ConsoleServer
from browser_ocpp.runtime import ensure_runtime

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from chromium import CHROMIUM_ARGS, LoopThread, chromium_path  # noqa: E402

WATCH = """window.__longest = 0; window.__gap = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    window.__longest = Math.max(window.__longest, entry.duration);
  }
}).observe({type: "longtask"});
let last = performance.now();
const frame = (now) => {
  window.__gap = Math.max(window.__gap, now - last);
  last = now;
  requestAnimationFrame(frame);
};
requestAnimationFrame(frame);
new MutationObserver(() => {
  if (!window.__ready && document.documentElement?.dataset.ready === "true") {
    window.__ready = performance.now();
  }
}).observe(document, {attributes: true, subtree: true, attributeFilter: ["data-ready"]});"""
"""Init script: the longest main-thread task and frame gap so far (ms), and when the
console said it was ready (``window.__ready``, ms from navigation start)."""

BARE_PAGE = """<!doctype html><meta charset="utf-8"><script type="module">
import { loadPyodide } from "/pyodide/pyodide.mjs";
loadPyodide({indexURL: location.origin + "/pyodide/"})
  .then(() => { window.__ready = performance.now(); });
</script>"""


class Load:
    """One page load: ms to ready, longest main-thread task and frame gap, ms."""

    def __init__(self, ready_ms: float, longest_ms: float, gap_ms: float) -> None:
        self.ready_ms, self.longest_ms, self.gap_ms = ready_ms, longest_ms, gap_ms


def watched(page: Page, reset: bool = False) -> tuple[float, float]:
    """The longest main-thread task and frame gap so far (then start afresh)."""
    longest, gap = page.evaluate("[window.__longest, window.__gap]")
    if reset:
        page.evaluate("window.__longest = 0; window.__gap = 0")
    return float(longest), float(gap)


def load(context: BrowserContext, url: str) -> tuple[Page, Load]:
    page = context.new_page()
    page.goto(url)
    page.wait_for_function("window.__ready !== undefined", timeout=180_000)
    ready = float(page.evaluate("window.__ready"))
    return page, Load(ready, *watched(page, reset=True))


def session(page: Page) -> tuple[float, float]:
    """Connect, plug in, charge, stop: the longest main-thread task and frame gap."""
    page.get_by_test_id("meter-interval").fill("1")
    page.get_by_test_id("connect").click()
    expect(page.get_by_test_id("boot-status")).to_have_text("Accepted", timeout=60_000)
    page.get_by_test_id("plug-1").click()
    page.get_by_test_id("start-1").click()
    expect(page.get_by_test_id("status-1")).to_have_text("Charging", timeout=60_000)
    rows = page.locator("[data-testid=log-row][data-action=MeterValues]")
    expect(rows.nth(2)).to_be_attached(timeout=60_000)
    page.get_by_test_id("stop-1").click()
    expect(page.get_by_test_id("status-1")).not_to_have_text("Charging", timeout=60_000)
    return watched(page)


def new_context(browser: Browser) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(WATCH)
    return context


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="page loads timed per kind")
    parser.add_argument("--runtime", type=Path, default=ROOT / "runtime", help="runtime folder")
    args = parser.parse_args()
    runtime = ensure_runtime(args.runtime, log=lambda line: None)
    bare_dir = Path(tempfile.mkdtemp(prefix="bench-bare-"))
    (bare_dir / "index.html").write_text(BARE_PAGE)
    loop = LoopThread()
    console = ConsoleServer(runtime)
    console.server.mount("/bare/", bare_dir)
    port = loop.run(console.listen(0))
    origin = f"http://127.0.0.1:{port}"
    bare: list[Load] = []
    consoles: list[Load] = []
    uses: list[tuple[float, float]] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path(), args=CHROMIUM_ARGS
            )
            for run in range(args.runs):  # alternating: the load moves both alike
                context = new_context(browser)
                bare.append(load(context, f"{origin}/bare/")[1])
                context.close()
                context = new_context(browser)
                page, loaded = load(context, f"{origin}/")
                consoles.append(loaded)
                page.get_by_test_id("identity").fill(f"BENCH-{run}")
                uses.append(session(page))
                context.close()
            browser.close()
    finally:
        loop.run(console.close())
        loop.stop()

    def median(values: list[float]) -> float:
        return statistics.median(values)

    print(f"the console's load and use (Chromium, medians of {args.runs} alternating loads)")
    print(f"{'':44}{'console':>12}{'bare Pyodide boot':>20}{'ratio':>8}")
    ready, base = median([c.ready_ms for c in consoles]), median([b.ready_ms for b in bare])
    print(f"{'navigation start to ready, ms':44}{ready:>12,.0f}{base:>20,.0f}{ready / base:>7.2f}x")
    for label, attribute in (
        ("longest main-thread task during load, ms", "longest_ms"),
        ("longest frame gap during load, ms", "gap_ms"),
    ):
        mine = median([getattr(c, attribute) for c in consoles])
        theirs = median([getattr(b, attribute) for b in bare])
        print(f"{label:44}{mine:>12,.0f}{theirs:>20,.0f}")
    print(
        f"{'longest main-thread task during a session, ms':44}"
        f"{median([u[0] for u in uses]):>12,.0f}"
    )
    print(f"{'longest frame gap during a session, ms':44}{median([u[1] for u in uses]):>12,.0f}")
    longest = max([c.longest_ms for c in consoles] + [u[0] for u in uses])
    print(
        f"the longest main-thread task of all the console's loads and sessions: {longest:,.0f} ms"
    )


if __name__ == "__main__":
    main()
