"""The asyncio RPC peer: one OCPP-J connection's calls, handlers, events and close.

Written once against :class:`~browser_ocpp.peer.transport.Transport`, and shared by
the browser client, the CPython client and every server-side connection.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import math
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from ..rpc.errors import (
    CallTimeoutError,
    ConnectionClosedError,
    RPCError,
    RPCGenericTransportError,
    RPCNotImplementedError,
    error_from_code,
)
from ..rpc.frames import (
    Call,
    CallError,
    CallResult,
    CallResultError,
    Send,
    encode,
    is_valid_message_id,
    parse,
)
from ..rpc.session import CLOSE_TOO_MANY_BAD_MESSAGES, Answered, Late, Refused, Reply, Session
from ..rpc.versions import MessageType, version_of
from .backoff import Backoff
from .deadlines import Deadlines
from .events import BadMessageEvent, CloseEvent, EventEmitter, FrameEvent, MessageEvent, OpenEvent
from .handlers import NOREPLY, HandlerContext, HandlerRegistry
from .logs import OCPPLogger
from .observer import CallObserver
from .options import PeerOptions
from .slots import CallSlots, OfflineTimeout
from .transport import Transport

__all__ = ["RPCPeer", "State"]

RETRY_BACKOFF_MS = (500.0, 10_000.0)
"""Bounds of the jittered pause between retries of a timed-out call."""

_UNSET = object()


def _retrieved(task: asyncio.Task[Any]) -> None:
    """Mark a close task's outcome as seen (its callers get it through shield)."""
    if not task.cancelled():
        task.exception()


class State(enum.IntEnum):
    """Connection states, numbered as the browser's ``WebSocket.readyState``."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


@dataclass(slots=True)
class _Pending:
    """An outbound call awaiting its answer: the one place it is settled or failed."""

    action: str
    future: asyncio.Future[dict[str, Any]]
    deadline: float  # on the loop's clock: when the call times out
    timeout_ms: float

    def settle(self, payload: dict[str, Any]) -> None:
        if not self.future.done():
            self.future.set_result(payload)

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)


def _new_message_id() -> str:
    """A random UUID version 4, as ``str(uuid.uuid4())`` spells it (the same 16 bytes
    of os.urandom), without building a UUID object: a quarter of the cost."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    digits = raw.hex()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def _split_call_args(args: tuple[Any, ...]) -> tuple[str | None, str, Mapping[str, Any]]:
    """``(protocol?, method, params?)`` as the reference spells calls."""
    if len(args) == 2:  # the usual (method, dict) first, without the ABC check
        method, params = args
        if type(method) is str and method and type(params) is dict:
            return None, method, params
    if len(args) == 3:
        protocol, method, params = args
    elif len(args) == 2 and isinstance(args[1], str):
        (protocol, method), params = args, {}
    elif len(args) == 2:
        (method, params), protocol = args, None
    elif len(args) == 1:
        (method,), protocol, params = args, None, {}
    else:
        raise TypeError("call takes (protocol?, method, params?)")
    if protocol is not None and not isinstance(protocol, str):
        raise TypeError(f"protocol must be a string, not {protocol!r}")
    if not isinstance(method, str) or not method:
        raise TypeError(f"method must be a non-empty string, not {method!r}")
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict, not {type(params).__name__}")
    return protocol, method, params


