"""Worker processes of one server on one port (``SO_REUSEPORT``): the kernel spreads
new connections over them, so N workers use N cores.

:func:`run_workers` forks the workers, each making its own server with the given
factory (give each one an adapter, e.g. a RedisAdapter with ``worker.node_id``, so
every worker reaches every station). They start together: if one fails to start,
all stop. SIGTERM or SIGINT to the parent stops them all (SIGTERM to each, SIGKILL
after ``stop_timeout_ms``). A worker that dies is started again in its place (same
index and node id), after a pause that grows while it keeps dying young; the others
keep their connections. A worker whose parent is gone stops by itself. POSIX only.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import multiprocessing
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from .server import OCPPServer

__all__ = ["Worker", "WorkerFactory", "run_workers"]

RESTART_DELAY_S = (0.5, 10.0)
"""Pause before starting a dead worker again, doubled while it dies young, up to the second."""
YOUNG_S = 10.0
"""A worker that dies sooner than this after starting is 'dying young'."""
PARENT_CHECK_S = 1.0


@dataclass(frozen=True, slots=True)
class Worker:
    """Who a worker is: its index (0 to count - 1), the address all of them share."""

    index: int
    count: int
    host: str
    port: int

    @property
    def node_id(self) -> str:
        """A stable cluster node id: a restarted worker resumes its predecessor's stream."""
        return f"{socket.gethostname()}:{self.port}:{self.index}"


WorkerFactory = Callable[[Worker], "OCPPServer | Awaitable[OCPPServer]"]


def run_workers(
    factory: WorkerFactory,
    workers: int,
    port: int,
    host: str = "127.0.0.1",
    *,
    ready: Callable[[int], None] | None = None,
    start_timeout_ms: float = 60_000,
    stop_timeout_ms: float = 10_000,
) -> None:
    """Run ``workers`` processes, each serving ``factory(worker)`` on ``host:port``,
    until SIGTERM or SIGINT. Port 0 picks a free port, shared by all. ``ready(port)``
    is called once every worker listens. Raises RuntimeError if they cannot start.

    Call it from the main module of a program, before any event loop runs: workers
    are forked, so ``factory`` may be any callable.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer of 1 or more, not {workers!r}")
    if not hasattr(socket, "SO_REUSEPORT"):
        raise RuntimeError("worker processes need SO_REUSEPORT (Linux, BSD, macOS)")
    with _Supervisor(factory, workers, host, port, stop_timeout_ms / 1000) as supervisor:
        supervisor.start(start_timeout_ms / 1000)
        if ready is not None:
            ready(supervisor.port)
        supervisor.supervise()


class _Slot:
    """One worker's place: its process now, and how it has been dying."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.process: BaseProcess | None = None
        self.messages: Connection | None = None
        self.started_at = 0.0
        self.delay = RESTART_DELAY_S[0]
        self.restart_at: float | None = None


