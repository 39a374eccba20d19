"""A small event emitter, and the event objects the peers emit."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from ..rpc.frames import Frame

__all__ = [
    "BadMessageEvent",
    "CloseEvent",
    "ConnectingEvent",
    "EventEmitter",
    "FrameEvent",
    "MessageEvent",
    "OpenEvent",
    "ReconnectEvent",
]

Listener = Callable[..., Any]
L = TypeVar("L", bound=Listener)
_log = logging.getLogger("browser_ocpp.events")


@dataclass(frozen=True, slots=True)
class OpenEvent:
    """The connection is open and speaks ``protocol``."""

    protocol: str | None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class CloseEvent:
    """A connection was lost unexpectedly (``disconnect``; a reconnect may follow) or
    the peer closed for good (``close``, also after its own ``close()``)."""

    code: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ConnectingEvent:
    """A connection attempt to ``url`` starts."""

    url: str


@dataclass(frozen=True, slots=True)
class ReconnectEvent:
    """Reconnect attempt number ``attempt`` starts after ``delay`` milliseconds
    (the reference's ``{ attempt, delay }``)."""

    attempt: int
    delay: float


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """A raw text frame went out (``outbound``) or came in."""

    message: str
    outbound: bool


@dataclass(frozen=True, slots=True)
class FrameEvent:
    """A CALL, CALLRESULT or CALLERROR went out (``outbound``) or came in."""

    frame: Frame
    outbound: bool
    action: str | None = None


@dataclass(frozen=True, slots=True)
class BadMessageEvent:
    """A received frame could not be accepted; ``error`` says why."""

    message: str
    error: Exception


class EventEmitter:
    """``on``/``once``/``off``/``emit`` with a fixed set of event names.

    Listeners may be plain functions or coroutine functions; a listener that raises
    is logged and never disturbs the emitter or the other listeners.
    """

    __slots__ = ("_listener_tasks", "_listeners")
    events: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self._listeners: dict[str, list[tuple[Listener, bool]]] = {}
        self._listener_tasks: set[asyncio.Task[Any]] | None = None

    def _check(self, name: str) -> None:
        if name not in self.events:
            known = ", ".join(sorted(self.events))
            raise ValueError(f"unknown event {name!r}; events are: {known}")

    @overload
    def on(self, name: str) -> Callable[[L], L]: ...
    @overload
    def on(self, name: str, listener: L) -> L: ...
    def on(self, name: str, listener: Listener | None = None) -> Any:
        """Call ``listener`` on every ``name`` event; returns the listener.

        Without ``listener``, a decorator: ``@peer.on("open")`` registers the
        function below and returns it unchanged."""
        return self._add(name, listener, False)

    @overload
    def once(self, name: str) -> Callable[[L], L]: ...
    @overload
    def once(self, name: str, listener: L) -> L: ...
    def once(self, name: str, listener: Listener | None = None) -> Any:
        """Call ``listener`` on the next ``name`` event only (a decorator without it)."""
        return self._add(name, listener, True)

    def _add(self, name: str, listener: Listener | None, once: bool) -> Any:
        self._check(name)  # an unknown name fails at once, decorator form included
        if listener is None:

            def decorator(function: L) -> L:
                self._register(name, function, once)
                return function

            return decorator
        self._register(name, listener, once)
        return listener

    def _register(self, name: str, listener: Listener, once: bool) -> None:
        if not callable(listener):
            raise TypeError(f"listener must be callable, not {listener!r}")
        self._listeners.setdefault(name, []).append((listener, once))

    def off(self, name: str, listener: Listener | None = None) -> None:
        """Remove ``listener`` from ``name``, or every listener of ``name``."""
        self._check(name)
        if listener is None:
            self._listeners.pop(name, None)
            return
        entries = self._listeners.get(name, [])
        self._listeners[name] = [entry for entry in entries if entry[0] is not listener]

    def listener_count(self, name: str) -> int:
        return len(self._listeners.get(name, ()))

    def has_listeners(self, name: str) -> bool:
        return bool(self._listeners.get(name))

    def emit(self, name: str, *args: Any) -> None:
        entries = self._listeners.get(name)
        if not entries:
            return
        if any(once for _, once in entries):
            self._listeners[name] = [entry for entry in entries if not entry[1]]
        for listener, _ in list(entries):
            self._run(name, listener, args)

    def _run(self, name: str, listener: Listener, args: Iterable[Any]) -> None:
        try:
            result = listener(*args)
        except Exception:
            _log.exception("listener for %r raised", name)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            if self._listener_tasks is None:
                self._listener_tasks = set()
            self._listener_tasks.add(task)
            task.add_done_callback(self._listener_done)

    def _listener_done(self, task: asyncio.Task[Any]) -> None:
        if self._listener_tasks is not None:
            self._listener_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("async listener raised", exc_info=task.exception())
