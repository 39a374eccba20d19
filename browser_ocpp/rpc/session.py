"""One OCPP-J connection's protocol state, without I/O: text in, events and frames out.

The asyncio peer (:mod:`browser_ocpp.peer`) keeps futures, timers, tasks and the
transport; everything it must remember about the protocol lives here: the outbound
calls awaiting an answer (each with an opaque entry of the peer's, given back exactly
once), the ids of calls that timed out (their late answers are not bad messages), the
inbound calls still being handled, the bad-message count and its limit, and which
error answers what. No asyncio, no clocks, no sockets, as ``websockets``'
``protocol.py`` and h11's ``_connection.py``.

What :meth:`Session.receive` makes of each frame:

=============================  ============================  ==================================
frame received                 when                          event returned
=============================  ============================  ==================================
CALL                           its id is not being handled   the :class:`Call`: run a handler,
                                                             answer with :meth:`Session.reply`
CALL                           its id is being handled       :class:`Refused`, CALLERROR
                                                             (1.6 GenericError, else
                                                             RpcFrameworkError)
SEND (2.1)                     always                        the :class:`Send`: never answered
CALLRESULT, CALLERROR          its id awaits an answer       :class:`Answered` with the entry,
                                                             which leaves the table
CALLRESULT, CALLERROR          its id timed out lately       :class:`Late`: ignored
CALLRESULT, CALLERROR          any other id                  :class:`Refused`, no reply
CALLRESULTERROR (2.1)          always                        the :class:`CallResultError`
unreadable or malformed        always                        :class:`Refused`, answered as
                                                             :func:`parse` says; a bad answer
                                                             to a pending call fails it now
=============================  ============================  ==================================

Every :class:`Refused` counts one bad message; the one that reaches
``max_bad_messages`` carries ``close`` (1002), once per connection.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .errors import (
    RPCError,
    RPCFrameworkError,
    RPCGenericError,
    RPCInternalError,
    RPCNotImplementedError,
    RPCNotSupportedError,
)
from .frames import (
    BadMessage,
    Call,
    CallError,
    CallResult,
    CallResultError,
    Frame,
    Send,
    encode,
    parse,
)
from .versions import OCPP16, MessageType, known_actions, version_of

__all__ = [
    "CLOSE_TOO_MANY_BAD_MESSAGES",
    "LATE_IDS_REMEMBERED",
    "Answered",
    "Event",
    "Late",
    "Refused",
    "Reply",
    "Session",
]

LATE_IDS_REMEMBERED = 64
"""How many timed-out call ids are remembered, so a late response is not a bad message."""

CLOSE_TOO_MANY_BAD_MESSAGES = (1002, "too many bad messages")

P = TypeVar("P")
"""The peer's entry for one outbound call (its future and timer): opaque here."""


# Answered and Reply come once per call: not frozen, as a frozen dataclass's __init__
# costs about three times as much (object.__setattr__ per field). Treat them as frozen.


@dataclass(slots=True)
class Answered(Generic[P]):
    """The answer to one of our calls; ``pending`` has left the table."""

    frame: CallResult | CallError
    pending: P


@dataclass(frozen=True, slots=True)
class Late:
    """An answer to a call that timed out lately: nothing to do."""

    frame: CallResult | CallError


@dataclass(frozen=True, slots=True)
class Refused(Generic[P]):
    """A bad message (already counted): report it, send ``reply`` if any, fail
    ``pending`` (the call it answered unreadably) and close with 1002 if ``close``."""

    verdict: BadMessage
    reply: Reply | None
    pending: P | None
    close: bool


@dataclass(slots=True)
class Reply:
    """A frame to send and its text; ``problem`` is a log line and its fields when a
    handler's result could not be sent as it was (an InternalError went instead)."""

    frame: CallResult | CallError | CallResultError
    text: str
    problem: tuple[str, dict[str, str]] | None = None


Event = Call | Send | CallResultError | Answered[P] | Late | Refused[P]