class _Supervisor:
    def __init__(
        self, factory: WorkerFactory, count: int, host: str, port: int, stop_s: float
    ) -> None:
        self.factory = factory
        self.stop_s = stop_s
        self.context = multiprocessing.get_context("fork")
        self.reserved: socket.socket | None = None
        if port == 0:  # bound (not listening) for the whole run, so the port stays ours
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            self.reserved = socket.socket(family, socket.SOCK_STREAM)
            self.reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            self.reserved.bind((host, 0))
            port = self.reserved.getsockname()[1]
        self.port = port
        self.slots = [_Slot(Worker(index, count, host, port)) for index in range(count)]
        self.wakeup_read, self.wakeup_write = os.pipe()
        self.stopping = False
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _Supervisor:
        os.set_blocking(self.wakeup_write, False)
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.previous[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_all()
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        os.close(self.wakeup_read)
        os.close(self.wakeup_write)
        if self.reserved is not None:
            self.reserved.close()

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stopping = True
        with contextlib.suppress(OSError):
            os.write(self.wakeup_write, b"x")

    def _spawn(self, slot: _Slot) -> None:
        receive, send = self.context.Pipe(duplex=False)
        closed_in_child = [self.wakeup_read, self.wakeup_write]
        if self.reserved is not None:
            closed_in_child.append(self.reserved.fileno())
        process = self.context.Process(
            target=_worker_main,
            args=(self.factory, slot.worker, send, os.getpid(), closed_in_child),
            name=f"ocpp-worker-{slot.worker.index}",
        )
        process.start()
        send.close()
        slot.process, slot.messages = process, receive
        slot.started_at = time.monotonic()
        slot.restart_at = None

    def start(self, timeout_s: float) -> None:
        """Start every worker; return when all listen, raise if one cannot."""
        for slot in self.slots:
            self._spawn(slot)
        deadline = time.monotonic() + timeout_s
        waiting = {slot.messages: slot for slot in self.slots if slot.messages is not None}
        while waiting:
            if self.stopping:
                raise RuntimeError("stopped while the workers were starting")
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"the workers did not all start within {timeout_s:g} s")
            for ready in wait([*waiting, self.wakeup_read], left):
                if ready == self.wakeup_read:
                    continue
                assert isinstance(ready, Connection)
                slot = waiting.pop(ready)
                message = _receive(ready)
                if message is None or message[0] != "ready":
                    reason = message[1] if message else "it exited"
                    raise RuntimeError(f"worker {slot.worker.index} failed to start: {reason}")

    def supervise(self) -> None:
        """Until a signal: restart the workers that die."""
        while not self.stopping:
            now = time.monotonic()
            watched: list[Any] = [self.wakeup_read]
            timeout: float | None = None
            for slot in self.slots:
                if slot.restart_at is not None:
                    if now >= slot.restart_at:
                        _say(f"restarting worker {slot.worker.index}")
                        self._spawn(slot)
                    else:
                        left = slot.restart_at - now
                        timeout = left if timeout is None else min(timeout, left)
                        continue
                assert slot.process is not None and slot.messages is not None
                watched += [slot.process.sentinel, slot.messages]
            for ready in wait(watched, timeout):
                if ready == self.wakeup_read:
                    os.read(self.wakeup_read, 64)
                    continue
                for slot in self.slots:
                    if slot.messages is ready:
                        if _receive(ready) is None:  # closed: the worker is exiting
                            slot.messages.close()
                            slot.messages = None
                    elif slot.process is not None and slot.process.sentinel == ready:
                        self._died(slot)

    def _died(self, slot: _Slot) -> None:
        assert slot.process is not None
        slot.process.join()
        code = slot.process.exitcode
        slot.process = None
        if slot.messages is not None:
            slot.messages.close()
            slot.messages = None
        if self.stopping:
            return
        lived = time.monotonic() - slot.started_at
        slot.delay = (
            min(slot.delay * 2, RESTART_DELAY_S[1]) if lived < YOUNG_S else RESTART_DELAY_S[0]
        )
        slot.restart_at = time.monotonic() + slot.delay
        _say(
            f"worker {slot.worker.index} exited ({_exit_text(code)}) after {lived:.1f} s; "
            f"restarting it in {slot.delay:g} s"
        )

    def stop_all(self) -> None:
        self.stopping = True
        running = [slot.process for slot in self.slots if slot.process is not None]
        for process in running:
            if process.pid is not None and process.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_s
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.exitcode is None:
                process.kill()
                process.join()
        for slot in self.slots:
            if slot.messages is not None:
                slot.messages.close()
            slot.process = slot.messages = None


def _receive(connection: Connection) -> tuple[str, str] | None:
    try:
        message = connection.recv()
    except (EOFError, OSError):
        return None
    return message if isinstance(message, tuple) else None


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"code {code}"


def _say(text: str) -> None:
    print(f"browser-ocpp: {text}", file=sys.stderr, flush=True)


def _worker_main(
    factory: WorkerFactory,
    worker: Worker,
    messages: Connection,
    parent: int,
    inherited: list[int],
) -> None:
    for descriptor in inherited:
        with contextlib.suppress(OSError):
            os.close(descriptor)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides (Ctrl-C hits all)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        asyncio.run(_serve(factory, worker, messages, parent))
    except Exception as exc:
        with contextlib.suppress(OSError):
            messages.send(("failed", f"{type(exc).__name__}: {exc}"))
        raise SystemExit(1) from exc
    finally:
        messages.close()


async def _serve(factory: WorkerFactory, worker: Worker, messages: Connection, parent: int) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    made = factory(worker)
    server: OCPPServer = await made if inspect.isawaitable(made) else made
    await server.listen(worker.port, worker.host, reuse_port=True)
    messages.send(("ready", str(os.getpid())))
    try:
        while not stop.is_set() and os.getppid() == parent:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PARENT_CHECK_S)
    finally:
        await server.close()
