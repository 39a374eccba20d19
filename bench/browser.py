"""Browser benchmark: BrowserOCPPClient in Chromium against a plain-JS WebSocket loop.

In one run, against the same OCPPServer on loopback and in the same page:
* round-trip Heartbeat calls/s, sequential and with 10 in flight, for
  BrowserOCPPClient (Python in Pyodide) and for a hand-written JS WebSocket loop, in
  alternating rounds (the median of each, and the median of the rounds' ratios),
  with the renderer main thread's CPU time per round trip (from /proc: the figure
  the machine's other load moves least);
* the same Python loop with the client's ready queue taken off the event loop
  (Pyodide's own ``call_soon`` and timers), for what the queue buys;
* time from navigation to "connected" against a bare Pyodide boot, and the longest
  task the page's long-task observer saw on the main thread during load and during
  the round trips.
Read the ratios: the machines are shared and noisy.

    .venv/bin/python bench/browser.py [--calls N] [--rounds N] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from browser_ocpp import OCPPServer, OCPPServerClient
from browser_ocpp.runtime import ensure_runtime

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from chromium import CHROMIUM_ARGS, LoopThread, chromium_path  # noqa: E402

LONG_TASKS = """window.__longest = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    window.__longest = Math.max(window.__longest, entry.duration);
  }
}).observe({type: "longtask"});"""
"""Init script: the longest main-thread task so far (``window.__longest``, ms)."""

BARE_PAGE = """<!doctype html><meta charset="utf-8"><script type="module">
import { loadPyodide } from "/pyodide/pyodide.mjs";
window.done = loadPyodide({indexURL: location.origin + "/pyodide/"}).then(() => performance.now());
</script>"""
STATION_PAGE = """<!doctype html><meta charset="utf-8"><script type="module">
import { loadPyodide } from "/pyodide/pyodide.mjs";
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
from browser_ocpp.browser.scheduler import install_ready_queue
queue = install_ready_queue(asyncio.get_running_loop())
if not {ready_queue}:
    queue.uninstall()
client.reconfigure(call_concurrency={concurrency})
async def worker(n):
    for _ in range(n):
        await client.call("Heartbeat", {{}})
start = time.perf_counter()
await asyncio.gather(*(worker({per_worker}) for _ in range({concurrency})))
rate = {total} / (time.perf_counter() - start)
install_ready_queue(asyncio.get_running_loop())
json.dumps(rate)
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


async def start_server(
    runtime: Path, pages: Path, more: dict[str, Path] | None = None
) -> OCPPServer:
    server = OCPPServer(protocols=["ocpp1.6"])
    server.on("client", _heartbeat)
    for prefix, folder in (more or {}).items():
        server.mount(prefix, folder)
    server.mount("/", pages)
    server.mount("/pyodide/", runtime / "pyodide")
    await server.listen(0)
    return server


def new_context(browser: Browser) -> BrowserContext:
    """A context whose pages record their longest main-thread task."""
    context = browser.new_context()
    context.add_init_script(LONG_TASKS)
    return context


def longest_task(page: Page, reset: bool = False) -> float:
    """The longest main-thread task the page's observer saw, ms (then start afresh)."""
    longest = float(page.evaluate("window.__longest"))
    if reset:
        page.evaluate("window.__longest = 0")
    return longest


def page_time(browser: Browser, url: str) -> tuple[float, float]:
    """Milliseconds from navigation start until the page's ``window.done`` resolves,
    and the longest main-thread task until then."""
    context = new_context(browser)
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_function("window.done !== undefined")
        ready = float(page.evaluate("window.done"))
        return ready, longest_task(page)
    finally:
        context.close()


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _descends_from_us(pid: int) -> bool:
    for _ in range(32):  # bounded: a process tree is never this deep here
        if pid == os.getpid():
            return True
        if pid <= 1:
            return False
        pid = _parent(pid)
    return False


def _cpu_ns(pid: int) -> int:
    """CPU time of a process's main thread (thread id = process id), ns."""
    return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[0])


def renderer_clock() -> Callable[[], int]:
    """The CPU clock (ns) of the busiest renderer main thread this process started
    (the benchmark page's: Pyodide's boot made it the busiest)."""
    busiest: tuple[int, int] | None = None
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            command = Path(f"/proc/{name}/cmdline").read_bytes()
            if b"--type=renderer" not in command or not _descends_from_us(int(name)):
                continue
            used = _cpu_ns(int(name))
        except (OSError, ValueError):
            continue  # gone meanwhile
        if busiest is None or used > busiest[1]:
            busiest = (int(name), used)
    if busiest is None:
        raise RuntimeError("found no renderer process of our Chromium")
    pid = busiest[0]
    return lambda: _cpu_ns(pid)


