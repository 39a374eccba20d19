"""The server's own cost per call, between the socket and the handler, without syscalls.

A real ``OCPPServer`` accepts one station over loopback and answers one Heartbeat the
usual way; then its connection is handed a Heartbeat frame in its receive buffer,
``--calls`` times in a row, as asyncio hands it each read, and writes its replies to
a transport that drops them (no send syscall, no other process). What remains is our
Python: the frame read, the JSON codec, strict validation, the handler lookup and the
reply framed. Variants (strict off and on, ``json`` and orjson) run in one process,
rounds interleaved; the best round of each is kept, which other load on a shared
machine disturbs least. Memory and the syscalls are measured by bench/server.py and
bench/baselines.py.

    .venv/bin/python bench/hotpath.py [--calls N] [--rounds R] [--frames-per-read K]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from typing import Any

from websockets.asyncio.client import connect
from websockets.frames import Frame, Opcode

from browser_ocpp.rpc import codec
from browser_ocpp.server import OCPPServer, OCPPServerClient
from browser_ocpp.server.transport import _DirectMessages, _receiving

PROTOCOL = "ocpp1.6"
HEARTBEAT = b'[2,"12345678-1234-1234-1234-123456789012","Heartbeat",{}]'
CURRENT_TIME = "2024-01-01T00:00:00Z"
CODECS = ("json", "orjson")


class DroppingTransport:
    """Takes every write and keeps nothing: the replies' bytes are counted only."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False


async def station_connection(strict: bool) -> tuple[OCPPServer, Any, _DirectMessages]:
    """A server with one station connected and one Heartbeat answered the usual way."""
    server = OCPPServer(protocols=[PROTOCOL], strict_mode=strict)
    connections: list[_DirectMessages] = []

    def on_client(client: OCPPServerClient) -> None:
        client.handle("Heartbeat", lambda ctx: {"currentTime": CURRENT_TIME})
        connections.append(client._transport.connection)  # type: ignore[union-attr]

    server.on("client", on_client)
    port = await server.listen(0, "127.0.0.1")
    ws = await connect(f"ws://127.0.0.1:{port}/ocpp/CP-1", subprotocols=[PROTOCOL])  # type: ignore[list-item]
    await ws.send(HEARTBEAT.decode())
    await asyncio.wait_for(ws.recv(), 10.0)
    connection = connections[0]
    if not connection._fast:
        raise SystemExit("the direct frame path is not open: nothing to measure")
    return server, ws, connection


def per_call_us(connection: _DirectMessages, calls: int, per_read: int) -> float:
    """Microseconds per Heartbeat, ``per_read`` frames in each read handed over."""
    data = Frame(Opcode.TEXT, HEARTBEAT).serialize(mask=True, extensions=[]) * per_read
    real, dropping = connection.transport, DroppingTransport()
    reads = max(1, calls // per_read)
    gc.collect()
    connection.transport = dropping  # type: ignore[assignment]
    try:
        start = time.perf_counter()
        for _ in range(reads):
            _receiving.view[: len(data)] = data  # as asyncio's recv_into would
            connection.buffer_updated(len(data))
        elapsed = time.perf_counter() - start
    finally:
        connection.transport = real
    if dropping.written == 0:
        raise SystemExit("no reply was written: nothing was measured")
    return elapsed / (reads * per_read) * 1e6


async def run(calls: int, rounds: int, per_read: int) -> None:
    variants = [(strict, name) for strict in (False, True) for name in CODECS]
    opened = {strict: await station_connection(strict) for strict in (False, True)}
    best: dict[tuple[bool, str], float] = {}
    try:
        for number in range(rounds):
            for strict, name in variants[number % 2 :] + variants[: number % 2]:
                codec.use(name)
                figure = per_call_us(opened[strict][2], calls, per_read)
                best[strict, name] = min(best.get((strict, name), figure), figure)
    finally:
        for server, ws, _ in opened.values():
            await ws.close()
            await server.close()
    print(
        f"{calls:,} Heartbeats per round, {per_read} per read, best of {rounds} rounds "
        "(us per call; the socket and syscalls left out):"
    )
    for strict in (False, True):
        plain, fast = best[strict, "json"], best[strict, "orjson"]
        print(
            f"  strict {'on ' if strict else 'off'}  json {plain:6.2f} us   orjson {fast:6.2f} us"
            f"   orjson/json {fast / plain:.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000, help="Heartbeats per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per variant (best kept)")
    parser.add_argument("--frames-per-read", type=int, default=1, help="frames in each read")
    args = parser.parse_args()
    if not 0 < args.calls <= 1_000_000 or not 0 < args.rounds <= 50:
        parser.error("--calls in (0, 1000000], --rounds in (0, 50]")
    if not 0 < args.frames_per_read <= 1_000:
        parser.error("--frames-per-read in (0, 1000]")
    asyncio.run(run(args.calls, args.rounds, args.frames_per_read))


if __name__ == "__main__":
    main()
