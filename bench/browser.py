"""Browser benchmark: BrowserOCPPClient in Chromium against a plain-JS WebSocket loop.

In one run, against the same OCPPServer on loopback and in the same page:
* round-trip Heartbeat calls/s, sequential and with 10 in flight, for
  BrowserOCPPClient (Python in Pyodide) and for a hand-written JS WebSocket loop;
* time from navigation to "connected" against a bare Pyodide boot.
Read the ratios: the machines are shared and noisy.

    .venv/bin/python bench/browser.py [--calls N] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from browser_ocpp import OCPPServer, OCPPServerClient
from browser_ocpp.runtime import ensure_runtime

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from chromium import CHROMIUM_ARGS, LoopThread, chromium_path  # noqa: E402

BARE_PAGE = """<!doctype html><meta charset="utf-8"><script type="module">
import { loadPyodide } from "/pyodide/pyodide.mjs";
window.done = loadPyodide({indexURL: location.origin + "/pyodide/"}).then(() => performance.now());
</script>"""
STATION_PAGE = """<!doctype html><meta charset="utf-8"><script type="module">
import { loadPyodide } from "/pyodide/pyodide.mjs";
const url = new URLSearchParams(location.search).get("csms");
window.done = loadPyodide({indexURL: location.origin + "/pyodide/", packages: ["browser-ocpp"]})
  .then(async (py) => {
    window.pyodide = py;
    await py.runPythonAsync(`
from js import location, URLSearchParams
from browser_ocpp import BrowserOCPPClient
client = BrowserOCPPClient(identity="BENCH", protocols=["ocpp1.6"],
                           endpoint=URLSearchParams.new(location.search).get("csms"))
await client.connect()
`);
    return performance.now();
  });
</script>"""

PY_LOOP = """
import asyncio, json, time
from browser_ocpp import BrowserOCPPClient
client.reconfigure(call_concurrency={concurrency})
async def worker(n):
    for _ in range(n):
        await client.call("Heartbeat", {{}})
start = time.perf_counter()
await asyncio.gather(*(worker({per_worker}) for _ in range({concurrency})))
json.dumps({total} / (time.perf_counter() - start))
"""
JS_LOOP = """async ([url, perWorker, concurrency]) => {
  const ws = new WebSocket(url, ["ocpp1.6"]);
  await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = fail; });
  const waiting = new Map();
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    const done = waiting.get(message[1]);
    waiting.delete(message[1]);
    done(message[2]);
  };
  let next = 0;
  const call = () => new Promise((ok) => {
    const id = String(++next);
    waiting.set(id, ok);
    ws.send(JSON.stringify([2, id, "Heartbeat", {}]));
  });
  const worker = async () => { for (let i = 0; i < perWorker; i++) await call(); };
  const start = performance.now();
  await Promise.all(Array.from({length: concurrency}, worker));
  const rate = perWorker * concurrency / ((performance.now() - start) / 1000);
  ws.close();
  return rate;
}"""


def _heartbeat(client: OCPPServerClient) -> None:
    client.handle("Heartbeat", lambda ctx: {"currentTime": "2024-01-01T00:00:00Z"})


async def start_server(runtime: Path, pages: Path) -> OCPPServer:
    server = OCPPServer(protocols=["ocpp1.6"])
    server.on("client", _heartbeat)
    server.mount("/", pages)
    server.mount("/pyodide/", runtime / "pyodide")
    await server.listen(0)
    return server


def page_time(browser: Browser, url: str) -> float:
    """Milliseconds from navigation start until the page's ``window.done`` resolves."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_function("window.done !== undefined")
        return float(page.evaluate("window.done"))
    finally:
        context.close()


def rates(page: Page, ws_url: str, calls: int, concurrency: int) -> tuple[float, float]:
    per_worker = calls // concurrency
    code = PY_LOOP.format(
        concurrency=concurrency, per_worker=per_worker, total=per_worker * concurrency
    )
    python = float(json.loads(page.evaluate("code => window.pyodide.runPythonAsync(code)", code)))
    plain = float(page.evaluate(JS_LOOP, [ws_url, per_worker, concurrency]))
    return python, plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5, help="page loads timed per kind")
    args = parser.parse_args()
    runtime = ensure_runtime(ROOT / "runtime", log=lambda line: None)
    pages = ROOT / "runtime" / "bench-pages"
    pages.mkdir(exist_ok=True)
    (pages / "bare.html").write_text(BARE_PAGE)
    (pages / "station.html").write_text(STATION_PAGE)
    loop = LoopThread()
    server = loop.run(start_server(runtime, pages))
    origin = f"http://127.0.0.1:{server.port}"
    ws_url = f"ws://127.0.0.1:{server.port}/ocpp/JS-BENCH"
    station = f"{origin}/station.html?csms=ws://127.0.0.1:{server.port}/ocpp"
    chromium = chromium_path()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            bare = [page_time(browser, f"{origin}/bare.html") for _ in range(args.runs)]
            connected = [page_time(browser, station) for _ in range(args.runs)]
            context = browser.new_context()
            page = context.new_page()
            page.goto(station)
            page.wait_for_function("window.done !== undefined")
            page.evaluate("window.done")
            rates(page, ws_url, 200, 1)  # warm up both paths
            sequential = rates(page, ws_url, args.calls, 1)
            parallel = rates(page, ws_url, args.calls, 10)
            context.close()
            browser.close()
    finally:
        loop.run(server.close())
        loop.stop()

    print(f"browser benchmark (Chromium, {args.calls:,} Heartbeats per figure)")
    print(f"{'':38}{'BrowserOCPPClient':>20}{'plain-JS WebSocket':>22}{'ratio':>9}")
    for label, (ours, plain) in (
        ("round trips/s, sequential", sequential),
        ("round trips/s, 10 in flight", parallel),
    ):
        print(f"{label:38}{ours:>20,.0f}{plain:>22,.0f}{ours / plain:>8.2f}x")
    bare_ms, connected_ms = statistics.median(bare), statistics.median(connected)
    print()
    head = f"page load, median of {args.runs}"
    print(f"{head:38}{'to connected':>20}{'bare Pyodide boot':>22}{'ratio':>9}")
    label = "navigation start to ready, ms"
    ratio = connected_ms / bare_ms
    print(f"{label:38}{connected_ms:>20,.0f}{bare_ms:>22,.0f}{ratio:>8.2f}x")


if __name__ == "__main__":
    main()