class RPCPeer(EventEmitter):
    """One side of an OCPP-J connection over a :class:`Transport`.

    Subclasses add how a transport is obtained: clients connect (and reconnect),
    servers hand each accepted connection to a peer of their own.
    """

    # Slots: a server holds one peer per station, so per-instance size counts.
    __slots__ = (
        "_close_emitted",
        "_closed_for_good",
        "_closing",
        "_deadlines",
        "_drained",
        "_draining",
        "_gate",
        "_handlers",
        "_identity",
        "_keys",
        "_logger",
        "_observer",
        "_options",
        "_outbound",
        "_protocol",
        "_schema_validator",
        "_session",
        "_slots",
        "_state",
        "_strict_actions",
        "_tasks",
        "_transport",
        "last_activity",
    )
    component = "RPCPeer"
    events = frozenset(
        {
            "open",
            "close",
            "error",
            "connecting",
            "reconnect",
            "disconnect",
            "message",
            "call",
            "call_result",
            "call_error",
            "bad_message",
        }
    )
    options_class: type[PeerOptions] = PeerOptions

    def __init__(self, options: PeerOptions | None = None, **kwargs: Any) -> None:
        super().__init__()
        if options is None:
            options = self.options_class.from_kwargs(kwargs)
        elif kwargs:
            options = options.replace(**kwargs)
        self._options = options
        self._identity: str | None = getattr(options, "identity", None) or None
        self._state = State.CLOSED
        self._protocol: str | None = None
        self._transport: Transport | None = None
        self._handlers = HandlerRegistry()
        # The protocol state: pending and late ids, inbound ids, bad messages.
        self._session: Session[_Pending] = Session(options.max_bad_messages)
        self._deadlines = Deadlines(self._session.pending, self._expire)
        self._slots = CallSlots(options.call_concurrency)
        self._outbound = 0
        self._drained: asyncio.Future[None] | None = None
        self._draining = False
        # Idempotency keys of calls not finished yet (see call()).
        self._keys: weakref.WeakValueDictionary[str, Coroutine[Any, Any, Any]] | None = None
        self._schema_validator: Any = None
        self._strict_actions: dict[str, Any] = {}
        self._closing: asyncio.Task[CloseEvent] | None = None
        self._closed_for_good = False
        self._close_emitted = False
        self._tasks: set[asyncio.Task[Any]] | None = None
        # Set by a server limiting messages: called with each frame received; False
        # drops it (the gate has answered it). None: no check at all.
        self._gate: Callable[[object], bool] | None = None
        self._observer: CallObserver | None = None  # set by a server measuring calls
        self.last_activity = 0.0
        # time.monotonic() of the last frame sent or received.
        self._logger = OCPPLogger(options.logging, self.component, self._identity)

    # -- properties -----------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def protocol(self) -> str | None:
        """The negotiated subprotocol (None before the first open)."""
        return self._protocol

    @property
    def identity(self) -> str | None:
        return self._identity

    @property
    def logger(self) -> OCPPLogger:
        return self._logger

    @property
    def options(self) -> PeerOptions:
        return self._options

    @property
    def pending_calls(self) -> int:
        """Outbound calls sent and not yet answered."""
        return len(self._session.pending)

    # -- configuration ----------------------------------------------------------------

    def reconfigure(self, **options: Any) -> None:
        """Change options of a live peer; ``call_concurrency`` applies at once."""
        self._options = self._options.replace(**options)
        self._slots.limit = self._options.call_concurrency
        self._session.max_bad_messages = self._options.max_bad_messages
        self._strict_actions = {}
        if "logging" in options:
            self._logger = OCPPLogger(self._options.logging, self.component, self._identity)

    def handle(self, *args: Any) -> Any:
        """Register a handler: ``handle(protocol, method, fn)``, ``handle(method, fn)``,
        ``handle(fn)`` (wildcard, called as ``fn(method, ctx)``); without ``fn`` it
        returns a decorator."""
        if args and callable(args[-1]):
            *names, handler = args
            protocol, method = self._handler_names(names)
            self._handlers.add(protocol, method, handler)
            return handler
        protocol, method = self._handler_names(list(args))

        def decorator(handler: Callable[..., Any]) -> Callable[..., Any]:
            self._handlers.add(protocol, method, handler)
            return handler

        return decorator

    def remove_handler(self, *names: str) -> bool:
        """Remove ``(protocol, method)``, ``(method)`` or, with no names, the wildcard."""
        protocol, method = self._handler_names(list(names))
        return self._handlers.remove(protocol, method)

    def remove_all_handlers(self) -> None:
        self._handlers.clear()

    @staticmethod
    def _handler_names(names: list[Any]) -> tuple[str | None, str | None]:
        if len(names) > 2 or not all(isinstance(n, str) and n for n in names):
            raise TypeError(f"expected (protocol?, method?) as strings, not {names!r}")
        if len(names) == 2:
            return names[0], names[1]
        return None, (names[0] if names else None)

    # -- connection lifecycle -----------------------------------------------------------

    def attach(self, transport: Transport, protocol: str | None, url: str | None = None) -> None:
        """Take ``transport`` as the live connection speaking ``protocol``."""
        if not callable(getattr(transport, "send_now", None)):
            raise TypeError(
                f"{type(transport).__name__} has no send_now(text): the peer sends its "
                "replies with it, without awaiting (see browser_ocpp.peer.Transport)"
            )
        self._transport = transport
        self._protocol = protocol
        self._state = State.OPEN
        self._session.open(protocol)
        self._close_emitted = False
        self._schema_validator = None
        self._strict_actions = {}
        self.last_activity = time.monotonic()
        self._logger.info("connected", protocol=protocol)
        self.emit("open", OpenEvent(protocol, url))
        self._slots.open()  # calls that waited go first, in the order they were made

    def connection_lost(self, code: int, reason: str = "", transport: object = None) -> None:
        """Called by the transport, once, when the connection is gone.

        A transport passes itself: a late report from a connection already replaced
        (a forced close, then a new connect) must not end the new one.
        """
        if self._transport is None or (transport is not None and transport is not self._transport):
            return
        requested = self._state is State.CLOSING  # our own close(): no ``disconnect``
        self._transport = None
        self._state = State.CLOSED
        event = CloseEvent(code, reason)
        lost = ConnectionClosedError(
            f"connection closed ({code} {reason}) before the response arrived".replace(" )", ")"),
            code,
            reason,
        )
        for pending in self._session.lost():  # handlers still running answer nobody
            pending.fail(lost)
        self._deadlines.cancel()
        self._slots.close()
        self._logger.info("disconnected", code=code, reason=reason)
        if not requested:  # as the reference: only a connection lost unexpectedly
            self.emit("disconnect", event)
        self._after_lost(event)
        if not self._can_queue():
            self._slots.fail_all(ConnectionClosedError(f"not connected (state {self._state.name})"))

    def _after_lost(self, event: CloseEvent) -> None:
        """What follows a lost connection; a peer without reconnect closes for good."""
        self._finish_close(event)

    def _finish_close(self, event: CloseEvent) -> None:
        """Closed for good: no reconnect follows; emits ``close`` once."""
        self._state = State.CLOSED
        self._closed_for_good = True
        self._reject_offline(ConnectionClosedError("connection closed for good", event.code))
        if not self._close_emitted:
            self._close_emitted = True
            self._logger.debug("closed", code=event.code, reason=event.reason)
            self.emit("close", event)

    def _reject_offline(self, error: Exception) -> None:
        """Refuse the calls waiting for a connection (calls waiting for their turn on
        an open one finish first, as ``close(await_pending=True)`` promises)."""
        if not self._slots.is_open:
            self._slots.fail_all(error)

    def _can_queue(self) -> bool:
        """Whether a call made while not open may wait for the connection."""
        return False

    async def close(
        self,
        code: int = 1000,
        reason: str = "",
        *,
        await_pending: bool = True,
        force: bool = False,
    ) -> CloseEvent:
        """Close the connection; the first close wins and later ones get its result.

        ``await_pending`` lets outbound calls already made finish first (each is
        bounded by its timeout); ``force`` drops the connection at once and rejects
        every pending call.
        """
        if self._closing is None:
            # A task of its own: a caller that is cancelled (wait_for...) does not
            # leave the peer half closed, and later close() calls still get the result.
            closing = asyncio.ensure_future(
                self._close(code, reason, await_pending=await_pending, force=force)
            )
            closing.add_done_callback(_retrieved)
            self._closing = closing
        return await asyncio.shield(self._closing)

    async def _close(
        self, code: int, reason: str, *, await_pending: bool, force: bool
    ) -> CloseEvent:
        self._closed_for_good = True
        self._stop_reconnecting()
        self._reject_offline(ConnectionClosedError("client closed", code, reason))
        event = CloseEvent(code, reason)
        transport = self._transport
        if transport is None:
            self._finish_close(event)
            return event
        self._state = State.CLOSING
        closed = ConnectionClosedError(f"closed ({code} {reason}) before a response", code, reason)
        if force:
            self._reject_pending(closed)
        elif await_pending:
            self._draining = True
            try:
                if self._outbound:
                    self._drained = asyncio.get_running_loop().create_future()
                    await self._drained
            finally:
                self._draining = False
                self._drained = None
        else:
            self._reject_pending(closed)
        try:
            await transport.close(code, reason, force=force)
        except Exception as exc:
            self._logger.warn("transport close failed", error=repr(exc))
        if self._transport is transport:  # the transport did not report the loss itself
            self.connection_lost(1006 if force else code, "" if force else reason)
        return event

    def _stop_reconnecting(self) -> None:
        """Hook for clients: stop any reconnect in progress."""

    def _reject_pending(self, error: Exception) -> None:
        for pending in self._session.take_pending():
            pending.fail(error)
        self._deadlines.cancel()

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- outbound ------------------------------------------------------------------------

    def call(
        self,
        *args: Any,
        timeout_ms: float | None = None,
        retries: int = 0,
        idempotency_key: str | None = None,
    ) -> Coroutine[Any, Any, dict[str, Any]]:
        """Call ``(protocol?, method, params)``; await it for the response payload.

        Raises the matching :class:`RPCError` for a CALLERROR, :class:`CallTimeoutError`
        after ``timeout_ms`` (retried ``retries`` times with jittered backoff, same
        message id), :class:`ConnectionClosedError` if the connection is or gets closed.

        ``idempotency_key`` is taken when ``call`` is called, not when the event loop
        first runs the call (as the reference's call runs up to its first await at
        once): until that call ends, a later call with the same key raises ValueError
        at once, whichever of the two the loop happens to run first.
        """
        if idempotency_key is not None and is_valid_message_id(idempotency_key):
            keys = self._keys
            if keys is None:
                keys = self._keys = weakref.WeakValueDictionary()
            holder = keys.get(idempotency_key)
            if holder is not None and inspect.getcoroutinestate(holder) != inspect.CORO_CLOSED:
                return self._refuse_key(idempotency_key)
            call = self._call(args, timeout_ms, retries, idempotency_key)
            keys[idempotency_key] = call  # weakly: a call dropped unawaited frees its key
            return call
        return self._call(args, timeout_ms, retries, idempotency_key)

    @staticmethod
    async def _refuse_key(key: str) -> dict[str, Any]:
        raise ValueError(f"a call with message id {key!r} is already in flight")

    async def _call(
        self,
        args: tuple[Any, ...],
        timeout_ms: float | None,
        retries: int,
        idempotency_key: str | None,
    ) -> dict[str, Any]:
        protocol, method, params = _split_call_args(args)
        if timeout_ms is None:
            timeout_ms = self._options.call_timeout_ms
        elif isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int | float):
            raise TypeError(f"timeout_ms must be a number, not {timeout_ms!r}")
        elif not timeout_ms > 0 or timeout_ms == math.inf:
            raise ValueError(f"timeout_ms must be positive and finite, not {timeout_ms!r}")
        if type(retries) is not int and (isinstance(retries, bool) or not isinstance(retries, int)):
            raise ValueError(f"retries must be an integer of 0 or more, not {retries!r}")
        if retries < 0:
            raise ValueError(f"retries must be an integer of 0 or more, not {retries!r}")
        if idempotency_key is not None and not is_valid_message_id(idempotency_key):
            raise ValueError(
                f"idempotency_key must be a string of 1 to 36 characters, not {idempotency_key!r}"
            )
        message_id = idempotency_key or _new_message_id()
        backoff: Backoff | None = None
        while True:
            try:
                return await self._call_once(protocol, method, params, message_id, timeout_ms)
            except CallTimeoutError:
                backoff = backoff or Backoff(*RETRY_BACKOFF_MS)
                if backoff.attempt >= retries:
                    raise
                delay = backoff.next_delay()
                self._logger.debug("retrying call", method=method, attempt=backoff.attempt)
                await asyncio.sleep(delay / 1000)

    def safe_call(self, *args: Any, **kwargs: Any) -> Coroutine[Any, Any, dict[str, Any] | None]:
        """Like :meth:`call` (the key taken at once too), but the awaited result is
        None (and a log entry) instead of an exception."""
        return self._safe_call(self.call(*args, **kwargs), args)

    async def _safe_call(
        self, call: Awaitable[dict[str, Any]], args: tuple[Any, ...]
    ) -> dict[str, Any] | None:
        try:
            return await call
        except Exception as exc:
            name = args[-2] if len(args) >= 2 and isinstance(args[-2], str) else args[:1]
            self._logger.warn("safe_call failed", method=name, error=repr(exc))
            return None

    def _check_queueable(self) -> None:
        """Raise unless a call may wait for the connection to open."""
        if self._state is State.CLOSING or not self._can_queue():
            raise ConnectionClosedError(f"not connected (state {self._state.name})")

    def _sendable(self) -> bool:
        return self._state is State.OPEN or (self._state is State.CLOSING and self._draining)

    async def _call_once(
        self,
        protocol: str | None,
        method: str,
        params: Mapping[str, Any],
        message_id: str,
        timeout_ms: float,
    ) -> dict[str, Any]:
        if self._state is not State.OPEN:
            self._check_queueable()
        slots = self._slots
        self._outbound += 1
        try:
            ticket = slots.try_acquire()
            if ticket is None:
                try:
                    limit = getattr(self._options, "offline_queue_max_size", None)
                    ticket = await slots.acquire(timeout_ms / 1000, limit)
                except OfflineTimeout:
                    raise CallTimeoutError(
                        f"{method} was not sent within {timeout_ms:g} ms: no connection opened"
                    ) from None
            held = True
            try:
                while not self._sendable():  # the connection dropped as our turn came
                    self._check_queueable()
                    held = False
                    await slots.wait_for_open(ticket)  # its own place in line again
                    held = True
                return await self._send_call(protocol, method, params, message_id, timeout_ms)
            finally:
                if held:
                    slots.release()
        finally:
            self._outbound -= 1
            drained = self._drained
            if self._outbound == 0 and drained is not None and not drained.done():
                drained.set_result(None)

    async def _send_call(
        self,
        protocol: str | None,
        method: str,
        params: Mapping[str, Any],
        message_id: str,
        timeout_ms: float,
    ) -> dict[str, Any]:
        if protocol is not None and protocol != self._protocol:
            raise ValueError(
                f"call for {protocol} on a connection that speaks {self._protocol or 'none'}"
            )
        options = self._options  # strict_mode first: no call at all when off
        if options.strict_mode and options.is_strict(self._protocol, method):
            self._validator().validate_request(method, params)
        session = self._session
        frame = Call(message_id, method, dict(params))
        text = session.encode_call(frame)
        loop = asyncio.get_running_loop()
        # A plain Future, not loop.create_future(): Pyodide's WebLoop makes that one
        # count itself with a done callback, one more callback run per answer (the
        # call's task is counted already); on asyncio's own loops they are the same.
        future: asyncio.Future[dict[str, Any]] = asyncio.Future(loop=loop)
        deadline = loop.time() + timeout_ms / 1000
        pending = _Pending(method, future, deadline, timeout_ms)
        session.track(message_id, pending)
        self._deadlines.add(deadline)
        observer = self._observer
        started = time.perf_counter() if observer is not None else 0.0
        try:
            await self._send_text(text)
            if self._listeners.get("call"):
                self.emit("call", FrameEvent(frame, True, method))
            return await future
        finally:
            session.forget(message_id, pending)
            if observer is not None:
                observer.outbound(method, future, time.perf_counter() - started)

    def _expire(self, message_id: str) -> None:
        pending = self._session.expire(message_id)
        if pending is None or pending.future.done():
            return
        self._session.timed_out(message_id)
        method, timeout_ms = pending.action, pending.timeout_ms
        pending.fail(CallTimeoutError(f"{method} got no response within {timeout_ms:g} ms"))

    async def send_raw(self, text: str) -> None:
        """Send ``text`` as it is (no framing, no validation)."""
        if not isinstance(text, str):
            raise TypeError(f"send_raw takes a str, not {type(text).__name__}")
        await self._send_text(text)

    async def send_unconfirmed(self, method: str, params: Mapping[str, Any]) -> str:
        """Send an OCPP 2.1 SEND message (never answered); returns its message id."""
        if MessageType.SEND not in version_of(self._protocol).message_types:
            raise ValueError(f"SEND messages need OCPP 2.1, not {self._protocol}")
        _, method, params = _split_call_args((method, params))
        if self._options.is_strict(self._protocol, method):
            self._validator().validate_request(method, params)
        frame = Send(_new_message_id(), method, dict(params))
        await self._send_text(encode(frame))
        return frame.message_id

    async def _send_text(self, text: str) -> None:
        """Send and wait for the transport to take it (calls: backpressure on the caller)."""
        transport = self._sending_transport()
        try:
            await transport.send(text)
        except Exception as exc:
            raise RPCGenericTransportError(f"sending failed: {exc!r}") from exc
        self._sent(text)

    def _write(self, text: str) -> None:
        """Send without waiting (replies, from the receive path, which never awaits)."""
        transport = self._sending_transport()
        try:
            transport.send_now(text)
        except Exception as exc:
            raise RPCGenericTransportError(f"sending failed: {exc!r}") from exc
        self._sent(text)

    def _sending_transport(self) -> Transport:
        transport = self._transport
        if transport is None or not (self._state is State.OPEN or self._state is State.CLOSING):
            raise ConnectionClosedError(f"not connected (state {self._state.name})")
        return transport

    def _sent(self, text: str) -> None:
        self.last_activity = time.monotonic()
        if self._logger.exchange_log:
            self._logger.info("OUT", direction="OUT", message=text)
        if self._listeners.get("message"):
            self.emit("message", MessageEvent(text, True))

    def _checks(self, action: str) -> bool:
        """Whether strict mode validates ``action`` here (it has a schema and is selected)."""
        protocol = self._protocol
        return self._options.is_strict(protocol, action) and action in self._session.known

    def _strict_validator(self, action: str) -> Any:
        """The schema validator when strict mode checks ``action`` here, else None
        (remembered per known action until the protocol or the options change)."""
        cache = self._strict_actions
        found = cache.get(action, _UNSET)
        if found is not _UNSET:
            return found
        if not self._checks(action):
            if action in self._session.known:  # only a bounded set is kept
                cache[action] = None
            return None
        validator = cache[action] = self._validator()
        return validator

    def _validator(self) -> Any:
        validator = self._schema_validator
        if validator is None:
            from ..rpc.validation import validator_for  # loads only when strict

            validator = validator_for(self._protocol or "")
            if validator is None:
                raise RPCNotImplementedError(
                    f"no schemas for {self._protocol}: strict mode cannot run"
                )
            self._schema_validator = validator
        return validator

    # -- inbound ---------------------------------------------------------------------------

    def receive(self, text: str, transport: object = None) -> None:
        """Called by the transport for every text frame received (a transport passes
        itself, so frames still arriving from a replaced connection are dropped).

        Never awaits: replies go out with ``send_now`` and async handlers run in tasks,
        so a transport can deliver straight from its data callback, in order."""
        if transport is not None and transport is not self._transport:
            return
        self.last_activity = time.monotonic()
        if self._logger.exchange_log:
            self._logger.info("IN", direction="IN", message=text)
        if self._listeners.get("message"):
            self.emit("message", MessageEvent(text, False))
        frame = parse(text, self._protocol)
        gate = self._gate
        if gate is not None and not gate(frame):
            return
        event = self._session.receive_frame(frame)
        kind = type(event)
        if kind is Call:
            self._on_call(event)  # type: ignore[arg-type]
        elif kind is Answered:
            self._on_answer(event)  # type: ignore[arg-type]
        elif kind is Refused:
            self._on_bad(event)  # type: ignore[arg-type]
        elif kind is Send:
            self._on_send(event)  # type: ignore[arg-type]
        elif kind is Late:
            late: Late = event  # type: ignore[assignment]
            message_id = late.frame.message_id
            self._logger.debug("late response to a timed-out call", message_id=message_id)
        else:
            self._on_result_error(event)  # type: ignore[arg-type]

    def _on_call(self, frame: Call) -> None:
        if self._listeners.get("call"):
            self.emit("call", FrameEvent(frame, False, frame.action))
        observer = self._observer
        started = time.perf_counter() if observer is not None else 0.0
        try:
            result = self._dispatch(frame)
        except Exception as exc:
            outcome = self._reply_exception(frame, exc)
            if observer is not None:
                observer.inbound(frame.action, outcome, time.perf_counter() - started)
            return
        if type(result) is not dict and inspect.isawaitable(result):
            message_id = frame.message_id
            task = self._spawn(self._finish_call(frame, result, self._transport, started))
            session = self._session
            session.begin(message_id, task)
            task.add_done_callback(lambda done: session.end(message_id, done))
            return
        outcome = self._reply(frame, result)
        if observer is not None:
            observer.inbound(frame.action, outcome, time.perf_counter() - started)

    def _dispatch(self, frame: Call | Send) -> Any:
        """Find the handler, validate (strict mode, actions with a schema), call it.

        The handler is looked up first, so an action without a handler is answered
        NotImplemented/NotSupported whatever its payload, and a wildcard handler
        still gets vendor actions (which have no schema) in strict mode.
        """
        protocol = self._protocol
        found = self._handlers.lookup(protocol, frame.action)
        if found is None:
            raise self._session.unhandled(frame.action)
        if self._options.strict_mode and frame.action in self._session.known:
            validator = self._strict_validator(frame.action)
            if validator is not None:
                try:
                    validator.validate_request(frame.action, frame.payload)
                except RPCError as exc:
                    self._invalid_request(frame, exc)
                    raise
        handler, wildcard = found
        context = HandlerContext(frame.payload, frame.action, protocol, frame.message_id, self)
        return handler(frame.action, context) if wildcard else handler(context)

    def _invalid_request(self, frame: Call | Send, error: RPCError) -> None:
        """Strict mode refused ``frame`` (it is answered with ``error``): a hook for a
        server reporting invalid payloads; nothing here."""

    async def _finish_call(
        self, frame: Call, result: Awaitable[Any], transport: object, started: float
    ) -> None:
        error: Exception | None = None
        try:
            value = await result
        except Exception as exc:
            value, error = None, exc
        if self._transport is not transport:  # its connection is gone: no reply on another
            self._logger.debug("reply dropped: the call's connection closed", method=frame.action)
            outcome = "closed"
        elif error is not None:
            outcome = self._reply_exception(frame, error)
        else:
            outcome = self._reply(frame, value)
        if self._observer is not None:
            self._observer.inbound(frame.action, outcome, time.perf_counter() - started)

    def _reply(self, frame: Call, result: Any) -> str:
        """Answer ``frame`` with a handler's result; returns the outcome: ``"ok"``, the
        error code answered, or ``"closed"`` (the reply could not be sent)."""
        if result is NOREPLY:
            return "ok"
        validator = self._strict_validator(frame.action) if self._options.strict_mode else None
        return self._send_reply(self._session.reply(frame, result, validator), frame.action)

    def _reply_exception(self, frame: Call, exc: Exception) -> str:
        detailed = self._options.respond_with_detailed_errors
        return self._send_reply(self._session.failure(frame, exc, detailed), frame.action)

    def _send_error(
        self, message_id: str, error: RPCError, kind: MessageType = MessageType.CALLERROR
    ) -> str:
        """Answer with ``error``; returns the code sent."""
        return self._send_reply(self._session.error(message_id, error, kind=kind))

    def _send_reply(self, reply: Reply, action: str | None = None) -> str:
        """Send ``reply`` (logging why, if a handler's result was refused); returns the
        outcome: ``"ok"`` for a result sent, ``"closed"`` for one that could not be
        (a connection lost meanwhile is logged, not raised), the code of an error."""
        if reply.problem is not None:  # only replies to a handler's outcome have one
            message, fields = reply.problem
            self._logger.error(message, method=action, **fields)
        frame = reply.frame
        try:
            self._write(reply.text)
            sent = True
        except (ConnectionClosedError, RPCGenericTransportError) as exc:
            self._logger.warn("could not send reply", error=str(exc))
            sent = False
        if type(frame) is CallResult:
            if sent and self._listeners.get("call_result"):
                self.emit("call_result", FrameEvent(frame, True, action))
            return "ok" if sent else "closed"
        if sent and self.has_listeners("call_error"):
            self.emit("call_error", FrameEvent(frame, True))
        return frame.error_code  # type: ignore[union-attr]

    def _on_answer(self, answered: Answered[_Pending]) -> None:
        frame, pending = answered.frame, answered.pending
        if isinstance(frame, CallError):
            if self.has_listeners("call_error"):
                self.emit("call_error", FrameEvent(frame, False, pending.action))
            pending.fail(
                error_from_code(frame.error_code, frame.error_description, frame.error_details)
            )
            return
        if self._listeners.get("call_result"):
            self.emit("call_result", FrameEvent(frame, False, pending.action))
        options = self._options  # strict_mode first: no call at all when off
        strict = options.strict_mode and options.is_strict(self._protocol, pending.action)
        if strict and not pending.future.done():
            try:
                self._validator().validate_response(pending.action, frame.payload)
            except RPCError as exc:
                pending.fail(exc)
                reply = self._session.refuse_answer(frame.message_id, exc)
                if reply is not None:
                    self._send_reply(reply)
                return
        pending.settle(frame.payload)

    def _on_result_error(self, frame: CallResultError) -> None:
        """The other side could not process one of our responses (OCPP 2.1)."""
        self._logger.warn(
            "our response was refused",
            message_id=frame.message_id,
            code=frame.error_code,
            description=frame.error_description,
        )
        if self.has_listeners("call_error"):
            self.emit("call_error", FrameEvent(frame, False))

    def _on_send(self, frame: Send) -> None:
        if self.has_listeners("call"):
            self.emit("call", FrameEvent(frame, False, frame.action))
        try:
            result = self._dispatch(frame)
            if inspect.isawaitable(result):
                self._spawn(self._finish_send(frame, result))
        except Exception as exc:
            self._logger.warn("SEND not processed", method=frame.action, error=repr(exc))

    async def _finish_send(self, frame: Send, result: Awaitable[Any]) -> None:
        try:
            await result
        except Exception as exc:
            self._logger.warn("SEND handler raised", method=frame.action, error=repr(exc))

    def _on_bad(self, refused: Refused[_Pending]) -> None:
        """A bad message, counted by the session: report it, answer it, fail the call
        it answered unreadably, close with 1002 at the limit."""
        verdict = refused.verdict
        if self._observer is not None:
            self._observer.bad_message(verdict.error_code)
        if refused.pending is not None:  # the answer came, unreadable: fail now, not at timeout
            refused.pending.fail(verdict.error)
        self._logger.warn(
            "bad message",
            code=verdict.error_code,
            error=verdict.error.message,
            count=self._session.bad_messages,
        )
        self.emit("bad_message", BadMessageEvent(verdict.text, verdict.error))
        if refused.reply is not None and self._transport is not None:
            self._send_reply(refused.reply)
        if refused.close and self._closing is None:
            self._spawn(self.close(*CLOSE_TOO_MANY_BAD_MESSAGES, await_pending=False))
