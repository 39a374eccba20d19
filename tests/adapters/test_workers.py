"""Worker processes of one server on one port (run_workers, SO_REUSEPORT), each with
the Redis adapter: every worker reaches every station, a dead worker is started
again alone, SIGTERM to the parent stops them all."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from browser_ocpp import OCPPClient

from .conftest import NODE_SCRIPT, STOP_S, Node, RedisServer, Station, stop_process, until

WORKERS = 2


class Workers(Node):
    """``node.py --workers N``: the parent process; the control routes of whichever
    worker the kernel hands a connection to."""

    def start(self) -> Workers:
        command = [sys.executable, str(NODE_SCRIPT), "--redis", self.redis.url]
        command += ["--workers", str(WORKERS), "--node-ttl-ms", "2000"]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"the workers did not start (exit {self.process.wait(STOP_S)})"
        self.port, self.pid = json.loads(line)["port"], self.process.pid
        return self

    async def each(self) -> dict[str, dict[str, Any]]:
        """Every worker's ``clients`` answer, by node id (asked until all answered)."""
        seen: dict[str, dict[str, Any]] = {}

        async def all_seen() -> bool:
            try:
                answer = await self.get("clients")
            except OSError:  # queued on a worker just killed
                return False
            seen[answer["node"]] = answer
            return len(seen) == WORKERS

        await until(all_seen, 20, "every worker answered")
        return seen


@pytest.fixture
def workers(redis_server: RedisServer) -> Iterator[Workers]:
    running = Workers(redis_server, "workers").start()
    yield running
    running.stop()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def spread(workers: Workers, station: Station) -> dict[str, OCPPClient]:
    """Connect stations until each worker holds one (the kernel picks the worker)."""
    clients: dict[str, OCPPClient] = {}
    for number in range(64):
        identity = f"CP-{number}"
        clients[identity] = await station(workers, identity)
        metrics = await workers.metrics()
        holding = sum(1 for node in metrics["nodes"] if node)
        placed = await workers.each()
        if holding == WORKERS and all(answer["clients"] for answer in placed.values()):
            return clients
    pytest.fail("64 connections all went to the same worker")


async def test_workers_share_a_port_and_reach_every_station(
    workers: Workers, station: Station
) -> None:
    clients = await spread(workers, station)
    placed = await workers.each()
    owner = {identity: node for node, answer in placed.items() for identity in answer["clients"]}
    assert set(owner) == set(clients)
    crossed = set()
    for _ in range(100):  # each control request lands on either worker
        for identity in clients:
            sent = await workers.send(identity, "DataTransfer", {"vendorId": "x"})
            assert sent["result"] == {"status": "Accepted", "data": identity}
            if sent["node"] != owner[identity]:
                crossed.add(identity)
        if crossed == set(clients):
            break
    assert crossed == set(clients), "every station was reached from the other worker"
    assert (await workers.metrics())["nodes_alive"] == WORKERS


async def test_a_dead_worker_is_started_again_alone(workers: Workers, station: Station) -> None:
    clients = await spread(workers, station)
    placed = await workers.each()
    victim, survivor = sorted(placed)
    dropped = {identity: asyncio.Event() for identity in clients}
    for identity, client in clients.items():
        client.on("close", lambda event, identity=identity: dropped[identity].set())
    old_pid = placed[victim]["pid"]
    os.kill(old_pid, signal.SIGKILL)

    async def replaced() -> bool:
        answers = await workers.each()
        return bool(answers[victim]["pid"] != old_pid)

    await until(replaced, 30, "the dead worker was started again")
    assert not alive(old_pid)
    assert placed[survivor]["pid"] == (await workers.each())[survivor]["pid"]
    for identity in placed[survivor]["clients"]:  # untouched: still connected, reachable
        assert not dropped[identity].is_set()
        sent = await workers.send(identity, "DataTransfer", {"vendorId": "x"})
        assert sent["result"]["data"] == identity
    for identity in placed[victim]["clients"]:
        assert dropped[identity].is_set()
    await until(lambda: _nodes_alive(workers, WORKERS), 10, "both workers in the cluster")


async def _nodes_alive(workers: Workers, count: int) -> bool:
    return bool((await workers.metrics())["nodes_alive"] == count)


async def test_sigterm_to_the_parent_stops_every_worker(workers: Workers) -> None:
    pids = [answer["pid"] for answer in (await workers.each()).values()]
    assert workers.process is not None
    workers.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(workers.process.wait, STOP_S) == 0
    for pid in pids:
        await until(lambda pid=pid: not alive(pid), STOP_S, f"worker {pid} stopped")


RUNTIME = NODE_SCRIPT.parents[2] / "runtime"


async def operator_command(port: int, identity: str) -> dict[str, Any]:
    """The operator view's command API: a Reset for ``identity``, from this server's page."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    query = f"identity={identity}&action=Reset&params=%7B%22type%22%3A%22Soft%22%7D"
    writer.write(
        f"GET /api/command?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"X-OCPP-Operator: 1\r\nConnection: close\r\n\r\n".encode()
    )
    try:
        response = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    answer: dict[str, Any] = json.loads(response.partition(b"\r\n\r\n")[2])
    return answer


@pytest.fixture
def served(redis_server: RedisServer) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``browser-ocpp serve --workers 2 --redis URL --port 0``: the process, its port."""
    command = [sys.executable, "-m", "browser_ocpp.cli", "serve", "--port", "0"]
    command += ["--runtime", str(RUNTIME), "--workers", str(WORKERS), "--redis", redis_server.url]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    try:
        lines = [process.stdout.readline() for _ in range(4)]
        assert lines[3].startswith(f"Workers:       {WORKERS} processes on port"), lines
        yield process, int(lines[3].split()[-1])
    finally:
        stop_process(process)


async def test_serve_with_workers_and_redis(served: tuple[subprocess.Popen[str], int]) -> None:
    """The demo CSMS on every worker, and the operator's commands reach a station
    whichever worker serves the request; SIGTERM stops them all."""
    process, port = served
    stations: list[OCPPClient] = []
    try:
        for number in range(8):
            client = OCPPClient(
                identity=f"CP-{number}",
                endpoint=f"ws://127.0.0.1:{port}/ocpp",
                protocols=["ocpp1.6"],
                reconnect=False,
            )
            client.handle("Reset", lambda ctx: {"status": "Accepted"})
            stations.append(client)
            await asyncio.wait_for(client.connect(), 10)
            boot = {"chargePointVendor": "ACME", "chargePointModel": "One"}
            assert (await client.call("BootNotification", boot))["status"] == "Accepted"
        for _ in range(3):
            for client in stations:
                answer = await operator_command(port, client.identity or "")
                assert (answer["ok"], answer["result"]) == (True, {"status": "Accepted"}), answer
    finally:
        for client in stations:
            await client.close()
    process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(process.wait, STOP_S) == 0