class Session(Generic[P]):
    """The protocol state of one connection (and of its successors, for a client that
    reconnects: :meth:`open` starts each one, :meth:`lost` ends it)."""

    # Slots: a server holds one session per station, so per-instance size counts.
    __slots__ = (
        "_close_decided",
        "_late",
        "bad_messages",
        "inbound",
        "known",
        "max_bad_messages",
        "pending",
        "protocol",
    )

    def __init__(self, max_bad_messages: float = math.inf) -> None:
        self.protocol: str | None = None
        self.known: frozenset[str] = frozenset()
        """The actions of ``protocol``."""
        self.max_bad_messages = max_bad_messages
        self.bad_messages = 0
        self._close_decided = False
        self.pending: dict[str, P] = {}
        """Outbound calls sent and not answered yet, by message id."""
        self.inbound: dict[str, object] | None = None
        """Inbound calls being handled, by message id (the peer's token for each);
        made on first use: most handlers answer at once."""
        self._late: deque[str] | None = None  # made on the first timeout

    # -- connection ----------------------------------------------------------------------

    def open(self, protocol: str | None) -> None:
        """A connection speaking ``protocol`` opened: its bad-message count starts at 0."""
        self.protocol = protocol
        self.known = known_actions(protocol or "")
        self.bad_messages = 0
        self._close_decided = False

    def lost(self) -> list[P]:
        """The connection is gone: the calls awaiting answers (to be failed) leave the
        table, and calls still being handled will answer nobody."""
        self.inbound = None
        return self.take_pending()

    def take_pending(self) -> list[P]:
        """Every outbound call awaiting an answer, removed from the table."""
        entries = list(self.pending.values())
        self.pending.clear()
        return entries

    # -- outbound calls --------------------------------------------------------------------

    def encode_call(self, frame: Call) -> str:
        """The text of a call to send; ValueError if its id already awaits an answer,
        TypeError if its payload is not JSON."""
        if frame.message_id in self.pending:
            raise ValueError(f"a call with message id {frame.message_id!r} is already in flight")
        try:
            return encode(frame)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"params of {frame.action} are not JSON-serializable: {exc}") from exc

    def track(self, message_id: str, entry: P) -> None:
        """``message_id`` was sent: ``entry`` awaits its answer."""
        self.pending[message_id] = entry

    def forget(self, message_id: str, entry: P) -> None:
        """The call of ``entry`` is over (answered or abandoned): no longer await it."""
        if self.pending.get(message_id) is entry:
            del self.pending[message_id]

    def expire(self, message_id: str) -> P | None:
        """The call ``message_id`` timed out: its entry leaves the table (None if it
        was answered meanwhile); :meth:`timed_out` remembers the id."""
        return self.pending.pop(message_id, None)

    def timed_out(self, message_id: str) -> None:
        """Remember ``message_id``: its answer, if it comes, is late, not bad."""
        if self._late is None:
            self._late = deque(maxlen=LATE_IDS_REMEMBERED)
        self._late.append(message_id)

    # -- inbound -------------------------------------------------------------------------

    def receive(self, text: str | bytes) -> Event[P]:
        """What ``text``, one frame received, means (see the table above)."""
        return self.receive_frame(parse(text, self.protocol))

    def receive_frame(self, frame: Frame | BadMessage) -> Event[P]:
        """:meth:`receive` for a frame already parsed by :func:`parse`."""
        kind = type(frame)
        if kind is Call:
            inbound = self.inbound
            if inbound is not None and frame.message_id in inbound:
                return self._duplicate(frame)  # type: ignore[arg-type]
            return frame  # type: ignore[return-value]
        if kind is CallResult or kind is CallError:
            pending = self.pending.pop(frame.message_id, None)
            if pending is not None:
                return Answered(frame, pending)  # type: ignore[arg-type]
            return self._unexpected(frame)  # type: ignore[arg-type]
        if kind is BadMessage:
            verdict: BadMessage = frame  # type: ignore[assignment]
            reply_type = verdict.reply_type
            if reply_type is None:
                return self._refuse(verdict)
            return self._refuse(
                verdict, self.error(verdict.message_id, verdict.error, kind=reply_type)
            )
        return frame  # type: ignore[return-value]  # Send, CallResultError

    def begin(self, message_id: str, token: object) -> None:
        """The inbound call ``message_id`` is being handled (``token``: the peer's task)."""
        if self.inbound is None:
            self.inbound = {}
        self.inbound[message_id] = token

    def end(self, message_id: str, token: object) -> None:
        """The inbound call ``message_id`` handled under ``token`` is over."""
        inbound = self.inbound
        if inbound is not None and inbound.get(message_id) is token:
            del inbound[message_id]

    def _duplicate(self, frame: Call) -> Refused[P]:
        cls = RPCGenericError if self.protocol == OCPP16 else RPCFrameworkError
        error = cls(f"a call with message id {frame.message_id!r} is already being handled")
        verdict = BadMessage(encode(frame), self.protocol, frame.message_id, error, None)
        return self._refuse(verdict, self.error(frame.message_id, error))

    def _unexpected(self, frame: CallResult | CallError) -> Late | Refused[P]:
        if self._late is not None and frame.message_id in self._late:
            return Late(frame)
        error = RPCGenericError(f"response to unknown message id {frame.message_id!r}")
        return self._refuse(BadMessage(encode(frame), self.protocol, frame.message_id, error, None))

    def _refuse(self, verdict: BadMessage, reply: Reply | None = None) -> Refused[P]:
        self.bad_messages += 1
        pending = None
        if verdict.message_type in (MessageType.CALLRESULT, MessageType.CALLERROR):
            pending = self.pending.pop(verdict.message_id, None)  # answered, unreadably
        close = False
        if self.bad_messages >= self.max_bad_messages and not self._close_decided:
            close = self._close_decided = True
        return Refused(verdict, reply, pending, close)

    # -- answers ---------------------------------------------------------------------------

    def unhandled(self, action: str) -> RPCError:
        """The error for a call no handler takes: NotSupported for an action of the
        version, NotImplemented for any other."""
        if action in self.known:
            return RPCNotSupportedError(f"{action} is not supported")
        return RPCNotImplementedError(f"{action} is not implemented")

    def reply(self, call: Call, result: object, validator: Any = None) -> Reply:
        """The answer to ``call`` whose handler returned ``result`` (None: ``{}``),
        checked by ``validator`` (strict mode) if given: a CALLRESULT, or an
        InternalError when the result is no JSON object or fails validation."""
        if type(result) is not dict:  # the usual case first: a plain dict
            if result is None:
                result = {}
            elif not isinstance(result, dict):
                problem = ("handler returned a non-dict", {"type": type(result).__name__})
                error = RPCInternalError("handler returned no object")
                return self.error(call.message_id, error, problem)
        if validator is not None:
            try:
                validator.validate_response(call.action, result)
            except RPCError as exc:
                problem = ("handler response failed strict validation", {"error": exc.message})
                error = RPCInternalError(f"response failed validation: {exc.message}")
                return self.error(call.message_id, error, problem)
        frame = CallResult(call.message_id, result)
        try:
            return Reply(frame, encode(frame))
        except (TypeError, ValueError) as exc:
            problem = ("handler response is not JSON", {"error": str(exc)})
            return self.error(call.message_id, RPCInternalError("response is not JSON"), problem)

    def failure(self, call: Call, exc: Exception, detailed: bool = False) -> Reply:
        """The answer to ``call`` whose handler raised ``exc``: an RPCError as it is;
        anything else an InternalError, with no stack trace (``detailed``: with the
        exception's type and message)."""
        if isinstance(exc, RPCError):
            return self.error(call.message_id, exc)
        name = type(exc).__name__
        problem = ("handler raised", {"error": f"{name}: {exc}"})
        if detailed:
            error = RPCInternalError(f"{name}: {exc}", {"name": name, "message": str(exc)})
        else:
            error = RPCInternalError("an internal error occurred")
        return self.error(call.message_id, error, problem)

    def refuse_answer(self, message_id: str, error: RPCError) -> Reply | None:
        """Strict mode refused the answer ``message_id`` to one of our calls: a
        CALLRESULTERROR where the version has one (2.1), else nothing to send."""
        if MessageType.CALLRESULTERROR not in version_of(self.protocol).message_types:
            return None
        return self.error(message_id, error, kind=MessageType.CALLRESULTERROR)

    def error(
        self,
        message_id: str,
        error: RPCError,
        problem: tuple[str, dict[str, str]] | None = None,
        kind: MessageType = MessageType.CALLERROR,
    ) -> Reply:
        """``error`` as a CALLERROR (or CALLRESULTERROR) for this version; details
        JSON cannot hold are sent as ``{}``."""
        cls = CallError if kind is MessageType.CALLERROR else CallResultError
        frame = cls(message_id, error.wire_code(self.protocol), error.message, error.details)
        try:
            text = encode(frame)
        except (TypeError, ValueError):
            frame = cls(message_id, frame.error_code, frame.error_description, {})
            text = encode(frame)
        return Reply(frame, text, problem)
