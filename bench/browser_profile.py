"""Where one BrowserOCPPClient round trip's time goes, in Chromium (issue 11).

Against an OCPPServer on loopback, in one page (``bench/browser.py``'s station page):
* the pieces of a round trip timed one by one in Pyodide (``time.perf_counter``
  around N repetitions each): the message id, encoding the CALL, the pending-call
  future, ``parse`` of the answer, a call from JS into a Python handler with the
  message event (then ``event.data``) or with the text, a call from Python into JS
  with the text, and ``WebSocket.send`` itself from JS;
* the sequential round trip as a whole, and Python's own view of it (cProfile,
  top functions by own time);
* Chrome's sampling profiler (CDP) over sequential round trips: self time by
  function, grouped as WebAssembly (Python's interpreter), JS, and the browser's
  native work (WebSocket, GC, idle).

    .venv/bin/python bench/browser_profile.py [--calls N]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Any

from browser import JS_LOOP, ROOT, STATION_PAGE, new_context, start_server
from playwright.sync_api import sync_playwright

from browser_ocpp.runtime import ensure_runtime
from chromium import CHROMIUM_ARGS, LoopThread, chromium_path

PIECES = """
import asyncio, json, time
from browser_ocpp.peer.peer import _new_message_id
from browser_ocpp.rpc.frames import Call, parse
from pyodide.code import run_js
from pyodide.ffi import create_proxy
N = {n}
def each(f):
    start = time.perf_counter()
    for _ in range(N):
        f()
    return (time.perf_counter() - start) / N * 1e6
loop = asyncio.get_running_loop()
frame = Call(_new_message_id(), "Heartbeat", {{}})
answer = '[3,"' + frame.message_id + '",{{"currentTime":"2024-01-01T00:00:00Z"}}]'
session = client._session
noop = run_js("(text) => undefined")
out = {{
    "message id (_new_message_id)": each(_new_message_id),
    "encode the CALL (session.encode_call)": each(lambda: session.encode_call(frame)),
    "loop.create_future()": each(loop.create_future),
    "parse the CALLRESULT (rpc.parse)": each(lambda: parse(answer, "ocpp1.6")),
    "Python -> JS call with the text": each(lambda: noop(answer)),
}}
by_event = create_proxy(lambda event: event.data)
by_text = create_proxy(lambda text: text)
js_side = run_js('''(byEvent, byText, text, n) => {{
  const event = new MessageEvent("message", {{data: text}});
  let start = performance.now();
  for (let i = 0; i < n; i++) byEvent(event);
  const a = (performance.now() - start) * 1000 / n;
  start = performance.now();
  for (let i = 0; i < n; i++) byText(text);
  const b = (performance.now() - start) * 1000 / n;
  return [a, b];
}}''')(by_event, by_text, answer, N)
out["JS -> Python handler with the event, then event.data"] = js_side[0]
out["JS -> Python handler with the text"] = js_side[1]
by_event.destroy(); by_text.destroy()
async def sequential(n):
    start = time.perf_counter()
    for _ in range(n):
        await client.call("Heartbeat", {{}})
    return (time.perf_counter() - start) / n * 1e6
out["one sequential round trip, whole"] = await sequential(N)
json.dumps(out)
"""

JS_SEND = """async ([url, n]) => {
  const ws = new WebSocket(url, ["ocpp1.6"]);
  await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = fail; });
  const text = JSON.stringify([2, "1", "Heartbeat", {}]);
  let left = n, done;
  const finished = new Promise((ok) => { done = ok; });
  let spent = 0;
  ws.onmessage = () => { if (--left === 0) done(); };
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    ws.send(JSON.stringify([2, String(i), "Heartbeat", {}]));
    spent += performance.now() - start;
  }
  await finished;
  ws.close();
  return spent * 1000 / n;
}"""

CPROFILE = """
import cProfile, pstats, io, asyncio
profile = cProfile.Profile()
async def run(n):
    for _ in range(n):
        await client.call("Heartbeat", {{}})
