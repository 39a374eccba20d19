"""Cluster benchmark: worker processes on one port, and send_to_client across nodes.

In one run, against a redis-server of its own (free port, nothing saved, stopped by
PID), every server with the Redis adapter as in production:

* calls/s with 1 worker and with N workers under the same load: ``--stations``
  stations of the lean generator of ``bench/server.py`` (one process, pre-built
  frames), one Heartbeat outstanding each, for ``--seconds`` after a warm-up; CPU of
  the workers and of the generator. Nothing is pinned: on a 2-core machine the
  generator shares the cores with the workers, so read the ratio, not the absolutes.
* ``send_to_client`` round trip p50/p99: ``--calls`` DataTransfer calls one after the
  other from the node the station is connected to (local) and from another node
  (cross-node: through Redis, there and back).

    .venv/bin/python bench/cluster.py [--seconds S] [--stations N] [--workers N] [--calls N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
CURRENT_TIME = "2024-01-01T00:00:00Z"
WARMUP_S = 1.0
WIDTHS = (8, 9, 7, 7, 14, 16)
START_S = 30.0
NO_FILES = ("--appendonly", "no", "--loglevel", "warning")
CHILD_LIFETIME_S = 600.0
"""Every child exits by itself after this long, whatever happens to the parent."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def process_ticks(pid: int) -> int:
    """utime + stime of ``pid`` in clock ticks (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as file:
            return [int(child) for child in file.read().split()]
    except OSError:
        return []


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


# -- child roles ---------------------------------------------------------------------------


def serve_role(redis_url: str, workers: int, node_id: str) -> None:
    """Servers with the Redis adapter: ``workers`` processes on one port (node ids
    are the workers'), or one process named ``node_id``. Prints the port."""
    from browser_ocpp import OCPPServer
    from browser_ocpp.adapters import RedisAdapter
    from browser_ocpp.server.workers import run_workers

    signal.alarm(int(CHILD_LIFETIME_S))

    def make(name: str) -> OCPPServer:
        server = OCPPServer(protocols=["ocpp1.6"], logging=False)
        server.set_adapter(RedisAdapter(redis_url, node_id=name))
        server.on(
            "client",
            lambda client: client.handle("Heartbeat", lambda ctx: {"currentTime": CURRENT_TIME}),
        )

        async def latency(path: str, headers: Any) -> tuple[int, str, bytes]:
            query = dict(part.split("=", 1) for part in path.partition("?")[2].split("&"))
            samples = []
            for _ in range(int(query["calls"])):
                started = time.perf_counter()
                await server.send_to_client(query["identity"], "DataTransfer", {"vendorId": "b"})
                samples.append((time.perf_counter() - started) * 1000)
            return 200, "application/json", json.dumps(samples).encode()

        server.route("/latency", latency)
        return server

    def ready(port: int) -> None:
        print(port, flush=True)

    if workers:
        run_workers(lambda worker: make(worker.node_id), workers, 0, ready=ready)
        return

    async def single() -> None:
        server = make(node_id)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        ready(await server.listen(0))
        await stop.wait()
        await server.close()

    asyncio.run(single())


def load_role(port: int, stations: int, seconds: float) -> None:
    """The lean generator of bench/server.py: calls/s and round trips, as one JSON line."""
    sys.path.insert(0, str(BENCH_DIR))
    import server as lean  # bench/server.py

    signal.alarm(int(CHILD_LIFETIME_S))
    lean.raise_nofile()

    async def run() -> dict[str, Any]:
        load = lean.Load(port)
        opened: list[Any] = []
        problem = await lean.open_many(load, 0, stations, opened)
        if problem:
            return {"error": problem}
        load.running = True
        now = time.perf_counter()
        for station in opened:
            station.send_call(now)
        await asyncio.sleep(WARMUP_S)
        me = os.getpid()
        ticks, started = process_ticks(me), time.perf_counter()
        load.measuring = True
        await asyncio.sleep(seconds)
        load.measuring = False
        elapsed = time.perf_counter() - started
        cpu = 100.0 * (process_ticks(me) - ticks) / os.sysconf("SC_CLK_TCK") / elapsed
        load.running = False
        if load.outstanding:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(load.drained.wait(), 5.0)
        await lean.close_all(opened)
        latencies = load.latencies
        return {
            "rate": len(latencies) / elapsed,
            "p50_ms": 1000 * percentile(latencies, 0.5),
            "p99_ms": 1000 * percentile(latencies, 0.99),
            "generator_cpu": cpu,
            "lost": load.lost,
        }

    print(json.dumps(asyncio.run(run())), flush=True)


# -- the parent ----------------------------------------------------------------------------


class Child:
    """A child process of this script, stopped by PID."""

    def __init__(self, *arguments: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, *arguments], stdout=subprocess.PIPE, text=True
        )

    def line(self) -> str:
        assert self.process.stdout is not None
        text = self.process.stdout.readline()  # bounded: the child's alarm ends it
        if not text:
            raise RuntimeError(f"a child exited early ({self.process.wait()})")
        return text

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


