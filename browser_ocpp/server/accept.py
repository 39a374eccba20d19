"""Listening sockets that back off at the file-descriptor limit.

When ``accept()`` fails for want of a file descriptor (EMFILE, ENFILE) or kernel
memory (ENOBUFS, ENOMEM), asyncio's selector loop logs the error with a traceback,
stops watching the listening socket and watches it again a second later
(``BaseSelectorEventLoop._accept_connection``). But it goes on calling ``accept()``
for the rest of its batch (up to the backlog, 100 calls), logging and scheduling
another retry each time, so the retries multiply: tens of thousands of tracebacks
a minute and a busy core, while the limit holds. websockets has no hook there, but
``serve(sock=...)`` takes our own socket, and asyncio calls its ``accept()``: the
first failure of a batch goes on to asyncio (which pauses the socket for a second),
the rest of the batch is told there is nothing to accept, asyncio's traceback is
left out of its log, and the server logs the limit once, then once a minute while
it lasts, and once more when it accepts again.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import sys
import time
from typing import Any

from ..peer import OCPPLogger

__all__ = ["AcceptBackoff", "Listener", "bind"]

EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
REPORT_PERIOD_S = 60.0
"""While accepting fails, one log line per this many seconds."""


class AcceptPaused(OSError):
    """The failure passed on to asyncio so that it pauses the listening socket; its
    traceback is kept out of asyncio's log (the server logs the limit itself)."""


class _QuietPauses(logging.Filter):
    """Drops asyncio's log record of an :class:`AcceptPaused`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], AcceptPaused))


def _quiet_asyncio() -> None:
    log = logging.getLogger("asyncio")
    if not any(isinstance(f, _QuietPauses) for f in log.filters):
        log.addFilter(_QuietPauses())


class AcceptBackoff:
    """What a server's listening socket keeps: whether the current batch of
    ``accept()`` calls already failed, and what has been logged. At most one
    warning per ``REPORT_PERIOD_S`` (with the failures since the last one), and one
    line when accepting works again after a warning."""

    __slots__ = ("_failures", "_in_batch", "_log", "_warned", "_warned_at")

    def __init__(self, log: OCPPLogger) -> None:
        self._log = log
        self._in_batch = False
        self._failures = 0
        self._warned = False
        self._warned_at = -REPORT_PERIOD_S

    @property
    def in_batch(self) -> bool:
        return self._in_batch

    def failed(self, exc: OSError) -> AcceptPaused:
        """``accept()`` failed with ``exc``: the exception to hand asyncio."""
        self._failures += 1
        now = time.monotonic()
        if now - self._warned_at >= REPORT_PERIOD_S:
            self._log.warn(
                "cannot accept connections: at the file descriptor limit or out of "
                "memory; retrying every second",
                error=exc.strerror,
                failed_accepts=self._failures,
                file_limit=_file_limit(),
            )
            self._warned, self._warned_at, self._failures = True, now, 0
        self._in_batch = True
        asyncio.get_running_loop().call_soon(self._batch_over)
        return AcceptPaused(exc.errno, exc.strerror)

    def accepted(self) -> None:
        if self._warned:
            self._warned = False
            self._log.info("accepting connections again", failed_accepts=self._failures)

    def _batch_over(self) -> None:
        self._in_batch = False


class Listener(socket.socket):
    """A listening socket whose ``accept()`` backs off at the file limit."""

    __slots__ = ("backoff",)
    backoff: AcceptBackoff

    def accept(self) -> tuple[socket.socket, Any]:
        backoff = self.backoff
        if backoff.in_batch:  # asyncio goes on with its batch: stop it, quietly
            raise BlockingIOError(errno.EAGAIN, "paused at the file limit")
        try:
            pair = super().accept()
        except OSError as exc:
            if exc.errno not in EXHAUSTED:
                raise
            raise backoff.failed(exc) from None
        backoff.accepted()
        return pair


async def bind(host: str, port: int, *, reuse_port: bool, log: OCPPLogger) -> dict[str, Any]:
    """Where ``serve()`` listens: ``{"sock": Listener}``, bound as asyncio would bind
    it (SO_REUSEADDR on POSIX; IPv6 only on an IPv6 address), ``""`` meaning every
    interface (IPv4 and IPv6 on one socket where the system can); or, when ``host``
    names several addresses, ``host`` and ``port`` for asyncio to bind a socket to
    each, without the back-off."""
    family: int = socket.AF_INET
    address: tuple[Any, ...] = ("0.0.0.0", port)
    dual = not host and socket.has_dualstack_ipv6()
    if dual:
        family, address = socket.AF_INET6, ("::", port)
    elif host:
        loop = asyncio.get_running_loop()
        found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        addresses = {(info[0], info[4]) for info in found}
        if len(addresses) != 1:
            return {"host": host, "port": port, "reuse_port": reuse_port}
        family, address = next(iter(addresses))
    # IPPROTO_TCP, as getaddrinfo gives asyncio: sockets accepted from it inherit
    # the protocol, and asyncio sets TCP_NODELAY only on sockets that name TCP.
    sock = Listener(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.backoff = AcceptBackoff(log)
        if os.name == "posix" and sys.platform != "cygwin":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual else 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        message = f"error while attempting to bind on address {address!r}: {exc.strerror}"
        raise OSError(exc.errno, message) from None
    _quiet_asyncio()
    return {"sock": sock}


def _file_limit() -> int | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
