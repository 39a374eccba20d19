"""How many emulated stations one CPython process holds: ``browser_ocpp.fleet`` runs of
growing size against the demo CSMS in a process of its own, each beside the smallest
run (the baseline) of the same invocation.

Per run: the fleet process's CPU and the CSMS process's (user + system, as a share of
one core over the run), how late the fleet's event loop runs (p99 of a 50 ms sleep's
overshoot), the fleet process's peak RSS, calls per second, the worst per-action p99
and the Heartbeat p99 (both measured at the station: call sent -> answer), errors and
disconnects.  The profile
is the CLI's default (meter values every 5 s while charging, sessions of 5-30 s after
2-10 s idle, 2 connectors) with a Heartbeat every 10 s.

    .venv/bin/python bench/fleet.py [--sizes 10,500,1000] [--duration 20] [--ramp 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time

from browser_ocpp.fleet import Fleet, FleetConfig, FleetSnapshot, Profile, percentile

CSMS = """
import asyncio, sys
from browser_ocpp.demo.csms import DemoCSMS
from browser_ocpp.server import OCPPServer

async def main():
    server = OCPPServer(protocols=["ocpp1.6"])
    DemoCSMS(server)
    print(await server.listen(0, "127.0.0.1"), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    await server.close()

asyncio.run(main())
"""


def raise_nofile() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def one_run(stations: int, duration: float, ramp: float) -> str:
    """A fresh CSMS process and one fleet of ``stations``; the result row."""
    csms = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CSMS,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert csms.stdout is not None and csms.stdin is not None
    port = int(await asyncio.wait_for(csms.stdout.readline(), 30))
    profile = Profile(heartbeat_s=10.0)
    config = FleetConfig(
        f"ws://127.0.0.1:{port}/ocpp",
        stations=stations,
        duration_s=duration,
        ramp_s=ramp,
        profile=profile,
        identity_prefix=f"B{stations}-",
    )
    lags: list[float] = []
    probe = asyncio.ensure_future(loop_lag(lags))
    csms_before = process_cpu(csms.pid)
    before = os.times()
    wall = time.perf_counter()
    result = await Fleet(config).run()
    wall = time.perf_counter() - wall
    after = os.times()
    csms_cpu = process_cpu(csms.pid) - csms_before
    probe.cancel()
    csms.stdin.close()
    await asyncio.wait_for(csms.wait(), 30)
    cpu = (after.user - before.user) + (after.system - before.system)
    lag = percentile(sorted(lags), 99) * 1000 if lags else 0.0
    return row(stations, result, cpu / wall, wall, csms_cpu / wall, lag)


async def loop_lag(lags: list[float]) -> None:
    """How late the fleet's event loop wakes a 50 ms sleep: whether the stations'
    side keeps up (a late loop delays sending calls and reading answers)."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(0.05)
        lags.append(loop.time() - start - 0.05)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` so far, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def row(
    stations: int,
    result: FleetSnapshot,
    cpu_share: float,
    wall: float,
    csms_share: float,
    lag_ms: float,
) -> str:
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worst = max(result.actions, key=lambda figures: figures.p99_ms)
    heartbeat = result.action("Heartbeat")
    beat = f"{heartbeat.p99_ms:.1f}" if heartbeat is not None else "-"
    return (
        f"| {stations:,} | {result.boots.accepted:,} | {cpu_share:.0%} | {csms_share:.0%} | "
        f"{lag_ms:.1f} | {peak_mb:,.0f} MB | "
        f"{result.calls / wall:,.0f} | {beat} | {worst.p99_ms:.1f} ({worst.action}) | "
        f"{result.errors} | {result.disconnects} |"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,500,1000", help="fleet sizes, smallest first")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--ramp", type=float, default=5.0)
    args = parser.parse_args()
    raise_nofile()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()}")
    print(f"{args.duration:g} s per run, stations started over {args.ramp:g} s")
    print("| stations | booted | fleet CPU | CSMS CPU | fleet loop lag p99 ms |", end="")
    print(" fleet peak RSS | calls/s | Heartbeat p99 ms | worst p99 ms | errors | disconnects |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        print(await one_run(size, args.duration, args.ramp), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
