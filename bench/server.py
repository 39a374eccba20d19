"""Server benchmark: OCPPServer (strict off and on, with and without the speed extra)
beside a bare ``websockets`` server.

Each server runs in a subprocess pinned to core 0; a lean load generator (asyncio
Protocols writing pre-built masked frames, no WebSocket library per message) runs in
another subprocess pinned to core 1. Measured in one run, for each server:

* throughput: ``THROUGHPUT_STATIONS`` stations, one Heartbeat outstanding each, for
  ``--seconds`` after a warm-up: calls/s, p50/p99 round trip, CPU of both processes;
* memory: server RSS per idle connection with ``--stations`` stations connected.

The bare server parses ``[2,id,"Heartbeat",{}]`` with ``json.loads`` and answers with
``json.dumps``, with the same ``serve(...)`` settings as ``OCPPServer.listen``. The
machine is shared and noisy: read the ratios to the bare server, not the absolutes.

    .venv/bin/python bench/server.py [--seconds S] [--stations N] [--rounds R] [--quick]
                                     [--default-malloc]
    BENCH_PROFILE=1 .venv/bin/python bench/server.py --quick      # cProfile per server
    BENCH_TRACEMALLOC=1 .venv/bin/python bench/server.py --quick  # allocations per conn
    BENCH_SPIN=1 ...  # the generator busy-polls (never sleeps in epoll)

The throughput processes run with glibc's mmap/trim thresholds pinned (see
PINNED_MALLOC); ``--default-malloc`` measures without.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import cProfile
import gc
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import pstats
import resource
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

HOST = "127.0.0.1"
PROTOCOL = "ocpp1.6"
CURRENT_TIME = "2024-01-01T00:00:00Z"
SERVER_CORE = 0
GENERATOR_CORE = 1
KINDS = ("bare", "off", "on", "off-speed", "on-speed", "guards")
LABELS = {
    "bare": "bare websockets (json)",
    "off": "ours, strict off",
    "on": "ours, strict on",
    "off-speed": "ours, off, speed extra",
    "on-speed": "ours, on, speed extra",
    "on-speed-uvloop": "ours, on, speed, uvloop",
    "guards": "ours, every guard on",
}
"""Ours without ``-speed`` runs as a pure-Python install would (orjson made
unimportable); with it, on the speed extra (``browser-ocpp[speed]``: orjson);
``-uvloop`` (not run by default) adds uvloop's event loop, where installed."""
GUARDS: dict[str, Any] = {
    "rate_limit": {
        "limit": 1e9,  # never reached: the bucket arithmetic runs for every message
        "window_ms": 1000,
        "methods": {"Heartbeat": {"limit": 1e9, "window_ms": 1000}},
    },
    "connection_rate_limit": {"limit": 1e9, "window_ms": 1000},
    "max_connections": 1_000_000,
    "health_endpoint": True,  # /metrics counts every call and its latency
}
"""``guards``: strict off, with every limit on (none reached), CORS rules and
/health and /metrics (the send budget, max_buffered_bytes, is always on)."""
THROUGHPUT_STATIONS = 100
WARMUP_S = 1.0
MEMORY_WARM_STATIONS = 20
"""Connected (and kept) before the 'before' RSS, so one-time lazy costs are not counted."""
CONNECT_BATCH = 100
"""Connections opened concurrently while ramping (the listen backlog is 100)."""
CONNECT_TIMEOUT_S = 10.0
RAMP_DEADLINE_S = 180.0
CHILD_LIFETIME_S = 900.0
"""Every child exits by itself after this long, whatever happens to the parent."""
PROFILE_TOP = 25
OURS_TOP = 25
TRACE_TOP = 30
GENERATOR_CPU_WARNING = 90.0
FOREIGN_LOAD_WARNING = 10.0
QUIET_BUSY_PERCENT = 15.0
QUIET_WAIT_S = 60.0
QUIET_SAMPLES = 4
"""Consecutive half-second samples below QUIET_BUSY_PERCENT before a window starts."""
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455
MASK = b"\x37\xfa\x21\x3d"
PINNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "1048576", "MALLOC_TRIM_THRESHOLD_": "16777216"}
"""glibc settings for the throughput processes. CPython 3.11's selector transport calls
``sock.recv(256 KiB)`` per readable event: above glibc's mmap threshold, that is an
mmap, an mremap (shrinking the bytes) and a munmap per message, unless the process
once freed a big mmapped block and so raised the (dynamic) threshold. Which servers
pay it is luck (strace shows it); pinned, none does. Memory runs keep the defaults."""
TRACING = os.environ.get("BENCH_TRACEMALLOC") == "1"
SPINNING = os.environ.get("BENCH_SPIN") == "1"
"""The generator busy-polls instead of sleeping in epoll (its CPU then reads 100 %)."""
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
CHILD_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); import server; server.child_main(sys.argv[2:])"
)


# -- helpers shared by every process -------------------------------------------------------


def say(line: str) -> None:
    """One protocol line to the parent."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def raise_nofile() -> int:
    """Raise the open-files soft limit to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pin(core: int) -> None:
    available = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core if core in available else min(available)})


def process_ticks(pid: int) -> tuple[int, int]:
    """(utime, stime) of ``pid``, in clock ticks."""
    with open(f"/proc/{pid}/stat") as file:
        text = file.read()
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]), int(fields[12])


