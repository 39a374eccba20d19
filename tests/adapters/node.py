"""One cluster node for the adapter tests, in a process of its own: an OCPPServer with
a RedisAdapter, driven by the tests over its control routes (plain HTTP GETs on the
station port). Prints one JSON line (port, pid, node id) once it listens; SIGTERM
closes it cleanly. With ``--workers N``, N worker processes of it share the port
(run_workers; the node ids are the workers').

    python node.py --redis URL --node-id ID [--node-ttl-ms N] [--port P] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from browser_ocpp import OCPPServer, RPCError
from browser_ocpp.adapters import RedisAdapter
from browser_ocpp.server.workers import Worker, run_workers


def outcome(value: Any) -> dict[str, Any]:
    if isinstance(value, Exception):
        error: dict[str, Any] = {"ok": False, "error": type(value).__name__, "message": str(value)}
        if isinstance(value, RPCError):
            error["code"] = value.code
            error["details"] = value.details
        return error
    return {"ok": True, "result": value}


def reply(value: Any) -> tuple[int, str, bytes]:
    return 200, "application/json", json.dumps(value).encode()


class Node:
    def __init__(self, options: argparse.Namespace, node_id: str) -> None:
        self.node_id = node_id
        self.server = OCPPServer(protocols=["ocpp1.6", "ocpp2.0.1"])
        self.adapter = RedisAdapter(
            options.redis,
            prefix=options.prefix,
            node_id=node_id,
            node_ttl_ms=options.node_ttl_ms,
            presence_ttl_ms=options.presence_ttl_ms,
        )
        self.server.set_adapter(self.adapter)
        for path in ("send", "broadcast", "metrics", "clients"):
            self.server.route("/" + path, getattr(self, path))

    @staticmethod
    def query(path: str) -> dict[str, str]:
        return {name: values[0] for name, values in parse_qs(urlsplit(path).query).items()}

    async def send(self, path: str, headers: Any) -> tuple[int, str, bytes]:
        """send_to_client(identity, method, params, timeout_ms=...), timed."""
        query = self.query(path)
        options = {"timeout_ms": float(query["timeout_ms"])} if "timeout_ms" in query else {}
        started = time.monotonic()
        try:
            result: Any = await self.server.send_to_client(
                query["identity"], query["method"], json.loads(query.get("params", "{}")), **options
            )
        except Exception as exc:
            result = exc
        elapsed_ms = (time.monotonic() - started) * 1000
        return reply({**outcome(result), "elapsed_ms": elapsed_ms, "node": self.node_id})

    async def broadcast(self, path: str, headers: Any) -> tuple[int, str, bytes]:
        query = self.query(path)
        options = {"timeout_ms": float(query["timeout_ms"])} if "timeout_ms" in query else {}
        results = await self.server.broadcast_batch(
            query["identities"].split(","),
            query["method"],
            json.loads(query.get("params", "{}")),
            **options,
        )
        return reply({identity: outcome(value) for identity, value in results.items()})

    async def metrics(self, path: str, headers: Any) -> tuple[int, str, bytes]:
        return reply(await self.server.adapter_metrics())

    def clients(self, path: str, headers: Any) -> tuple[int, str, bytes]:
        clients = sorted(self.server.clients)
        return reply({"clients": clients, "pid": os.getpid(), "node": self.node_id})


async def main(options: argparse.Namespace) -> None:
    node = Node(options, options.node_id)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    port = await node.server.listen(options.port, "127.0.0.1")
    print(json.dumps({"port": port, "pid": os.getpid(), "node_id": options.node_id}), flush=True)
    await stop.wait()
    await node.server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", required=True)
    parser.add_argument("--node-id", default="node")
    parser.add_argument("--prefix", default="ocpp:")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--node-ttl-ms", type=float, default=10_000)
    parser.add_argument("--presence-ttl-ms", type=float, default=120_000)
    parser.add_argument("--workers", type=int, default=0)
    options = parser.parse_args()
    if options.workers:

        def make(worker: Worker) -> OCPPServer:
            return Node(options, worker.node_id).server

        def ready(port: int) -> None:
            print(json.dumps({"port": port, "pid": os.getpid(), "node_id": None}), flush=True)

        run_workers(make, options.workers, options.port, ready=ready)
    else:
        asyncio.run(main(options))