class Round:
    """One measured loop: its rate (round trips/s) and main-thread CPU per round trip (us)."""

    def __init__(self, rate: float, cpu_us: float) -> None:
        self.rate, self.cpu_us = rate, cpu_us


def measure(clock: Callable[[], int], calls: int, run: Callable[[], float]) -> Round:
    before = clock()
    rate = run()
    return Round(rate, (clock() - before) / 1000 / calls)


def python_round(
    page: Page, clock: Callable[[], int], calls: int, concurrency: int, ready_queue: bool
) -> Round:
    per_worker = calls // concurrency
    code = PY_LOOP.format(
        concurrency=concurrency,
        per_worker=per_worker,
        total=per_worker * concurrency,
        ready_queue=ready_queue,
    )
    return measure(
        clock,
        per_worker * concurrency,
        lambda: float(json.loads(page.evaluate("c => window.pyodide.runPythonAsync(c)", code))),
    )


def js_round(
    page: Page, clock: Callable[[], int], ws_url: str, calls: int, concurrency: int
) -> Round:
    per_worker = calls // concurrency
    return measure(
        clock,
        per_worker * concurrency,
        lambda: float(page.evaluate(JS_LOOP, [ws_url, per_worker, concurrency])),
    )


KINDS = ("ours", "ours, WebLoop scheduling", "plain JS")


def one_round(
    page: Page, clock: Callable[[], int], ws_url: str, calls: int, concurrency: int, kind: str
) -> Round:
    if kind == "plain JS":
        return js_round(page, clock, ws_url, calls, concurrency)
    return python_round(page, clock, calls, concurrency, ready_queue=kind == "ours")


def print_table(title: str, rounds: dict[str, list[Round]]) -> None:
    plain = rounds["plain JS"]
    print(title)
    print(f"  {'':26}{'round trips/s':>15}{'ratio':>8}{'ratio range':>14}{'CPU us/rt':>11}")
    for kind in KINDS:
        mine = rounds[kind]
        ratios = [a.rate / b.rate for a, b in zip(mine, plain, strict=True)]
        rate = statistics.median(r.rate for r in mine)
        cpu = statistics.median(r.cpu_us for r in mine)
        span = f"{min(ratios):.2f}-{max(ratios):.2f}"
        print(f"  {kind:26}{rate:>15,.0f}{statistics.median(ratios):>7.2f}x{span:>14}{cpu:>11,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1000, help="round trips per figure")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per figure")
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
    results: dict[int, dict[str, list[Round]]] = {1: {}, 10: {}}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path(), args=CHROMIUM_ARGS
            )
            bare, connected = [], []
            for _ in range(args.runs):  # alternating: the load moves both alike
                bare.append(page_time(browser, f"{origin}/bare.html"))
                connected.append(page_time(browser, station))
            context = new_context(browser)
            page = context.new_page()
            page.goto(station)
            page.wait_for_function("window.done !== undefined")
            page.evaluate("window.done")
            clock = renderer_clock()
            python_round(page, clock, 200, 1, True)  # warm up both paths
            js_round(page, clock, ws_url, 200, 1)
            longest_task(page, reset=True)
            for _ in range(args.rounds):
                for concurrency, kinds in results.items():
                    for kind in KINDS:
                        kinds.setdefault(kind, []).append(
                            one_round(page, clock, ws_url, args.calls, concurrency, kind)
                        )
            session_longest = longest_task(page)
            context.close()
            browser.close()
    finally:
        loop.run(server.close())
        loop.stop()

    print(
        f"browser benchmark (Chromium, {args.calls:,} Heartbeats per figure, "
        f"medians of {args.rounds} alternating rounds)"
    )
    print_table("sequential", results[1])
    print_table("10 in flight", results[10])
    bare_ms = statistics.median(ms for ms, _ in bare)
    connected_ms = statistics.median(ms for ms, _ in connected)
    print()
    head = f"page load, median of {args.runs}"
    print(f"{head:38}{'to connected':>20}{'bare Pyodide boot':>22}{'ratio':>9}")
    label = "navigation start to ready, ms"
    ratio = connected_ms / bare_ms
    print(f"{label:38}{connected_ms:>20,.0f}{bare_ms:>22,.0f}{ratio:>8.2f}x")
    label = "longest main-thread task, ms"
    print(
        f"{label:38}{statistics.median(t for _, t in connected):>20,.0f}"
        f"{statistics.median(t for _, t in bare):>22,.0f}"
    )
    print(f"longest main-thread task during the round trips: {session_longest:,.0f} ms")


if __name__ == "__main__":
    main()