def tcp_out_segments() -> int:
    """TCP segments sent by this host (all of it, both ends of our loopback traffic)."""
    with open("/proc/net/snmp") as file:
        rows = [line.split() for line in file if line.startswith("Tcp:")]
    return int(rows[1][rows[0].index("OutSegs")])


def core_ticks() -> dict[int, tuple[int, int]]:
    """Per core: (busy ticks, total ticks) from /proc/stat."""
    result: dict[int, tuple[int, int]] = {}
    with open("/proc/stat") as file:
        for line in file:
            if not line.startswith("cpu") or line.startswith("cpu "):
                continue
            name, *values = line.split()
            numbers = [int(v) for v in values[:8]]
            idle = numbers[3] + numbers[4]
            result[int(name[3:])] = (sum(numbers) - idle, sum(numbers))
    return result


def rss_bytes() -> int:
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def dumps(value: object) -> str:
    """Compact JSON, as our frames are encoded (same bytes on the wire)."""
    return json.dumps(value, separators=(",", ":"))


async def command_lines(deadline: float) -> AsyncIterator[str]:
    """Lines from the parent on stdin until EOF, QUIT or the deadline."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        try:
            raw = await asyncio.wait_for(reader.readline(), remaining)
        except TimeoutError:
            return
        if not raw:
            return
        line = raw.decode().strip()
        if line == "QUIT":
            return
        yield line


def child_main(argv: list[str]) -> None:
    raise_nofile()
    role, *rest = argv
    if role == "serve":
        pin(SERVER_CORE)
        factory = None
        if rest[0].endswith("-uvloop"):  # optional row: uvloop is no dependency of ours
            factory = importlib.import_module("uvloop").new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(serve_main(rest[0], json.loads(rest[1])))
    elif role == "load":
        pin(GENERATOR_CORE)
        asyncio.run(load_main(int(rest[0]), int(rest[1]), int(rest[2]), float(rest[3])))
    elif role == "idle":
        pin(GENERATOR_CORE)
        asyncio.run(idle_main(int(rest[0])))
    else:
        raise SystemExit(f"unknown role {role!r}")


# -- the server process ----------------------------------------------------------------------


def _short(path: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "lib/python3.":
                path = "stdlib/" + path.split("/", 1)[-1]
            break
    return path


def _area(path: str, name: str) -> str:
    if "browser_ocpp" in path:
        return "browser_ocpp"
    if "websockets" in path:
        return "websockets"
    if "jsonschema" in path or "referencing" in path or "rpds" in path:
        return "jsonschema"
    if "/json/" in path:
        return "json (stdlib)"
    if "asyncio" in path:
        return "asyncio"
    if path == "~":
        if "socket" in name or "select" in name or "epoll" in name:
            return "C: socket/epoll"
        if "json" in name:
            return "C: json"
        return "C: other builtins"
    if "/bench/" in path:
        return "bench handler"
    return "other Python"


def profile_report(profile: cProfile.Profile, calls: int) -> list[str]:
    """Top entries by tottime and cumtime, per Heartbeat handled in the window."""
    stats = pstats.Stats(profile)
    raw = cast(
        dict[tuple[str, int, str], tuple[int, int, float, float, Any]],
        stats.__dict__["stats"],
    )
    per = 1e6 / max(calls, 1)
    rows = [
        (tt, ct, nc, f"{_short(path)}:{line}({name})" if path != "~" else name, path, name)
        for (path, line, name), (_, nc, tt, ct, _callers) in raw.items()
    ]
    total = sum(r[0] for r in rows)
    areas: dict[str, float] = {}
    for tt, _, _, _, path, name in rows:
        area = _area(path, name)
        areas[area] = areas.get(area, 0.0) + tt
    lines = [
        "AREAS " + json.dumps({area: tt * per for area, tt in areas.items()}),
        f"calls handled in the window: {calls:,}; profiled time per call "
        f"{total * per:.1f} us (cProfile overhead included)",
        "time per call by area (tottime):",
    ]
    for area, tt in sorted(areas.items(), key=lambda item: -item[1]):
        lines.append(f"  {area:<20} {tt * per:8.1f} us  {100 * tt / max(total, 1e-12):5.1f} %")
    head = f"  {'ncalls':>9} {'us/call':>8} {'cum us':>8}  function"
    lines.append(f"top {PROFILE_TOP} by tottime (us per Heartbeat):")
    lines.append(head)
    for tt, ct, nc, label, _, _ in sorted(rows, key=lambda r: -r[0])[:PROFILE_TOP]:
        lines.append(f"  {nc:>9,} {tt * per:8.2f} {ct * per:8.2f}  {label}")
    ours = [r for r in rows if _area(r[4], r[5]) in ("browser_ocpp", "other Python")]
    if any(_area(r[4], r[5]) == "browser_ocpp" for r in ours):
        lines.append(f"top {OURS_TOP} in browser_ocpp and other pure-Python code, by tottime:")
        lines.append(head)
        for tt, ct, nc, label, _, _ in sorted(ours, key=lambda r: -r[0])[:OURS_TOP]:
            lines.append(f"  {nc:>9,} {tt * per:8.2f} {ct * per:8.2f}  {label}")
    lines.append(f"top {PROFILE_TOP} by cumtime (us per Heartbeat):")
    lines.append(head)
    for tt, ct, nc, label, _, _ in sorted(rows, key=lambda r: -r[1])[:PROFILE_TOP]:
        lines.append(f"  {nc:>9,} {tt * per:8.2f} {ct * per:8.2f}  {label}")
    return lines


def allocation_report(before: tracemalloc.Snapshot, connections: int) -> list[str]:
    """Python allocations that appeared since ``before``, per connection, by line."""
    gc.collect()
    after = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, tracemalloc.__file__)]
    )
    per = max(connections, 1)
    lines: list[str] = []
    for grouping, top in (("filename", TRACE_TOP // 2), ("lineno", TRACE_TOP)):
        differences = after.compare_to(before, grouping)
        if grouping == "filename":
            total = sum(d.size_diff for d in differences)
            lines.append(f"traced Python allocations: {total / per:,.0f} B per connection")
        lines.append(f"top {top} {'files' if grouping == 'filename' else 'lines'}:")
        for d in sorted(differences, key=lambda d: -d.size_diff)[:top]:
            frame = d.traceback[0]
            where = _short(frame.filename) + ("" if grouping == "filename" else f":{frame.lineno}")
            lines.append(f"{d.size_diff / per:>8,.0f} B {d.count_diff / per:>6.1f} blocks  {where}")
    return lines


async def serve_main(kind: str, settings: dict[str, Any]) -> None:
    deadline = time.monotonic() + CHILD_LIFETIME_S
    if os.environ.get("BENCH_TRACEMALLOC") == "1":
        tracemalloc.start()
    handled = [0]
    count: Callable[[], int]
    close: Callable[[], Any]
    if kind == "bare":
        from websockets.asyncio.server import ServerConnection, serve
        from websockets.typing import Subprotocol

        async def handler(ws: ServerConnection) -> None:
            async for message in ws:
                frame = json.loads(message)
                if frame[0] == 2 and frame[2] == "Heartbeat":
                    handled[0] += 1
                    await ws.send(dumps([3, frame[1], {"currentTime": CURRENT_TIME}]))

        bare = await serve(
            handler,
            HOST,
            0,
            subprotocols=[Subprotocol(PROTOCOL)],
            max_size=settings["max_size"],
            open_timeout=settings["open_timeout"],
            compression=settings["compression"],
            server_header=None,
        )
        port = int(next(iter(bare.sockets)).getsockname()[1])

        def count() -> int:
            return len(bare.connections)

        async def close() -> None:
            bare.close()
            await bare.wait_closed()

    else:
        base, speed = kind.split("-")[0], "-speed" in kind
        if not speed:
            sys.modules["orjson"] = None  # type: ignore[assignment]  # a pure-Python install
        from browser_ocpp.server import OCPPServer, OCPPServerClient

        if speed or importlib.util.find_spec("browser_ocpp.rpc.codec"):  # not in old trees
            from browser_ocpp.rpc import codec

            codec.use("orjson" if speed else "json")  # fails loudly without the extra
        guards = GUARDS if base == "guards" else {}
        ours = OCPPServer(protocols=[PROTOCOL], strict_mode=base == "on", **guards)
        if base == "guards":
            ours.cors(allowed_origins=["https://csms.example"], allowed_ips=["127.0.0.0/8"])

        def heartbeat(ctx: Any) -> dict[str, str]:
            handled[0] += 1
            return {"currentTime": CURRENT_TIME}

        def on_client(client: OCPPServerClient) -> None:
            client.handle("Heartbeat", heartbeat)

        ours.on("client", on_client)
        port = await ours.listen(0, HOST)

        def count() -> int:
            return len(ours.clients)

        close = ours.close

    profiling = os.environ.get("BENCH_PROFILE") == "1"
    profile = cProfile.Profile()
    started_at = 0
    report: list[str] = []
    snapshot: tracemalloc.Snapshot | None = None
    say(f"PORT {port} PID {os.getpid()}")
    async for line in command_lines(deadline):
        if line == "RSS":
            gc.collect()
            say(f"RSS {rss_bytes()} {count()}")
        elif line == "SNAPSHOT" and tracemalloc.is_tracing():
            gc.collect()
            snapshot = tracemalloc.take_snapshot()
            say("SNAPSHOT taken")
        elif line.startswith("DIFF ") and snapshot is not None:
            for entry in allocation_report(snapshot, int(line.split()[1])):
                say(f"TRACE {entry}")
            say("TRACE END")
        elif line == "PROFILE START" and profiling:
            started_at = handled[0]
            profile.enable()
        elif line == "PROFILE STOP" and profiling:
            profile.disable()
            report = profile_report(profile, handled[0] - started_at)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(close(), 20.0)
    if report:
        say("PROFILE BEGIN")
        for entry in report:
            say(entry)
        say("PROFILE END")
    say("BYE")


# -- the load generator ------------------------------------------------------------------------


def masked_frame(opcode: int, payload: bytes) -> bytes:
    """A client frame (FIN set, masked with the fixed key)."""
    length = len(payload)
    if length < 126:
        head = bytes([0x80 | opcode, 0x80 | length])
    elif length < 65_536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8, "big")
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return head + MASK + masked


CLOSE_FRAME = masked_frame(0x8, (1000).to_bytes(2, "big"))


@dataclass
class Load:
    """What the stations of one generator share."""

    port: int
    running: bool = False
    measuring: bool = False
    latencies: list[float] = field(default_factory=list)
    outstanding: int = 0
    bad_responses: int = 0
    lost: int = 0
    lost_reason: str = ""
    drained: asyncio.Event = field(default_factory=asyncio.Event)

    def answered(self) -> None:
        self.outstanding -= 1
        if self.outstanding == 0 and not self.running:
            self.drained.set()


class Station(asyncio.Protocol):
    """One station: does the Upgrade by hand, then sends a Heartbeat per response."""

    def __init__(self, load: Load, identity: str) -> None:
        self.load = load
        self.identity = identity
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        key = base64.b64encode(os.urandom(16))
        self.key = key
        self.accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.gone: asyncio.Future[None] = loop.create_future()
        message = dumps([2, f"hb-{identity}", "Heartbeat", {}]).encode()
        self.call = masked_frame(0x1, message)
        self.sent_at = 0.0
        self.waiting = False
        self.closing = False

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        request = (
            f"GET /{self.identity} HTTP/1.1\r\n"
            f"Host: {HOST}:{self.load.port}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {self.key.decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {PROTOCOL}\r\n"
            "\r\n"
        )
        self.transport.write(request.encode())

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).decode("latin-1")
            del buffer[: end + 4]
            problem = self._check_upgrade(head)
            if problem:
                if not self.opened.done():
                    self.opened.set_exception(ConnectionError(problem))
                assert self.transport is not None
                self.transport.abort()
                return
            self.upgraded = True
            self.opened.set_result(None)
        self._frames()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"connection lost: {exc!r}"))
        elif self.load.running:
            self.load.lost += 1
            self.load.lost_reason = repr(exc)
        if self.waiting:
            self.waiting = False
            self.load.answered()
        if not self.gone.done():
            self.gone.set_result(None)

    # the protocol

    def _check_upgrade(self, head: str) -> str:
        status, *header_lines = head.split("\r\n")
        if not status.startswith("HTTP/1.1 101"):
            return f"handshake refused: {status!r}"
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("sec-websocket-accept") != self.accept:
            return "bad Sec-WebSocket-Accept"
        if headers.get("sec-websocket-protocol") != PROTOCOL:
            return f"subprotocol not negotiated: {headers.get('sec-websocket-protocol')!r}"
        return ""

    def _frames(self) -> None:
        buffer = self.buffer
        size = len(buffer)
        pos = 0
        while size - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            length = second & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                head = 10
            end = pos + head + length
            if end > size:
                break
            opcode = first & 0x0F
            start = pos + head
            pos = end
            if second & 0x80:  # servers never mask
                self.load.bad_responses += 1
            elif opcode == 0x1:
                self._on_text(buffer[start : start + 3] == b"[3,")
            elif opcode == 0x9 and self.transport is not None:  # ping: answer pong
                self.transport.write(masked_frame(0xA, bytes(buffer[start:end])))
            elif opcode == 0x8 and self.transport is not None:  # close: answer, drop
                if not self.closing:
                    self.closing = True
                    self.transport.write(CLOSE_FRAME)
                self.transport.close()
        if pos:
            del buffer[:pos]

    def _on_text(self, good: bool) -> None:
        now = time.perf_counter()
        load = self.load
        if not good:
            load.bad_responses += 1
        if not self.waiting:
            return
        self.waiting = False
        load.answered()
        if load.measuring:
            load.latencies.append(now - self.sent_at)
        if load.running:
            self.send_call(now)

    def send_call(self, now: float) -> None:
        if self.transport is None:
            return
        self.sent_at = now
        self.waiting = True
        self.load.outstanding += 1
        self.transport.write(self.call)

    async def close(self) -> None:
        """Close handshake, bounded; then drop the connection."""
        if self.transport is not None and not self.closing:
            self.closing = True
            self.transport.write(CLOSE_FRAME)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.gone), 5.0)
        if self.transport is not None:
            self.transport.abort()


async def open_station(load: Load, identity: str) -> Station:
    loop = asyncio.get_running_loop()

    async def connect() -> Station:
        _, station = await loop.create_connection(lambda: Station(load, identity), HOST, load.port)
        await station.opened
        return station

    return await asyncio.wait_for(connect(), CONNECT_TIMEOUT_S)


async def open_many(load: Load, first: int, count: int, into: list[Station]) -> str:
    """Open ``count`` stations in bounded batches; returns why it stopped early, or ''."""
    deadline = time.monotonic() + RAMP_DEADLINE_S
    for start in range(first, first + count, CONNECT_BATCH):
        if time.monotonic() > deadline:
            return f"ramp deadline of {RAMP_DEADLINE_S:.0f} s reached"
        stop = min(start + CONNECT_BATCH, first + count)
        results = await asyncio.gather(
            *(open_station(load, f"CP-{i:05d}") for i in range(start, stop)),
            return_exceptions=True,
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        into.extend(r for r in results if isinstance(r, Station))
        if failures:
            first_failure = failures[0]
            return f"{len(failures)} failed, first: {type(first_failure).__name__}: {first_failure}"
    return ""


async def close_all(stations: list[Station]) -> None:
    for start in range(0, len(stations), 500):
        await asyncio.gather(*(s.close() for s in stations[start : start + 500]))


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def load_main(port: int, server_pid: int, count: int, seconds: float) -> None:
    """Throughput: ``count`` stations, one Heartbeat outstanding each."""
    load = Load(port)
    stations: list[Station] = []
    problem = await open_many(load, 0, count, stations)
    if problem:
        await close_all(stations)
        say("RESULT " + json.dumps({"error": f"{len(stations)}/{count} connected; {problem}"}))
        return
    me = os.getpid()
    load.running = True
    if SPINNING:
        loop = asyncio.get_running_loop()

        def spin() -> None:  # keeps the loop polling: core 1 never sleeps
            if load.running:
                loop.call_soon(spin)

        spin()
    now = time.perf_counter()
    for station in stations:
        station.send_call(now)
    await asyncio.sleep(WARMUP_S)
    say("MARK start")
    segments0 = tcp_out_segments()
    cores0, server0, me0 = core_ticks(), process_ticks(server_pid), process_ticks(me)
    start = time.perf_counter()
    load.measuring = True
    await asyncio.sleep(seconds)
    load.measuring = False
    elapsed = time.perf_counter() - start
    cores1, server1, me1 = core_ticks(), process_ticks(server_pid), process_ticks(me)
    segments = tcp_out_segments() - segments0
    say("MARK end")
    load.running = False
    if load.outstanding > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(load.drained.wait(), 5.0)
    await close_all(stations)
    tick = os.sysconf("SC_CLK_TCK")
    wall_ticks = elapsed * tick
    core_busy = {
        core: 100.0
        * (cores1[core][0] - cores0[core][0])
        / max(1, cores1[core][1] - cores0[core][1])
        for core in cores1
        if core in cores0
    }
    latencies = load.latencies
    say(
        "RESULT "
        + json.dumps(
            {
                "calls": len(latencies),
                "seconds": elapsed,
                "rate": len(latencies) / elapsed,
                "p50_ms": 1000 * percentile(latencies, 0.50),
                "p99_ms": 1000 * percentile(latencies, 0.99),
                "server_cpu": 100.0 * (sum(server1) - sum(server0)) / wall_ticks,
                "server_user_cpu": 100.0 * (server1[0] - server0[0]) / wall_ticks,
                "server_sys_cpu": 100.0 * (server1[1] - server0[1]) / wall_ticks,
                "generator_cpu": 100.0 * (sum(me1) - sum(me0)) / wall_ticks,
                "segments_per_call": segments / max(1, len(latencies)),
                "core_busy": core_busy,
                "bad_responses": load.bad_responses,
                "lost": load.lost,
                "lost_reason": load.lost_reason,
                "left_outstanding": load.outstanding,
            }
        )
    )


async def idle_main(port: int) -> None:
    """Memory: opens idle stations on request (``CONNECT n``) and holds them."""
    deadline = time.monotonic() + CHILD_LIFETIME_S
    load = Load(port)
    stations: list[Station] = []
    async for line in command_lines(deadline):
        verb, _, argument = line.partition(" ")
        if verb == "CONNECT":
            problem = await open_many(load, len(stations), int(argument), stations)
            say(f"CONNECTED {len(stations)} {problem or 'ok'}")
    await close_all(stations)
    say("BYE")


# -- the parent ----------------------------------------------------------------------------------


class Child:
    """A subprocess speaking the line protocol; killed by :meth:`stop` whatever happens."""

    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        self.name = name
        self.process = process

    @classmethod
    async def spawn(cls, name: str, *args: str, env: dict[str, str] | None = None) -> Child:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CHILD_BOOT,
            BENCH_DIR,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        return cls(name, process)

    async def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((line + "\n").encode())
        await self.process.stdin.drain()

    async def expect(self, prefix: str | tuple[str, ...], within: float) -> str:
        """The next line starting with ``prefix`` (other lines are echoed)."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + within
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: no {prefix!r} line within {within:.0f} s")
            raw = await asyncio.wait_for(self.process.stdout.readline(), remaining)
            if not raw:
                raise RuntimeError(f"{self.name} exited before {prefix!r}")
            line = raw.decode().rstrip("\n")
            if line.startswith(prefix):
                return line
            print(f"  [{self.name}] {line}")

    async def finish(self, within: float) -> list[str]:
        """Ask it to quit and return its remaining output lines."""
        lines: list[str] = []
        assert self.process.stdout is not None
        try:
            await self.send("QUIT")
            deadline = time.monotonic() + within
            while (remaining := deadline - time.monotonic()) > 0:
                raw = await asyncio.wait_for(self.process.stdout.readline(), remaining)
                if not raw:
                    break
                lines.append(raw.decode().rstrip("\n"))
        except (TimeoutError, ConnectionError, BrokenPipeError):
            pass
        return lines

    async def stop(self) -> None:
        if self.process.returncode is None:
            try:
                await asyncio.wait_for(self.process.wait(), 2.0)
            except TimeoutError:
                self.process.kill()
                await asyncio.wait_for(self.process.wait(), 10.0)


