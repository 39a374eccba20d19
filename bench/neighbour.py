"""A well-behaved station's round trips while another station sends invalid payloads.

One strict-mode OCPPServer in its own process. In this process, station A sends
500 Heartbeats a second on a fixed schedule and records each round trip; station B, in the
"noisy" phase, sends ``--rate`` MeterValues a second of about 64 KB each that fail
validation: ``--bad all`` (every sample has a bad unit: the most errors to collect)
or ``--bad last`` (only the last one: the latest place to find an error).
The quiet phase (B connected, silent) is the baseline, measured in the same run.

    .venv/bin/python bench/neighbour.py [--seconds S] [--rate N] [--rounds R] [--tree DIR]

``--tree DIR`` runs the server from another checkout (its ``browser_ocpp``), to
compare a change with what came before it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from typing import Any

from browser_ocpp import OCPPClient, RPCError

HEARTBEATS_PER_S = 500

SERVER = """
import asyncio, sys
from browser_ocpp import OCPPServer

async def main():
    server = OCPPServer(protocols=["ocpp1.6"], strict_mode=True)
    server.on("client", lambda c: (
        c.handle("Heartbeat", lambda ctx: {"currentTime": "2024-01-01T00:00:00Z"}),
        c.handle("MeterValues", lambda ctx: {}),
    ))
    port = await server.listen(0)
    print(port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.close()

asyncio.run(main())
"""


def invalid_meter_values(bad: str = "all") -> dict[str, Any]:
    """About 64 KB of samples, all or only the last with a unit no schema allows."""
    sample = {"value": "1234.5", "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
    samples = [dict(sample) for _ in range(800)]  # under the 64 KiB frame limit
    for wrong in samples if bad == "all" else samples[-1:]:
        wrong["unit"] = "bogus"
    value = {"timestamp": "2024-01-01T00:00:00Z", "sampledValue": samples}
    return {"connectorId": 1, "transactionId": 1, "meterValue": [value]}


async def heartbeats(station: OCPPClient, seconds: float, per_second: float) -> list[float]:
    """Round trips (ms) of Heartbeats sent on a fixed schedule (``per_second``, each
    on its own, whether or not the one before was answered) for ``seconds``: a
    stall of the server then delays every call made during it, as it would delay a
    fleet's."""
    times: list[float] = []

    async def one() -> None:
        started = time.perf_counter()
        await station.call("Heartbeat", {})
        times.append((time.perf_counter() - started) * 1000)

    calls: list[asyncio.Task[None]] = []
    start = time.perf_counter()
    for number in range(int(seconds * per_second)):
        delay = start + number / per_second - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # the schedule itself, not a wait for a result
        calls.append(asyncio.ensure_future(one()))
    await asyncio.wait_for(asyncio.gather(*calls), 120)
    return times


async def noise(station: OCPPClient, rate: float, bad: str, stop: asyncio.Event) -> int:
    """Invalid payloads at ``rate`` a second until ``stop``; returns how many went."""
    payload = invalid_meter_values(bad)
    sent = 0
    while not stop.is_set():
        started = time.perf_counter()
        try:
            await station.call("MeterValues", payload)
        except RPCError:
            sent += 1  # refused, as it must be
        pause = 1 / rate - (time.perf_counter() - started)
        if pause > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause)
    return sent


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(seconds: float, rate: float, bad: str, rounds: int, tree: str | None) -> None:
    env = dict(os.environ, PYTHONPATH=tree) if tree else None
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SERVER,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,  # its security-event log lines
        env=env,
        cwd=tree,  # for -c, the working folder comes first on sys.path
    )
    try:
        assert server.stdout is not None
        port = int(await server.stdout.readline())
        url = f"ws://127.0.0.1:{port}"
        good = OCPPClient(
            identity="GOOD", endpoint=url, protocols=["ocpp1.6"], call_concurrency=10_000
        )
        noisy = OCPPClient(identity="NOISY", endpoint=url, protocols=["ocpp1.6"])
        await good.connect()
        await noisy.connect()
        size = len(json.dumps(invalid_meter_values(bad), separators=(",", ":")))
        print(f"invalid payload ({bad} bad): {size:,} bytes, {rate:g}/s; {seconds:g} s a phase")
        print(f"{'round':<6} {'phase':<7} {'calls':>7} {'p50 ms':>8} {'p99 ms':>8}")
        for number in range(1, rounds + 1):
            quiet = await heartbeats(good, seconds, HEARTBEATS_PER_S)
            stop = asyncio.Event()
            noisy_task = asyncio.ensure_future(noise(noisy, rate, bad, stop))
            loud = await heartbeats(good, seconds, HEARTBEATS_PER_S)
            stop.set()
            refused = await noisy_task
            for phase, times in (("quiet", quiet), (f"noisy ({refused} refused)", loud)):
                print(
                    f"{number:<6} {phase:<7} {len(times):>7} {percentile(times, 0.5):>8.2f} "
                    f"{percentile(times, 0.99):>8.2f}"
                )
            ratio = statistics.median(loud) / statistics.median(quiet)
            print(f"{'':<6} p50 noisy / quiet: {ratio:.2f}x")
        await good.close()
        await noisy.close()
    finally:
        await asyncio.wait_for(server.communicate(b""), 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase (0.5 to 60)")
    parser.add_argument("--rate", type=float, default=10.0, help="invalid payloads a second")
    parser.add_argument("--bad", choices=["all", "last"], default="all", help="which samples")
    parser.add_argument("--rounds", type=int, default=2, help="1 to 10")
    parser.add_argument("--tree", help="run the server from this checkout's browser_ocpp")
    args = parser.parse_args()
    if not (0.5 <= args.seconds <= 60 and 0 < args.rate <= 1000 and 1 <= args.rounds <= 10):
        parser.error("--seconds 0.5..60, --rate 0..1000, --rounds 1..10")
    asyncio.run(run(args.seconds, args.rate, args.bad, args.rounds, args.tree))


if __name__ == "__main__":
    main()
