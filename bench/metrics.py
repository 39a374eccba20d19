"""Metrics benchmark: what ``health_endpoint=True`` costs per call, and what a scrape costs.

Uses ``bench/server.py``'s processes: the server pinned to core 0, its lean load
generator (pre-built masked frames, no WebSocket library per message) pinned to core 1.

* throughput: ``THROUGHPUT_STATIONS`` stations, one Heartbeat outstanding each, against
  OCPPServer with metrics off and on, in alternating order for ``--rounds`` rounds:
  calls/s and server CPU per call, each kind's median round and best round, and the
  median over rounds of the ratio on/off of server user CPU per call (a pair of runs
  back to back shares the machine's load: the figure to read on a busy machine);
* the hook alone: what a connection pays per call with metrics on (two clock reads and
  ``ServerMetrics.inbound``), timed in this process (best of repeats), against the
  server's user CPU per call with metrics off;
* scrape: the rendering of ``/metrics`` inside the server, and ``GET /metrics`` over
  HTTP from another process, each ``--scrapes`` times (best and median: on a shared
  machine the best is the cost, the rest is waiting for the core): with the label set
  of a typical OCPP 1.6 CSMS (8 actions in, 6 out) and no station, then with
  ``--stations`` idle stations (the difference is what stations cost a scrape), then
  with every OCPP 1.6 and 2.0.1 action counted both ways (the largest label set
  without vendor actions).

    .venv/bin/python bench/metrics.py [--seconds S] [--rounds R] [--stations N] [--quick]
                                      [--no-wait]  # do not wait for quiet cores first
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import timeit
from typing import Any

from browser_ocpp.rpc.errors import CallTimeoutError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import server as bench  # bench/server.py: its generator, child processes and helpers

KINDS = ("off", "on")
LABELS = {"off": "metrics off", "on": "metrics on"}
CHILD_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); import metrics; metrics.child_main(sys.argv[2:])"
)


# -- the server process ----------------------------------------------------------------------


def child_main(argv: list[str]) -> None:
    bench.raise_nofile()
    bench.pin(bench.SERVER_CORE)
    asyncio.run(serve_main(argv[0] == "on"))


TYPICAL_IN = (
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "MeterValues",
    "Authorize",
    "StartTransaction",
    "StopTransaction",
    "DataTransfer",
)
TYPICAL_OUT = (
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "Reset",
    "ChangeConfiguration",
    "GetConfiguration",
    "TriggerMessage",
)


def fill(server: Any, which: str) -> int:
    """Count calls as a CSMS would see them: ``typical`` (a 1.6 CSMS's actions, a few
    outcomes each) or ``all`` (every 1.6 and 2.0.1 action, both ways)."""
    from browser_ocpp.rpc.versions import OCPP16, OCPP201, known_actions

    every = sorted(known_actions(OCPP16) | known_actions(OCPP201))
    inbound, outbound = (TYPICAL_IN, TYPICAL_OUT) if which == "typical" else (every, every)
    loop = asyncio.get_running_loop()
    for action in inbound:
        for outcome in ("ok", "InternalError", "FormationViolation"):
            server.metrics.inbound(action, outcome, 0.001)
    for action in outbound:
        for error in (None, CallTimeoutError("late")):
            done = loop.create_future()
            if error is None:
                done.set_result({})
            else:
                done.set_exception(error)
            server.metrics.outbound(action, done, 0.02)
    return len(set(inbound) | set(outbound))


def render_times(server: Any, count: int) -> tuple[list[float], int]:
    """Milliseconds to render /metrics in the server (no HTTP), and the body size."""
    from prometheus_client import generate_latest

    times, size = [], 0
    for _ in range(count):
        started = time.perf_counter()
        size = len(generate_latest(server.metrics.registry))
        times.append(1000 * (time.perf_counter() - started))
    return times, size


async def serve_main(on: bool) -> None:
    from browser_ocpp.server import OCPPServer, OCPPServerClient

    deadline = time.monotonic() + bench.CHILD_LIFETIME_S
    ours = OCPPServer(protocols=[bench.PROTOCOL], health_endpoint=on)
    answer = {"currentTime": bench.CURRENT_TIME}

    def on_client(client: OCPPServerClient) -> None:
        client.handle("Heartbeat", lambda ctx: answer)

    ours.on("client", on_client)
    port = await ours.listen(0, bench.HOST)
    bench.say(f"PORT {port} PID {os.getpid()}")
    async for line in bench.command_lines(deadline):
        verb, _, argument = line.partition(" ")
        if verb == "FILL":
            bench.say(f"FILLED {fill(ours, argument)}")
        elif verb == "COUNT":
            bench.say(f"COUNT {len(ours.clients)}")
        elif verb == "RENDER":
            times, size = render_times(ours, int(argument))
            bench.say("RENDERED " + json.dumps({"ms": times, "bytes": size}))
    await ours.close()
    bench.say("BYE")


# -- the parent --------------------------------------------------------------------------------


async def start(kind: str, env: dict[str, str] | None = None) -> tuple[bench.Child, int, int]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD_BOOT,
        bench.BENCH_DIR,
        kind,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    child = bench.Child(f"server {kind}", process)
    _, port, _, pid = (await child.expect("PORT", 30.0)).split()
    return child, int(port), int(pid)


async def throughput_round(kind: str, seconds: float) -> dict[str, Any]:
    env = bench.PINNED_MALLOC
    server, port, pid = await start(kind, env)
    generator: bench.Child | None = None
    try:
        generator = await bench.Child.spawn(
            f"load {kind}",
            "load",
            str(port),
            str(pid),
            str(bench.THROUGHPUT_STATIONS),
            str(seconds),
            env=env,
        )
        line = await generator.expect("RESULT", seconds + 90.0)
        result: dict[str, Any] = json.loads(line[len("RESULT ") :])
        await server.finish(30.0)
        return result
    finally:
        if generator is not None:
            await generator.stop()
        await server.stop()


async def http_get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(bench.HOST, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {bench.HOST}:{port}\r\n\r\n".encode())
    raw = await asyncio.wait_for(reader.read(), 30.0)
    writer.close()
    await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def timed_scrapes(
    server: bench.Child, port: int, scrapes: int, label: str, connected: int
) -> None:
    """Render ``scrapes`` times in the server, then GET /metrics as often; print both."""
    await server.send(f"RENDER {scrapes}")
    rendered = json.loads((await server.expect("RENDERED", 120.0))[len("RENDERED ") :])
    over_http = []
    for _ in range(scrapes):
        started = time.perf_counter()
        status, _ = await http_get(port, "/metrics")
        over_http.append(1000 * (time.perf_counter() - started))
        if status != 200:
            raise RuntimeError(f"/metrics answered {status}")
    render = rendered["ms"]
    print(
        f"  {label:<34} {connected:>6,} stations {rendered['bytes']:>9,} bytes   render "
        f"best {min(render):6.2f} ms, median {statistics.median(render):6.2f}   HTTP best "
        f"{min(over_http):6.2f} ms, median {statistics.median(over_http):6.2f}"
    )


async def scrape_cost(stations: int, scrapes: int) -> None:
    server, port, _ = await start("on")
    generator: bench.Child | None = None
    try:
        await server.send("FILL typical")
        typical = (await server.expect("FILLED", 10.0)).split()[1]
        print(f"scrape ({scrapes} times each; render: in the server, HTTP: from another process)")
        await timed_scrapes(server, port, scrapes, f"typical CSMS ({typical} actions)", 0)
        generator = await bench.Child.spawn("idle", "idle", str(port))
        await generator.send(f"CONNECT {stations}")
        _, total, problem = (
            await generator.expect("CONNECTED", bench.RAMP_DEADLINE_S + 60.0)
        ).split(" ", 2)
        deadline = time.monotonic() + 30.0
        while True:  # the server's view: every station through its handshake
            await server.send("COUNT")
            connected = int((await server.expect("COUNT", 10.0)).split()[1])
            if connected >= int(total) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        if problem != "ok":
            print(f"  (connecting stopped early: {problem})")
        await timed_scrapes(server, port, scrapes, f"typical CSMS ({typical} actions)", connected)
        await server.send("FILL all")
        every = (await server.expect("FILLED", 10.0)).split()[1]
        label = f"every action both ways ({every})"
        await timed_scrapes(server, port, scrapes, label, connected)
        await generator.finish(60.0)
        await server.finish(30.0)
    finally:
        if generator is not None:
            await generator.stop()
        await server.stop()


def summary(kind: str, rounds: list[dict[str, Any]]) -> dict[str, float]:
    good = [r for r in rounds if "rate" in r]
    rates = [float(r["rate"]) for r in good]
    costs = [bench.cpu_per_call(r) or 0.0 for r in good]
    users = [bench.cpu_per_call(r, "server_user_cpu") or 0.0 for r in good]
    return {
        "best": max(rates, default=0.0),
        "median": statistics.median(rates) if rates else 0.0,
        "us_per_call": statistics.median(costs) if costs else 0.0,
        "user_us_per_call": statistics.median(users) if users else 0.0,
    }


def hook_ns() -> float:
    """Nanoseconds per call of what a connection runs with metrics on, best of 7."""
    from browser_ocpp.server import OCPPServer

    metrics = OCPPServer(health_endpoint=True).metrics
    assert metrics is not None
    clock = time.perf_counter

    def hook() -> None:
        started = clock()
        metrics.inbound("Heartbeat", "ok", clock() - started)

    def bare() -> None:
        pass

    count = 200_000
    best = min(timeit.repeat(hook, number=count, repeat=7))
    empty = min(timeit.repeat(bare, number=count, repeat=7))
    return 1e9 * (best - empty) / count


async def run(seconds: float, rounds: int, stations: int, scrapes: int, wait: bool) -> int:
    bench.raise_nofile()
    for line in bench.environment():
        print(line)
    print(
        f"throughput: {bench.THROUGHPUT_STATIONS} stations x 1 outstanding Heartbeat, "
        f"{bench.WARMUP_S:.0f} s warm-up + {seconds:g} s, {rounds} round(s) per kind, "
        "alternating order"
    )
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for number in range(rounds):
        for kind in KINDS if number % 2 == 0 else tuple(reversed(KINDS)):
            waited = await bench.wait_for_quiet_cores() if wait else ""
            if waited:
                print(f"  ({waited})")
            result = await throughput_round(kind, seconds)
            results[kind].append(result)
            if "rate" not in result:
                print(f"  {LABELS[kind]:<12} FAILED: {result.get('error')}")
                continue
            disturbed = bench.foreign_load(result) > bench.FOREIGN_LOAD_WARNING
            print(
                f"  {LABELS[kind]:<12} {result['rate']:>8,.0f} calls/s, p50 "
                f"{result['p50_ms']:.2f} ms, server {bench.cpu_per_call(result) or 0:.1f} us "
                f"CPU per call (user {bench.cpu_per_call(result, 'server_user_cpu') or 0:.1f})"
                + (" [other load on the cores]" if disturbed else "")
            )
    off, on = summary("off", results["off"]), summary("on", results["on"])
    print()
    print(f"{'':<14}{'best calls/s':>14}{'median calls/s':>16}{'us CPU/call':>13}{'user us':>9}")
    for kind, figures in (("off", off), ("on", on)):
        print(
            f"{LABELS[kind]:<14}{figures['best']:>14,.0f}{figures['median']:>16,.0f}"
            f"{figures['us_per_call']:>13.1f}{figures['user_us_per_call']:>9.1f}"
        )
    if off["best"] and off["median"] and off["user_us_per_call"]:
        print(
            f"cost of metrics: {100 * (1 - on['best'] / off['best']):+.1f} % calls/s (best), "
            f"{100 * (1 - on['median'] / off['median']):+.1f} % (median), "
            f"{100 * (on['user_us_per_call'] / off['user_us_per_call'] - 1):+.1f} % "
            "user CPU per call (positive: metrics cost that much)"
        )
    ratios = [
        user_on / user_off
        for off_round, on_round in zip(results["off"], results["on"], strict=True)
        if (user_off := bench.cpu_per_call(off_round, "server_user_cpu"))
        and (user_on := bench.cpu_per_call(on_round, "server_user_cpu"))
    ]
    if ratios:
        print(
            f"rounds paired (off and on back to back): median on/off user CPU per call "
            f"{statistics.median(ratios):.3f} (from {min(ratios):.3f} to {max(ratios):.3f})"
        )
    hook = hook_ns()
    line = f"the hook alone: {hook:.0f} ns per call"
    if off["user_us_per_call"]:
        share = hook / (10 * off["user_us_per_call"])
        line += f", {share:.1f} % of the server's user CPU per call with metrics off"
    print(line)
    print()
    await scrape_cost(stations, scrapes)
    print(f"load average at the end: {bench.loadavg()}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="throughput window")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds per kind")
    parser.add_argument("--stations", type=int, default=2000, help="stations during scrapes")
    parser.add_argument("--scrapes", type=int, default=50, help="scrapes timed")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 s, 1 round, 200")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for quiet cores")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds, args.stations, args.scrapes = 2.0, 1, 200, 10
    if not 0 < args.seconds <= 300 or not 0 < args.rounds <= 30:
        parser.error("--seconds must be in (0, 300], --rounds in [1, 30]")
    if not 0 < args.stations <= 50_000 or not 0 < args.scrapes <= 1000:
        parser.error("--stations must be in (0, 50000], --scrapes in (0, 1000]")
    raise SystemExit(
        asyncio.run(run(args.seconds, args.rounds, args.stations, args.scrapes, not args.no_wait))
    )


if __name__ == "__main__":
    main()