@dataclass
class Row:
    kind: str
    throughput: dict[str, Any] = field(default_factory=dict)
    """The best round: undisturbed by other load if any was, then the highest calls/s."""
    rounds: list[dict[str, Any]] = field(default_factory=list)
    per_connection: float | None = None
    connected: int = 0
    memory_note: str = ""
    profile: list[str] = field(default_factory=list)
    areas: dict[str, float] = field(default_factory=dict)
    allocations: list[str] = field(default_factory=list)


def server_settings() -> dict[str, Any]:
    """What OCPPServer.listen passes to websockets' serve(), from its default options."""
    from browser_ocpp.server import ServerOptions

    options = ServerOptions(protocols=[PROTOCOL])
    return {
        "max_size": options.max_payload_bytes,
        "open_timeout": options.handshake_timeout_ms / 1000,
        "compression": "deflate" if options.compression else None,
    }


async def start_server(
    kind: str, settings: dict[str, Any], env: dict[str, str] | None = None
) -> tuple[Child, int, int]:
    server = await Child.spawn(f"server {kind}", "serve", kind, json.dumps(settings), env=env)
    _, port, _, pid = (await server.expect("PORT", 30.0)).split()
    return server, int(port), int(pid)


def foreign_load(t: dict[str, Any]) -> float:
    """The most another process used either core during the window, in %."""
    busy: dict[str, float] = t["core_busy"]
    server: float = t["server_cpu"]
    generator: float = t["generator_cpu"]
    return max(
        busy.get(str(SERVER_CORE), 0.0) - server,
        busy.get(str(GENERATOR_CORE), 0.0) - generator,
        0.0,
    )