class Redis:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("redis-server is missing: `make test` installs it (apt-get)")
        self.port = free_port()
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *NO_FILES],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_S
        while not self.ping():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit("redis-server did not start")
            time.sleep(0.02)  # bounded by the deadline
        version = subprocess.run([binary, "--version"], capture_output=True, text=True)
        self.version = version.stdout.split()[2].removeprefix("v=")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(15)


def throughput(redis: Redis, workers: int, stations: int, seconds: float) -> dict[str, Any]:
    server = Child("serve", redis.url, str(workers), "")
    try:
        port = int(server.line())
        pids = children(server.process.pid)
        before = sum(process_ticks(pid) for pid in pids)
        started = time.monotonic()
        load = Child("load", str(port), str(stations), str(seconds))
        try:
            result: dict[str, Any] = json.loads(load.line())
        finally:
            load.stop()
        elapsed = time.monotonic() - started
        used = sum(process_ticks(pid) for pid in pids) - before
        # Warm-up and ramp included: an upper bound on the measured window's share.
        result["workers_cpu"] = 100.0 * used / os.sysconf("SC_CLK_TCK") / elapsed
        return result
    finally:
        server.stop()


async def round_trips(redis: Redis, calls: int) -> dict[str, list[float]]:
    from browser_ocpp import OCPPClient

    nodes = [Child("serve", redis.url, "0", name) for name in ("A", "B")]
    try:
        ports = [int(node.line()) for node in nodes]
        station = OCPPClient(
            identity="CP-BENCH", endpoint=f"ws://127.0.0.1:{ports[0]}", protocols=["ocpp1.6"]
        )
        station.handle("DataTransfer", lambda ctx: {"status": "Accepted"})
        await asyncio.wait_for(station.connect(), 10)
        try:
            samples = {}
            for label, port in (("local", ports[0]), ("cross-node", ports[1])):
                await get(port, f"/latency?identity=CP-BENCH&calls={min(calls, 50)}")  # warm
                samples[label] = json.loads(
                    await get(port, f"/latency?identity=CP-BENCH&calls={calls}")
                )
            return samples
        finally:
            await station.close()
    finally:
        for node in nodes:
            node.stop()


async def get(port: int, target: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    try:
        response = await asyncio.wait_for(reader.read(), 120)
    finally:
        writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.decode(errors="replace"))
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    redis = Redis()
    counts = sorted({1, args.workers})
    rows: dict[int, dict[str, Any]] = {}
    try:
        for _ in range(args.rounds):  # alternating: a noisy neighbour hits both alike
            for n in counts:
                row = throughput(redis, n, args.stations, args.seconds)
                if n not in rows or row.get("rate", 0) > rows[n].get("rate", 0):
                    rows[n] = row
        samples = asyncio.run(round_trips(redis, args.calls))
    finally:
        redis.stop()
    with open("/proc/loadavg") as file:
        load = " ".join(file.read().split()[:3])
    print(
        f"cluster benchmark: {os.cpu_count()} cores (load average {load}), Python "
        f"{platform.python_version()}, websockets {version('websockets')}, redis-server "
        f"{redis.version}, redis-py {version('redis')}"
    )
    print(
        f"\ncalls/s: {args.stations} stations, one Heartbeat outstanding each, "
        f"{args.seconds:g} s after {WARMUP_S:g} s of warm-up, best of {args.rounds} rounds"
    )
    head = ("workers", "calls/s", "p50 ms", "p99 ms", "workers CPU %", "generator CPU %")
    print(" ".join(f"{text:>{width}}" for text, width in zip(head, WIDTHS, strict=True)))
    base = rows[1].get("rate", 0.0)
    for n, row in sorted(rows.items()):
        if "error" in row:
            print(f"{n:>8} failed: {row['error']}")
            continue
        ratio = f" (x{row['rate'] / base:.2f})" if base and n != 1 else ""
        print(
            f"{n:>8} {row['rate']:>9.0f} {row['p50_ms']:>7.2f} {row['p99_ms']:>7.2f} "
            f"{row['workers_cpu']:>14.0f} {row['generator_cpu']:>16.0f}{ratio}"
        )
    print(f"\nsend_to_client round trip: {args.calls} DataTransfer calls, one after the other")
    print(f"{'':>11} {'p50 ms':>7} {'p99 ms':>7}")
    for label, values in samples.items():
        print(f"{label:>11} {percentile(values, 0.5):>7.2f} {percentile(values, 0.99):>7.2f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve_role(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) > 1 and sys.argv[1] == "load":
        load_role(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    else:
        main()
