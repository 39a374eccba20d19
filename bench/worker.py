"""Prototype: Python (Pyodide) in a Web Worker, so the page's main thread never blocks.

In one run, against the same OCPPServer on loopback, in alternating order:
* a bare Pyodide boot on the main thread (navigation to ready, longest main-thread task);
* bench/worker/index.html: Pyodide boots in a module worker offline from our runtime,
  loads browser-ocpp and connects a BrowserOCPPClient there, while the main thread
  animates a bar (navigation to connected, longest main-thread task, longest gap
  between animation frames);
* the same from a memory snapshot taken as Python has started (Pyodide's
  private ``_makeSnapshot``/``makeMemorySnapshot``/``_loadSnapshot``, kept in the
  page's Cache Storage);
* round trips/s in the worker: BrowserOCPPClient against a plain-JS loop in the same
  worker, sequential and with 10 in flight.

    .venv/bin/python bench/worker.py [--runs N] [--calls N] [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from browser import BARE_PAGE, ROOT, longest_task, new_context, page_time, start_server
from playwright.sync_api import BrowserContext, sync_playwright

from browser_ocpp.runtime import ensure_runtime
from chromium import CHROMIUM_ARGS, LoopThread, chromium_path

HERE = Path(__file__).resolve().parent / "worker"


def worker_boot(context: BrowserContext, url: str) -> tuple[float, float, float]:
    """Navigation to connected (ms), the longest main-thread task and the longest gap
    between animation frames meanwhile (ms)."""
    page = context.new_page()
    try:
        page.goto(url)
        page.wait_for_function("window.done !== undefined")
        ready = float(page.evaluate("window.done"))
        return ready, longest_task(page), float(page.evaluate("window.frameGap(false)"))
    finally:
        page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="page loads timed per kind")
    parser.add_argument("--calls", type=int, default=1000, help="round trips per figure")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    args = parser.parse_args()
    runtime = ensure_runtime(ROOT / "runtime", log=lambda line: None)
    pages = ROOT / "runtime" / "bench-pages"
    pages.mkdir(exist_ok=True)
    (pages / "bare.html").write_text(BARE_PAGE)
    loop = LoopThread()
    server = loop.run(start_server(runtime, pages, {"/worker/": HERE}))
    origin = f"http://127.0.0.1:{server.port}"
    page_url = f"{origin}/worker/index.html?csms=ws://127.0.0.1:{server.port}/ocpp"
    boots: dict[str, list[tuple[float, float, float]]] = {"bare": [], "worker": [], "snap": []}
    rates: dict[tuple[str, int], list[float]] = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path(), args=CHROMIUM_ARGS
            )
            # One context for the worker pages: the snapshot lives in its Cache Storage.
            context = new_context(browser)
            made = context.new_page()
            made.goto(page_url + "&snapshot=make")
            made.wait_for_function("window.done !== undefined")
            made.evaluate("window.done")
            saved = made.evaluate("document.getElementById('log').textContent")
            made.close()
            for _ in range(args.runs):
                ms, longest = page_time(browser, f"{origin}/bare.html")
                boots["bare"].append((ms, longest, float("nan")))
                boots["worker"].append(worker_boot(context, page_url))
                boots["snap"].append(worker_boot(context, page_url + "&snapshot=use"))
            page = context.new_page()
            page.goto(page_url)
            page.wait_for_function("window.done !== undefined")
            page.evaluate("window.done")
            page.evaluate("window.bench('python', 200, 1)")  # warm up both paths
            page.evaluate("window.bench('js', 200, 1)")
            longest_task(page, reset=True)
            page.evaluate("window.frameGap(true)")
            for _ in range(args.rounds):
                for concurrency in (1, 10):
                    for kind in ("python", "js"):
                        rate = page.evaluate(
                            "([k, n, c]) => window.bench(k, n, c)",
                            [kind, args.calls, concurrency],
                        )
                        rates.setdefault((kind, concurrency), []).append(float(rate))
            session = longest_task(page), float(page.evaluate("window.frameGap(false)"))
            context.close()
            browser.close()
    finally:
        loop.run(server.close())
        loop.stop()

    print(f"Pyodide in a Web Worker (medians of {args.runs} loads, alternating)")
    print(f"  {'':44}{'to ready ms':>12}{'longest task':>14}{'frame gap':>11}")
    for kind, label in (
        ("bare", "bare Pyodide boot, main thread"),
        ("worker", "worker: boot, browser-ocpp, connected"),
        ("snap", "worker from a memory snapshot, connected"),
    ):
        rows = boots[kind]
        ready = statistics.median(r[0] for r in rows)
        longest = statistics.median(r[1] for r in rows)
        gap = statistics.median(r[2] for r in rows)
        print(f"  {label:44}{ready:>12,.0f}{longest:>14,.0f}{gap:>11,.0f}")
    bare = statistics.median(r[0] for r in boots["bare"])
    for kind in ("worker", "snap"):
        ratio = statistics.median(r[0] for r in boots[kind]) / bare
        print(f"  {kind} to connected / bare boot: {ratio:.2f}x")
    print("  " + next(line for line in saved.splitlines() if "snapshot saved" in line))
    print(f"round trips/s in the worker ({args.calls:,} per figure, {args.rounds} rounds)")
    for concurrency in (1, 10):
        ours, plain = rates[("python", concurrency)], rates[("js", concurrency)]
        ratios = [a / b for a, b in zip(ours, plain, strict=True)]
        print(
            f"  {concurrency:>2} in flight: BrowserOCPPClient {statistics.median(ours):,.0f}, "
            f"plain JS {statistics.median(plain):,.0f}, ratio {statistics.median(ratios):.2f}x "
            f"({min(ratios):.2f}-{max(ratios):.2f})"
        )
    print(
        f"during the round trips: longest main-thread task {session[0]:,.0f} ms, "
        f"longest frame gap {session[1]:,.0f} ms"
    )


if __name__ == "__main__":
    main()