def rank(t: dict[str, Any]) -> tuple[bool, float]:
    """Undisturbed rounds first, then the highest calls/s."""
    if "rate" not in t:
        return (False, -1.0)
    return (foreign_load(t) <= FOREIGN_LOAD_WARNING, float(t["rate"]))


async def measure_throughput(
    row: Row, settings: dict[str, Any], seconds: float, env: dict[str, str]
) -> None:
    server, port, pid = await start_server(row.kind, settings, env)
    generator: Child | None = None
    try:
        generator = await Child.spawn(
            f"load {row.kind}",
            "load",
            str(port),
            str(pid),
            str(THROUGHPUT_STATIONS),
            str(seconds),
            env=env,
        )
        line = await generator.expect(("MARK start", "RESULT"), 60.0)
        if line.startswith("MARK"):
            await server.send("PROFILE START")
            await generator.expect("MARK end", seconds + 30.0)
            await server.send("PROFILE STOP")
            line = await generator.expect("RESULT", 60.0)
        result = json.loads(line[len("RESULT ") :])
        row.rounds.append(result)
        if not row.throughput or rank(result) > rank(row.throughput):
            row.throughput = result
        await generator.stop()
        output = await server.finish(30.0)
        if "PROFILE BEGIN" in output and "PROFILE END" in output:
            report = output[output.index("PROFILE BEGIN") + 1 : output.index("PROFILE END")]
            row.areas = json.loads(report[0][len("AREAS ") :])
            row.profile = report[1:]
    finally:
        if generator is not None:
            await generator.stop()
        await server.stop()


