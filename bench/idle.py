"""Memory per idle station with every guard on, beside a bare websockets server.

The goal (issue 10): every guard on (rate limits, connection limits, CORS rules,
/health and /metrics, the send budget) costs at most 2 KiB per idle connection above
a bare ``websockets`` server. This runs only bench/server.py's memory measurement
(its server processes, its idle station generator, its RSS reading, its ``guards``
settings) for the bare server, ours with the default options and ours with every
guard on, in turn, ``--rounds`` times, and reports each one's median.

    .venv/bin/python bench/idle.py [--stations N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as bench  # bench/server.py, beside this file

KINDS = ("bare", "off", "guards")
GOAL_BYTES = 2048
"""At most this much more per idle connection than the bare server, every guard on."""


async def run(stations: int, rounds: int) -> int:
    limit = bench.raise_nofile()
    for line in bench.environment():
        print(line)
    if limit < stations + bench.MEMORY_WARM_STATIONS + 64:
        print(f"note: RLIMIT_NOFILE hard limit is {limit}: fewer than {stations:,} may connect")
    print(f"every guard on: {bench.GUARDS} and cors(allowed_origins, allowed_ips)")
    print(
        f"RSS per idle connection, {stations:,} stations (after {bench.MEMORY_WARM_STATIONS} "
        f"warm-up connections, kept and not counted), {rounds} round(s):"
    )
    settings = bench.server_settings()
    figures: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for number in range(rounds):
        for kind in KINDS:
            row = bench.Row(kind)
            await bench.measure_memory(row, settings, stations)
            measured = "-" if row.per_connection is None else f"{row.per_connection:,.0f} B"
            print(
                f"  round {number + 1}: {bench.LABELS[kind]:<24} {measured:>9}  {row.memory_note}"
            )
            if row.per_connection is not None:
                figures[kind].append(row.per_connection)
    if not all(figures.values()):
        print("some servers could not be measured")
        return 1
    median = {kind: statistics.median(values) for kind, values in figures.items()}
    print()
    print(f"{'server':<24} {'B/conn':>8} {'vs bare':>9}")
    for kind in KINDS:
        extra = median[kind] - median["bare"]
        print(f"{bench.LABELS[kind]:<24} {median[kind]:>8,.0f} {extra:>+9,.0f}")
    extra = median["guards"] - median["bare"]
    verdict = "within" if extra <= GOAL_BYTES else "OVER"
    goal = f"{verdict} the goal of +{GOAL_BYTES:,} B"
    print(f"every guard on: {extra:+,.0f} B per idle connection, {goal}")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=5000, help="idle connections")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (the median is kept)")
    args = parser.parse_args()
    if not 0 < args.stations <= 50_000 or not 0 < args.rounds <= 10:
        parser.error("--stations must be in (0, 50000], --rounds in [1, 10]")
    raise SystemExit(asyncio.run(run(args.stations, args.rounds)))


if __name__ == "__main__":
    main()
