"""Our server against ocpp-ws-io and bare ``websockets``, all driven by one Node load generator.

Every server runs pinned to core 0 (``bench/server.py``'s server processes for ours and
the bare ``websockets`` + ``json`` loop; ``bench/node/ocpp_ws_io_server.js`` for ocpp-ws-io
2.x, strict mode off, its default); the same Node ``ws`` generator
(``bench/node/load.js``) runs pinned to core 1: ``--stations`` stations, one Heartbeat
outstanding each (OCPP 1.6), a warm-up, then ``--seconds`` measured. Rounds run in
rotating order; the best round of each server is kept (undisturbed by other processes
first, then the highest calls/s) and the ratios below are between those, all from this
one run. The processes run with the default process settings (no glibc variables),
which is what users get. Ours runs as a pure-Python install (``off``, ``on``: orjson made
unimportable) and on the speed extra (``off-speed``, ``on-speed``: orjson).
``--pinned-malloc`` adds ``bench/server.py``'s ``PINNED_MALLOC`` to every process for
comparison.

    (cd bench/node && npm ci)   # once: ocpp-ws-io and ws from the pinned lock file
    .venv/bin/python bench/baselines.py [--seconds S] [--stations N] [--rounds R]
                                        [--servers ocpp-ws-io,bare,off,on,off-speed,on-speed]
                                        [--pinned-malloc]
    BENCH_PROFILE=1 ...  # cProfile in our servers during the window (slows them down)

``--before DIR`` adds rows for our server (strict off and on) importing ``browser_ocpp``
from ``DIR`` instead (for example ``git archive HEAD~1 browser_ocpp | tar x -C DIR``):
a before/after comparison in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import server as bench  # bench/server.py: its server processes and helpers

NODE_DIR = os.path.join(bench.BENCH_DIR, "node")
DEFAULT_KINDS = ("ocpp-ws-io", "bare", "off", "on", "off-speed", "on-speed")
KINDS = (*DEFAULT_KINDS, "on-speed-uvloop")
LABELS = {
    "ocpp-ws-io": "ocpp-ws-io 2.x, strict off",
    "bare": "bare websockets + json",
    "off": "ours, strict off",
    "on": "ours, strict on",
    "off-speed": "ours, strict off, speed extra",
    "on-speed": "ours, strict on, speed extra",
    "on-speed-uvloop": "ours, strict on, speed, uvloop",
    "off-before": "ours, strict off (--before)",
    "on-before": "ours, strict on (--before)",
}
WARMUP_S = 1.0


@dataclass
class Row:
    kind: str
    rounds: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=dict)
    profile: list[str] = field(default_factory=list)


def node_command(*args: str, core: int) -> list[str]:
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node is not installed")
    taskset = shutil.which("taskset")
    pinned = [taskset, "-c", str(core)] if taskset else []
    return [*pinned, node, *args]


async def spawn(name: str, command: list[str], env: dict[str, str]) -> bench.Child:
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=NODE_DIR,
        env={**os.environ, **env},
    )
    return bench.Child(name, process)


async def start_server(
    kind: str, env: dict[str, str], before: str = ""
) -> tuple[bench.Child, int, int]:
    if kind == "ocpp-ws-io":
        command = node_command("ocpp_ws_io_server.js", "0", bench.HOST, core=bench.SERVER_CORE)
        child = await spawn("server ocpp-ws-io", command, env)
        _, port, _, pid = (await child.expect("PORT", 30.0)).split()
        return child, int(port), int(pid)
    if kind.endswith("-before"):
        kind, env = kind.removesuffix("-before"), {**env, "PYTHONPATH": before}
    return await bench.start_server(kind, bench.server_settings(), env)


async def measure(
    row: Row, stations: int, seconds: float, env: dict[str, str], before: str = ""
) -> None:
    server, port, server_pid = await start_server(row.kind, env, before)
    generator: bench.Child | None = None
    python = row.kind != "ocpp-ws-io"
    try:
        command = node_command(
            "load.js",
            *("--port", str(port), "--stations", str(stations)),
            *("--seconds", str(seconds), "--warmup", str(WARMUP_S)),
            core=bench.GENERATOR_CORE,
        )
        generator = await spawn(f"load {row.kind}", command, env)
        me = generator.process.pid
        line = await generator.expect(("MARK start", "RESULT"), 120.0)
        result: dict[str, Any]
        if line.startswith("MARK"):
            if python:
                await server.send("PROFILE START")
            cores0 = bench.core_ticks()
            server0, gen0 = bench.process_ticks(server_pid), bench.process_ticks(me)
            await generator.expect("MARK end", seconds + 60.0)
            cores1 = bench.core_ticks()
            server1, gen1 = bench.process_ticks(server_pid), bench.process_ticks(me)
            if python:
                await server.send("PROFILE STOP")
            line = await generator.expect("RESULT", 60.0)
            result = json.loads(line[len("RESULT ") :])
            ticks = result["seconds"] * os.sysconf("SC_CLK_TCK")
            result["server_cpu"] = 100.0 * (sum(server1) - sum(server0)) / ticks
            result["server_user_cpu"] = 100.0 * (server1[0] - server0[0]) / ticks
            result["server_sys_cpu"] = 100.0 * (server1[1] - server0[1]) / ticks
            result["generator_cpu"] = 100.0 * (sum(gen1) - sum(gen0)) / ticks
            result["core_busy"] = {
                str(core): 100.0
                * (cores1[core][0] - cores0[core][0])
                / max(1, cores1[core][1] - cores0[core][1])
                for core in cores1
                if core in cores0
            }
        else:
            result = json.loads(line[len("RESULT ") :])
        row.rounds.append(result)
        if "rate" in result and (not row.best or bench.rank(result) > bench.rank(row.best)):
            row.best = result
        await generator.stop()
        output = await server.finish(30.0)
        if "PROFILE BEGIN" in output and "PROFILE END" in output:
            row.profile = output[output.index("PROFILE BEGIN") + 1 : output.index("PROFILE END")]
    finally:
        if generator is not None:
            await generator.stop()
        await server.stop()


def node_versions() -> str:
    """Node's version and the installed ocpp-ws-io and ws (the generator's)."""
    found = []
    for package in ("ocpp-ws-io", "ws"):
        with open(os.path.join(NODE_DIR, "node_modules", package, "package.json")) as file:
            found.append(f"{package} {json.load(file)['version']}")
    node = shutil.which("node") or "node"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    return f"Node {version.stdout.strip()}, " + ", ".join(found)


def report_round(row: Row, t: dict[str, Any]) -> None:
    label = LABELS[row.kind]
    if "error" in t:
        print(f"  {label:<30} FAILED: {t['error']}")
        return
    other = bench.foreign_load(t)
    print(
        f"  {label:<30} {t['rate']:>8,.0f} calls/s  p50 {t['p50_ms']:6.2f} ms  "
        f"p99 {t['p99_ms']:6.2f} ms  CPU server {t['server_cpu']:3.0f}% generator "
        f"{t['generator_cpu']:3.0f}%  other load on the cores {other:3.0f}%"
    )
    if t["bad_responses"] or t["lost"] or t["left_outstanding"]:
        print(
            f"  WARNING: {t['bad_responses']} bad responses, {t['lost']} connections lost, "
            f"{t['left_outstanding']} calls unanswered at the end"
        )


def ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:.2f}x" if value and base else "-"


def table(rows: list[Row]) -> list[str]:
    by_kind = {row.kind: row for row in rows}
    owi = by_kind.get("ocpp-ws-io", Row("")).best
    bare = by_kind.get("bare", Row("")).best
    owi_median = median_rate(by_kind.get("ocpp-ws-io", Row("")))
    lines = [
        f"{'server':<30} {'calls/s':>9} {'median':>9} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'us CPU/call':>11} {'x ocpp-ws-io':>12} {'x bare':>7} {'median x owi':>12} "
        f"{'CPU/call x owi':>14}"
    ]
    for row in rows:
        t = row.best
        if "rate" not in t:
            lines.append(f"{LABELS[row.kind]:<30} {'failed':>9}")
            continue
        median = median_rate(row)
        cost = bench.cpu_per_call(t)
        owi_cost = bench.cpu_per_call(owi) if owi else None
        lines.append(
            f"{LABELS[row.kind]:<30} {t['rate']:>9,.0f} {median or 0.0:>9,.0f} {t['p50_ms']:>7.2f} "
            f"{t['p99_ms']:>7.2f} {cost or 0.0:>11.1f} "
            f"{ratio(t['rate'], owi.get('rate')):>12} {ratio(t['rate'], bare.get('rate')):>7} "
            f"{ratio(median, owi_median):>12} {ratio(cost, owi_cost):>14}"
        )
    return lines


def median_rate(row: Row) -> float | None:
    rates = [r["rate"] for r in row.rounds if "rate" in r]
    return statistics.median(rates) if rates else None


LEGEND = (
    "calls/s and p50/p99: the best round of each server (median: of all its rounds);",
    "x ocpp-ws-io, x bare: calls/s relative to those servers' best rounds in this run;",
    "median x owi: the median round relative to ocpp-ws-io's median round.",
    "us CPU/call: server CPU (user + system, all threads) per call, less sensitive to",
    "other load than calls/s; CPU/call x owi: relative to ocpp-ws-io's (below 1: cheaper).",
)


async def run(
    seconds: float,
    stations: int,
    rounds: int,
    kinds: list[str],
    pinned_malloc: bool,
    before: str = "",
) -> int:
    bench.raise_nofile()
    for line in bench.environment():
        print(line)
    print(f"Node baselines: {node_versions()}")
    env = dict(bench.PINNED_MALLOC) if pinned_malloc else {}
    print(
        "process settings: "
        + (" ".join(f"{k}={v}" for k, v in env.items()) if env else "defaults (no MALLOC_ env)")
    )
    if os.environ.get("BENCH_PROFILE") == "1":
        print("BENCH_PROFILE=1: our servers run cProfile in the window; their rates are slowed.")
    print(
        f"{stations} stations x 1 outstanding Heartbeat (OCPP 1.6), {WARMUP_S:g} s warm-up + "
        f"{seconds:g} s, {rounds} round(s) in rotating order; server on core "
        f"{bench.SERVER_CORE}, generator on core {bench.GENERATOR_CORE}; load average "
        f"{bench.loadavg()}"
    )
    rows = [Row(kind) for kind in kinds]
    for number in range(rounds):
        print(f"round {number + 1}:")
        for index in range(len(rows)):
            row = rows[(index + number) % len(rows)]
            await measure(row, stations, seconds, env, before)
            report_round(row, row.rounds[-1])
    print()
    for line in table(rows):
        print(line)
    for line in LEGEND:
        print(line)
    print(f"load average at the end: {bench.loadavg()}")
    for row in rows:
        if row.profile:
            print()
            print(f"profile of {LABELS[row.kind]} (its last round's window):")
            for line in row.profile:
                print(f"  {line}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window")
    parser.add_argument("--stations", type=int, default=100, help="stations, 1 call each")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (best kept)")
    parser.add_argument(
        "--servers",
        default=",".join(DEFAULT_KINDS),
        help="comma-separated, of " + ",".join(KINDS),
    )
    parser.add_argument(
        "--pinned-malloc",
        action="store_true",
        help="run every process with bench/server.py's PINNED_MALLOC glibc settings",
    )
    parser.add_argument(
        "--before",
        default="",
        metavar="DIR",
        help="also run our server importing browser_ocpp from DIR (strict off and on)",
    )
    args = parser.parse_args()
    kinds = [k for k in args.servers.split(",") if k]
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "ocpp-ws-io")):
        raise SystemExit("install the Node baselines first: (cd bench/node && npm ci)")
    if any(k not in KINDS for k in kinds) or not kinds:
        parser.error(f"--servers: choose among {', '.join(KINDS)}")
    if args.before:
        args.before = os.path.abspath(args.before)
        if not os.path.isdir(os.path.join(args.before, "browser_ocpp")):
            parser.error(f"--before: no browser_ocpp in {args.before}")
        kinds += [f"{k}-before" for k in ("off", "on") if k in kinds]
    if not 0 < args.seconds <= 300 or not 0 < args.stations <= 10_000 or not 0 < args.rounds <= 20:
        parser.error("--seconds in (0, 300], --stations in (0, 10000], --rounds in [1, 20]")
    raise SystemExit(
        asyncio.run(
            run(args.seconds, args.stations, args.rounds, kinds, args.pinned_malloc, args.before)
        )
    )


if __name__ == "__main__":
    main()