async def server_rss(server: Child, expected: int) -> tuple[int, int]:
    """The server's RSS once it holds ``expected`` connections (bounded wait)."""
    deadline = time.monotonic() + 20.0
    while True:
        await server.send("RSS")
        _, rss, connections = (await server.expect("RSS", 10.0)).split()
        if int(connections) >= expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)  # let buffers settle, then the reading that counts
    await server.send("RSS")
    _, rss, connections = (await server.expect("RSS", 10.0)).split()
    return int(rss), int(connections)


async def measure_memory(row: Row, settings: dict[str, Any], stations: int) -> None:
    server, port, _ = await start_server(row.kind, settings)
    generator: Child | None = None
    try:
        generator = await Child.spawn(f"idle {row.kind}", "idle", str(port))
        await generator.send(f"CONNECT {MEMORY_WARM_STATIONS}")
        _, warm, problem = (await generator.expect("CONNECTED", 60.0)).split(" ", 2)
        if int(warm) < MEMORY_WARM_STATIONS:
            row.memory_note = f"warm-up connections failed: {problem}"
            return
        before, _ = await server_rss(server, MEMORY_WARM_STATIONS)
        if TRACING:
            await server.send("SNAPSHOT")
            await server.expect("SNAPSHOT", 60.0)
        started = time.monotonic()
        await generator.send(f"CONNECT {stations}")
        line = await generator.expect("CONNECTED", RAMP_DEADLINE_S + 60.0)
        _, total, problem = line.split(" ", 2)
        ramp = time.monotonic() - started
        after, held = await server_rss(server, int(total))
        row.connected = held - MEMORY_WARM_STATIONS
        if row.connected > 0:
            row.per_connection = (after - before) / row.connected
        reached = int(total) - MEMORY_WARM_STATIONS
        if TRACING:
            await server.send(f"DIFF {row.connected}")
            while not (line := await server.expect("TRACE", 60.0)).startswith("TRACE END"):
                row.allocations.append(line[len("TRACE ") :])
        if problem != "ok" or reached < stations:
            row.memory_note = f"reached {reached:,} of {stations:,}: {problem}"
        else:
            row.memory_note = f"{reached:,} connected in {ramp:.1f} s"
        await generator.finish(60.0)
        await server.finish(30.0)
    finally:
        if generator is not None:
            await generator.stop()
        await server.stop()


