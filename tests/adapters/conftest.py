"""A real ``redis-server`` per test (its own free port, no persistence, stopped by PID)
and cluster nodes in processes of their own (``node.py``, stopped by PID)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from browser_ocpp import OCPPClient

NODE_SCRIPT = Path(__file__).with_name("node.py")
START_S = 30.0
"""Bound on a process (Redis, a node) coming up."""
STOP_S = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        pytest.fail(
            "redis-server is not installed: `make test` installs it (Debian's redis-server "
            "package, apt-get install redis-server); the adapter tests need a real Redis"
        )
    return found


async def until(predicate: Callable[[], Any], seconds: float = 10, what: str = "") -> Any:
    """Poll ``predicate`` (plain or awaitable) until it is truthy; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds} s: {what or predicate}")
        await asyncio.sleep(0.02)


def stop_process(process: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    """Stop by PID (SIGKILL after STOP_S), and close our end of its pipes."""
    if process.poll() is None:
        os.kill(process.pid, sig)
        try:
            process.wait(STOP_S)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(STOP_S)
    if process.stdout is not None:
        process.stdout.close()


class RedisServer:
    """``redis-server`` on a free loopback port, nothing saved; restartable on that port."""

    def __init__(self, directory: Path) -> None:
        self.binary = redis_binary()
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        for _ in range(5):
            settings = {
                "port": self.port,
                "bind": "127.0.0.1",
                "save": "",
                "appendonly": "no",
                "dir": self.directory,
                "daemonize": "no",
                "loglevel": "warning",
            }
            arguments = [
                text for name, value in settings.items() for text in (f"--{name}", str(value))
            ]
            self.process = subprocess.Popen(
                [self.binary, *arguments],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + START_S
            while time.monotonic() < deadline and self.process.poll() is None:
                if self.ping():
                    return
                time.sleep(0.02)  # bounded by the deadline
            stop_process(self.process)
            self.port = free_port()  # taken meanwhile: try another
        pytest.fail("redis-server did not start")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def restart(self) -> None:
        """Stop it and start an empty one on the same port (Redis lost everything)."""
        self.stop()
        self.start()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


class Node:
    """A cluster node process (``node.py``) and its control routes."""

    def __init__(self, redis: RedisServer, node_id: str, **options: Any) -> None:
        self.node_id = node_id
        self.redis = redis
        self.options = options
        self.process: subprocess.Popen[str] | None = None
        self.port = 0
        self.pid = 0

    def start(self) -> Node:
        command = [sys.executable, str(NODE_SCRIPT), "--redis", self.redis.url]
        command += ["--node-id", self.node_id]
        for name, value in self.options.items():
            command += ["--" + name.replace("_", "-"), str(value)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # bounded: the node prints or exits
        if not line:
            self.process.wait(STOP_S)
            pytest.fail(f"node {self.node_id} did not start (exit {self.process.returncode})")
        started = json.loads(line)
        self.port, self.pid = started["port"], started["pid"]
        return self

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def kill(self) -> None:
        """SIGKILL: the node leaves nothing behind on purpose."""
        assert self.process is not None
        stop_process(self.process, signal.SIGKILL)

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    async def get(self, route: str, **query: Any) -> Any:
        """GET a control route; its JSON answer."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            target = f"/{route}?{urlencode(query)}"
            writer.write(
                f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
            )
            response = await asyncio.wait_for(reader.read(), 60)
        finally:
            writer.close()
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        return json.loads(body)

    async def send(self, identity: str, method: str, params: Any = None, **query: Any) -> Any:
        return await self.get(
            "send", identity=identity, method=method, params=json.dumps(params or {}), **query
        )

    async def metrics(self) -> dict[str, Any]:
        metrics: dict[str, Any] = await self.get("metrics")
        return metrics

    async def clients(self) -> list[str]:
        clients: list[str] = (await self.get("clients"))["clients"]
        return clients


@pytest.fixture
def start_node(redis_server: RedisServer) -> Iterator[Callable[..., Node]]:
    """``start_node(node_id, **options)``: a node process (stopped after the test)."""
    nodes: list[Node] = []

    def start(node_id: str, **options: Any) -> Node:
        node = Node(redis_server, node_id, **options)
        nodes.append(node)
        return node.start()

    yield start
    for node in nodes:
        node.stop()


Station = Callable[..., Awaitable[OCPPClient]]


@pytest.fixture
async def station() -> AsyncIterator[Station]:
    """``await station(node, identity, **options)``: a connected OCPP 1.6 station that
    answers Reset (Accepted) and TriggerMessage (with its identity), closed after."""
    clients: list[OCPPClient] = []

    async def connect(node: Node, identity: str, **options: Any) -> OCPPClient:
        options.setdefault("protocols", ["ocpp1.6"])
        options.setdefault("reconnect", False)
        client = OCPPClient(identity=identity, endpoint=node.url, **options)
        client.handle("Reset", lambda ctx: {"status": "Accepted"})
        client.handle("DataTransfer", lambda ctx: {"status": "Accepted", "data": identity})
        clients.append(client)
        await asyncio.wait_for(client.connect(), 10)
        return client

    yield connect
    for client in clients:
        await client.close(force=True)


async def registered(node: Node, identity: str, owner: str) -> None:
    """Wait until ``node`` routes calls for ``identity`` to ``owner``'s station."""

    async def answered() -> bool:
        sent = await node.send(identity, "DataTransfer", {"vendorId": "probe"}, timeout_ms=2000)
        return bool(sent["ok"]) and owner in json.dumps(sent)

    await until(answered, 15, f"{node.node_id} reaches {identity} on {owner}")
