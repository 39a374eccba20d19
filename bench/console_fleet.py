"""How many stations one browser tab holds: the test bench's fleet view (bench.html)
in Chromium, against the demo CSMS served with it (in a process of its own), for
growing fleet sizes, each beside the same page idle (the baseline) in the same run.

Per size: stations booted, calls, errors, the worst per-action p99 and the Heartbeat
p99 (CSMS response times measured in the page), and whether the page stays
responsive: how late a 50 ms ``setInterval`` on the page's main thread fires (p50,
p99, max), and the JS heap.  The profile: 2 connectors, sessions of 5-30 s after 2-10 s
idle, meter values every 5 s, a Heartbeat every 10 s, stations started over the ramp.

    .venv/bin/python bench/console_fleet.py [--sizes 20,50,100] [--duration 40] [--ramp 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from browser_ocpp.runtime import ensure_runtime

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from chromium import CHROMIUM_ARGS, chromium_path  # noqa: E402

SERVER = """
import asyncio, sys
from pathlib import Path
from browser_ocpp.demo import ConsoleServer

async def main():
    server = ConsoleServer(Path(sys.argv[1]))
    print(await server.listen(0, "127.0.0.1"), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    await server.close()

asyncio.run(main())
"""

LAG_PROBE = """() => {
  window.__lags = [];
  let last = performance.now();
  window.__probe = setInterval(() => {
    const now = performance.now();
    window.__lags.push(Math.max(0, now - last - 50));
    last = now;
  }, 50);
}"""
LAG_TAKE = """() => { clearInterval(window.__probe); return window.__lags; }"""
READY = "document.querySelector('[data-testid=progress]').dataset.state === 'ready'"


def lag_figures(lags: list[float]) -> str:
    ordered = sorted(lags) or [0.0]
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"{statistics.median(ordered):6.1f} {p99:8.1f} {ordered[-1]:8.1f}"


def heap_mb(page: Page) -> float:
    return float(page.evaluate("performance.memory ? performance.memory.usedJSHeapSize : 0")) / 1e6


def table(page: Page) -> dict[str, list[str]]:
    rows = page.locator("[data-testid=fleet-table] tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )
    return {row[0]: row for row in rows if len(row) == 9}


def one_size(page: Page, stations: int, duration: float, ramp: float) -> str:
    for testid, value in (
        ("fleet-stations", stations),
        ("fleet-duration", duration),
        ("fleet-ramp", ramp),
        ("fleet-heartbeat", 10),
        ("fleet-meter", 5),
        ("fleet-prefix", f"TAB{stations}-"),
    ):
        page.get_by_test_id(testid).fill(str(value))
    page.evaluate(LAG_PROBE)
    page.get_by_test_id("fleet-start").click()
    page.wait_for_function(
        "document.querySelector('[data-testid=fleet-state]').textContent.startsWith('finished')",
        timeout=(duration + 120) * 1000,
    )
    lags = page.evaluate(LAG_TAKE)
    rows = table(page)
    booted = page.get_by_test_id("fleet-booted").text_content()
    errors = page.get_by_test_id("fleet-errors").text_content()
    total = rows.get("total", ["", "0"])[1]
    worst = max(
        ((float(r[7]), name) for name, r in rows.items() if name != "total"), default=(0, "-")
    )
    heartbeat = rows.get("Heartbeat", ["", "", "", "", "", "", "", "-"])[7]
    return (
        f"{stations:8d} {booted:>9} {total:>6} {errors:>6} {heartbeat:>8} "
        f"{worst[0]:8.1f} ({worst[1]}) {lag_figures(lags)} {heap_mb(page):7.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,50,100")
    parser.add_argument("--duration", type=float, default=40.0)
    parser.add_argument("--ramp", type=float, default=5.0)
    args = parser.parse_args()
    runtime = ensure_runtime(ROOT / "runtime")
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(runtime)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stdin is not None
    try:
        port = int(server.stdout.readline())
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path(), args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"http://127.0.0.1:{port}/bench.html#fleet")
            page.wait_for_function(READY, timeout=180_000)
            print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
            print(
                "stations    booted  calls errors  HB p99  worst p99 (action)"
                "   lag p50  p99      max  heap MB"
            )
            page.evaluate(LAG_PROBE)
            time.sleep(args.duration / 4)
            print(
                f"{'idle':>8} {'-':>9} {'-':>6} {'-':>6} {'-':>8} {'-':>8} {'':8} "
                f"{lag_figures(page.evaluate(LAG_TAKE))} {heap_mb(page):7.1f}"
            )
            for size in (int(s) for s in args.sizes.split(",")):
                print(one_size(page, size, args.duration, args.ramp), flush=True)
            browser.close()
    finally:
        server.stdin.close()
        server.wait(30)


if __name__ == "__main__":
    main()