def environment() -> list[str]:
    from websockets.version import version as websockets_version

    def state(name: str) -> str:
        spec = importlib.util.find_spec(name)
        if spec is None:
            return f"{name}: not installed"
        return f"{name} {importlib.metadata.version(name)}"

    return [
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"websockets {websockets_version}, {state('uvloop')}, {state('orjson')} "
        "(asyncio's own loop unless a row says uvloop; orjson only where it says speed)",
        f"cores: server pinned to {SERVER_CORE}, generator to {GENERATOR_CORE} "
        f"(available: {sorted(os.sched_getaffinity(0))}); load average {loadavg()}",
    ]


def loadavg() -> str:
    with open("/proc/loadavg") as file:
        return " ".join(file.read().split()[:3])


def cpu_per_call(throughput: dict[str, Any], kind: str = "server_cpu") -> float | None:
    """Server CPU microseconds per call (``kind``: all, user or system time): less
    sensitive to other load than calls/s."""
    if not throughput.get("rate"):
        return None
    return float(throughput[kind]) * 1e4 / float(throughput["rate"])


def area_table(rows: list[Row]) -> list[str]:
    """Profiled time per Heartbeat by area, servers side by side."""
    profiled = [row for row in rows if row.areas]
    if not profiled:
        return []
    names = sorted(
        {a for row in profiled for a in row.areas},
        key=lambda a: -max(row.areas.get(a, 0.0) for row in profiled),
    )
    lines = [
        f"{'us per Heartbeat (cProfile)':<28}"
        + "".join(f"{LABELS[row.kind]:>24}" for row in profiled)
    ]
    for name in [*names, "total"]:
        cells = "".join(
            f"{(sum(row.areas.values()) if name == 'total' else row.areas.get(name, 0.0)):>24.1f}"
            for row in profiled
        )
        lines.append(f"{name:<28}{cells}")
    return lines