profile.enable()
await run({n})
profile.disable()
stream = io.StringIO()
pstats.Stats(profile, stream=stream).sort_stats("tottime").print_stats({top})
stream.getvalue()
"""

RUN_CALLS = """
import asyncio
client.reconfigure(call_concurrency={concurrency})
async def run(n):
    for _ in range(n):
        await client.call("Heartbeat", {{}})
await asyncio.gather(*(run({n} // {concurrency}) for _ in range({concurrency})))
"""


def group(node: dict[str, Any]) -> str:
    frame = node["callFrame"]
    name, url = frame["functionName"] or "(anonymous)", frame["url"]
    if url.startswith("wasm://") or name.startswith("$") or "wasm-function" in name:
        return "wasm " + name
    if not url:
        return name  # (program), (idle), (garbage collector), native
    return f"js {name} {url.rsplit('/', 1)[-1]}"


def self_times(profile: dict[str, Any]) -> Counter[str]:
    """Microseconds of self time per function (samples times their intervals)."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    spent: Counter[str] = Counter()
    for sample, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        spent[group(nodes[sample])] += delta
    return spent


def report(label: str, profile: dict[str, Any], calls: int, top: int) -> None:
    spent = self_times(profile)
    total = sum(spent.values())
    kinds: Counter[str] = Counter()
    for name, us in spent.items():
        kinds[name.split(" ", 1)[0] if name.startswith(("wasm ", "js ")) else name] += us
    print(f"\nChrome profiler, {label}, {calls:,} round trips: us per round trip")
    for name, us in kinds.most_common():
        print(f"  {name:58}{us / calls:>8.1f}")
    print("  top functions by self time:")
    for name, us in spent.most_common(top):
        print(f"    {name[:80]:80}{us / calls:>8.1f}  {us / total:>5.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="repetitions per figure")
    parser.add_argument("--top", type=int, default=25, help="functions listed per profile")
    parser.add_argument("--concurrency", type=int, default=1, help="calls in flight, profiled")
    args = parser.parse_args()
    runtime = ensure_runtime(ROOT / "runtime", log=lambda line: None)
    pages = ROOT / "runtime" / "bench-pages"
    pages.mkdir(exist_ok=True)
    (pages / "station.html").write_text(STATION_PAGE)
    loop = LoopThread()
    server = loop.run(start_server(runtime, pages))
    origin = f"http://127.0.0.1:{server.port}"
    ws_url = f"ws://127.0.0.1:{server.port}/ocpp/JS-PROFILE"
    station = f"{origin}/station.html?csms=ws://127.0.0.1:{server.port}/ocpp"
    run = "c => window.pyodide.runPythonAsync(c)"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path(), args=CHROMIUM_ARGS
            )
            page = new_context(browser).new_page()
            page.goto(station)
            page.wait_for_function("window.done !== undefined")
            page.evaluate("window.done")
            page.evaluate(run, RUN_CALLS.format(n=200, concurrency=1))  # warm up
            pieces = json.loads(page.evaluate(run, PIECES.format(n=args.calls)))
            pieces["WebSocket.send from JS"] = float(page.evaluate(JS_SEND, [ws_url, args.calls]))
            print(f"pieces of a round trip, us each (mean of {args.calls:,})")
            for name, us in pieces.items():
                print(f"  {name:58}{us:>8.1f}")
            flight = args.concurrency
            cdp = page.context.new_cdp_session(page)
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 50})
            for label, script, argument in (
                ("BrowserOCPPClient", run, RUN_CALLS.format(n=args.calls, concurrency=flight)),
                ("plain-JS loop", JS_LOOP, [ws_url, args.calls, flight]),
            ):
                cdp.send("Profiler.start")
                page.evaluate(script, argument)
                profile = cdp.send("Profiler.stop")["profile"]
                report(f"{label}, {flight} in flight", profile, args.calls, args.top)
            stats = page.evaluate(run, CPROFILE.format(n=args.calls, top=args.top))
            print(f"\ncProfile in Pyodide, {args.calls:,} sequential round trips")
            print("\n".join(stats.splitlines()[: args.top + 12]))
    finally:
        loop.run(server.close())
        loop.stop()


if __name__ == "__main__":
    main()