LEGEND = (
    "ratio: calls/s relative to the bare server. CPU: % of one core. us/call: server CPU",
    "per call (usr: user space, sys: kernel), robust to other load; usr x: user-space CPU",
    "per call relative to the bare server, the figure our code moves (sys is mostly the",
    "loopback TCP path and swings between runs). seg/call: TCP segments sent per call by",
    "both ends (2.00: every ACK rides on a data segment).",
)


def table(rows: list[Row]) -> list[str]:
    bare = rows[0]
    header = (
        f"{'server':<24} {'calls/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'srv CPU':>8} "
        f"{'gen CPU':>8} {'ratio':>6} {'us/call':>8} {'usr':>5} {'sys':>5} {'usr x':>6} "
        f"{'seg/call':>8} {'B/conn':>8} {'+B/conn vs bare':>16}"
    )
    lines = [header]
    base_rate = bare.throughput.get("rate")
    base_user = cpu_per_call(bare.throughput, "server_user_cpu")
    for row in rows:
        t = row.throughput
        if "rate" in t:
            figures = (
                f"{t['rate']:>9,.0f} {t['p50_ms']:>7.2f} {t['p99_ms']:>7.2f} "
                f"{t['server_cpu']:>7.0f}% {t['generator_cpu']:>7.0f}% "
            )
            cost = cpu_per_call(t) or 0.0
            user = cpu_per_call(t, "server_user_cpu") or 0.0
            system = cpu_per_call(t, "server_sys_cpu") or 0.0
            ratio = f"{t['rate'] / base_rate:>5.2f}x" if base_rate else f"{'-':>6}"
            ratio += f" {cost:>8.1f} {user:>5.1f} {system:>5.1f}"
            ratio += f" {user / base_user:>5.2f}x" if base_user else f" {'-':>6}"
            ratio += f" {t['segments_per_call']:>8.2f}"
        else:
            figures = f"{'failed':>9} {'-':>7} {'-':>7} {'-':>8} {'-':>8} "
            ratio = f"{'-':>6} {'-':>8} {'-':>5} {'-':>5} {'-':>6} {'-':>8}"
        if row.per_connection is not None:
            memory = f"{row.per_connection:>8,.0f}"
            if bare.per_connection is not None:
                memory += f" {row.per_connection - bare.per_connection:>+16,.0f}"
        else:
            memory = f"{'-':>8} {'-':>16}"
        lines.append(f"{LABELS[row.kind]:<24} {figures}{ratio} {memory}")
    return lines


async def wait_for_quiet_cores() -> str:
    """Wait (bounded) until both cores are nearly idle: other people share this machine."""
    started = time.monotonic()
    busiest = 0.0
    quiet = 0
    while time.monotonic() - started < QUIET_WAIT_S:
        before = core_ticks()
        await asyncio.sleep(0.5)
        after = core_ticks()
        busiest = max(
            100.0 * (after[c][0] - before[c][0]) / max(1, after[c][1] - before[c][1])
            for c in (SERVER_CORE, GENERATOR_CORE)
            if c in before and c in after
        )
        quiet = quiet + 1 if busiest < QUIET_BUSY_PERCENT else 0
        if quiet >= QUIET_SAMPLES:
            waited = time.monotonic() - started
            return f"waited {waited:.0f} s for quiet cores" if waited > 3 else ""
    return f"cores still {busiest:.0f}% busy after {QUIET_WAIT_S:.0f} s: measuring anyway"


def report_round(row: Row, t: dict[str, Any]) -> None:
    if "error" in t:
        print(f"  {LABELS[row.kind]:<24} FAILED: {t['error']}")
        return
    busy = t["core_busy"]
    foreign0 = busy.get(str(SERVER_CORE), 0.0) - t["server_cpu"]
    foreign1 = busy.get(str(GENERATOR_CORE), 0.0) - t["generator_cpu"]
    print(
        f"  {LABELS[row.kind]:<24} {t['calls']:>8,} calls in {t['seconds']:.2f} s "
        f"({t['rate']:,.0f}/s); CPU server {t['server_cpu']:.0f}% "
        f"(usr {t['server_user_cpu']:.0f}, sys {t['server_sys_cpu']:.0f}), generator "
        f"{t['generator_cpu']:.0f}%; other load: core {SERVER_CORE} {max(foreign0, 0):.0f}%, "
        f"core {GENERATOR_CORE} {max(foreign1, 0):.0f}%; "
        f"{t['segments_per_call']:.2f} TCP segments/call"
    )
    if t["generator_cpu"] > GENERATOR_CPU_WARNING:
        print(
            f"  WARNING: the generator used {t['generator_cpu']:.0f}% of its core: "
            "it may be the bottleneck, not the server"
        )
    if foreign_load(t) > FOREIGN_LOAD_WARNING:
        print("  WARNING: other processes used these cores during the window: figures disturbed")
    if t["bad_responses"] or t["lost"] or t["left_outstanding"]:
        print(
            f"  WARNING: {t['bad_responses']} bad responses, {t['lost']} connections lost "
            f"({t['lost_reason']}), {t['left_outstanding']} calls unanswered at the end"
        )


async def run(seconds: float, stations: int, rounds: int, default_malloc: bool) -> int:
    limit = raise_nofile()
    for line in environment():
        print(line)
    profiling = os.environ.get("BENCH_PROFILE") == "1"
    if profiling:
        print("BENCH_PROFILE=1: cProfile runs in each server during the window, so the")
        print("throughput figures below are slowed down; use them only for the profiles.")
    if TRACING:
        print("BENCH_TRACEMALLOC=1: tracemalloc runs in each server, so B/conn is inflated;")
        print("use it only for the allocation sites it lists.")
    if limit < stations + MEMORY_WARM_STATIONS + 64:
        print(f"note: RLIMIT_NOFILE hard limit is {limit}: fewer than {stations:,} may connect")
    settings = server_settings()
    print(f"serve() settings mirrored for the bare server: {settings}, server_header=None")
    malloc = {} if default_malloc else PINNED_MALLOC
    if malloc:
        print(
            "throughput processes run with "
            + " ".join(f"{k}={v}" for k, v in malloc.items())
            + ": otherwise"
        )
        print("  asyncio's 256 KiB recv buffer costs mmap+mremap+munmap per message in some")
        print("  processes and not others (glibc's dynamic mmap threshold), by chance;")
        print("  --default-malloc measures without (calls/s then swing by up to 40 %)")
    rows = [Row(kind) for kind in KINDS]
    print(
        f"throughput: {THROUGHPUT_STATIONS} stations x 1 outstanding Heartbeat, "
        f"{WARMUP_S:.0f} s warm-up + {seconds:g} s"
        + (f", {rounds} rounds in rotating order, best undisturbed kept" if rounds > 1 else "")
    )
    for number in range(rounds):
        for index in range(len(rows)):
            row = rows[(index + number) % len(rows)]
            waited = await wait_for_quiet_cores()
            if waited:
                print(f"  ({waited})")
            await measure_throughput(row, settings, seconds, malloc)
            report_round(row, row.rounds[-1])
    print(
        f"memory: RSS per idle connection, {stations:,} stations "
        f"(after {MEMORY_WARM_STATIONS} warm-up connections, kept and not counted)"
    )
    for row in rows:
        await measure_memory(row, settings, stations)
        print(f"  {LABELS[row.kind]:<24} {row.memory_note}")
        for line in row.allocations:
            print(f"      {line}")
    print()
    for line in table(rows):
        print(line)
    for line in LEGEND:
        print(line)
    print(f"load average at the end: {loadavg()}")
    for row in rows:
        if row.profile:
            print()
            print(f"profile of {LABELS[row.kind]} (window only):")
            for line in row.profile:
                print(f"  {line}")
    areas = area_table(rows)
    if areas:
        print()
        for line in areas:
            print(line)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="throughput window")
    parser.add_argument("--stations", type=int, default=5000, help="idle connections")
    parser.add_argument("--rounds", type=int, default=1, help="throughput rounds (best kept)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 s, 500 stations")
    parser.add_argument(
        "--default-malloc",
        action="store_true",
        help="do not pin glibc's mmap/trim thresholds in the throughput processes",
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.stations = 2.0, 500
    if not 0 < args.seconds <= 300 or not 0 < args.stations <= 50_000 or not 0 < args.rounds <= 10:
        parser.error("--seconds must be in (0, 300], --stations in (0, 50000], --rounds in [1, 10]")
    raise SystemExit(
        asyncio.run(run(args.seconds, args.stations, args.rounds, args.default_malloc))
    )


if __name__ == "__main__":
    main()
