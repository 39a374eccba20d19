"""OCPP-J frames: encode one, or parse one text frame into a frame or a verdict.

:func:`parse` never raises: anything that is not a well-formed frame for the
negotiated version comes back as a :class:`BadMessage` that says which error to
report, with which message id, and whether (and how) to reply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import codec
from .errors import (
    MAX_DESCRIPTION_LENGTH,
    RPCError,
    RPCFormationViolationError,
    RPCFrameworkError,
    RPCGenericError,
    RPCMessageTypeNotSupportedError,
)
from .versions import MessageType, UnknownTypePolicy, version_of

__all__ = [
    "UNREADABLE_ID",
    "BadMessage",
    "Call",
    "CallError",
    "CallResult",
    "CallResultError",
    "Frame",
    "Send",
    "encode",
    "is_valid_message_id",
    "parse",
]

UNREADABLE_ID = "-1"
"""The message id a CALLERROR carries when the offending id could not be read."""

MAX_MESSAGE_ID_LENGTH = 36

# Plain ints for the hot path: comparing with an enum member costs a lookup on its class.
_CALL, _CALLRESULT, _SEND = (
    int(MessageType.CALL),
    int(MessageType.CALLRESULT),
    int(MessageType.SEND),
)


@dataclass(frozen=True, slots=True)
class Call:
    """``[2, id, action, payload]``: a request that expects a response."""

    message_id: str
    action: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallResult:
    """``[3, id, payload]``: the response to a CALL."""

    message_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CallError:
    """``[4, id, code, description, details]``: a CALL could not be processed."""

    message_id: str
    error_code: str
    error_description: str = ""
    error_details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallResultError:
    """``[5, id, code, description, details]`` (2.1): a CALLRESULT could not be processed."""

    message_id: str
    error_code: str
    error_description: str = ""
    error_details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Send:
    """``[6, id, action, payload]`` (2.1): an unconfirmed message, never answered."""

    message_id: str
    action: str
    payload: dict[str, Any]


Frame = Call | CallResult | CallError | CallResultError | Send


@dataclass(frozen=True, slots=True)
class BadMessage:
    """The verdict on a frame that could not be accepted.

    ``reply_type`` is the message type to answer with (CALLERROR, or CALLRESULTERROR
    for a bad CALLRESULT on 2.1), or None when the spec says not to answer.
    """

    text: str
    protocol: str | None
    message_id: str
    error: RPCError
    reply_type: MessageType | None
    message_type: int | None = None
    """The frame's message type number, where it could be read."""

    @property
    def reply(self) -> bool:
        return self.reply_type is not None

    @property
    def error_code(self) -> str:
        return self.error.wire_code(self.protocol)

    def reply_frame(self) -> CallError | CallResultError | None:
        """The frame to send back, if any."""
        if self.reply_type is None:
            return None
        cls = CallResultError if self.reply_type is MessageType.CALLRESULTERROR else CallError
        return cls(self.message_id, self.error_code, self.error.message, self.error.details)


def is_valid_message_id(value: object) -> bool:
    """A message id is a string of 1 to 36 characters."""
    return isinstance(value, str) and 0 < len(value) <= MAX_MESSAGE_ID_LENGTH


def _description(text: str) -> str:
    return text[:MAX_DESCRIPTION_LENGTH]


def _message(frame: Frame) -> list[Any]:
    if isinstance(frame, Call):
        return [2, frame.message_id, frame.action, frame.payload]
    if isinstance(frame, CallResult):
        return [3, frame.message_id, frame.payload]
    if isinstance(frame, Send):
        return [6, frame.message_id, frame.action, frame.payload]
    kind = 4 if isinstance(frame, CallError) else 5
    return [
        kind,
        frame.message_id,
        frame.error_code,
        _description(frame.error_description),
        frame.error_details or {},
    ]


def encode(frame: Frame) -> str:
    """The JSON text of ``frame``, always encodable as UTF-8; raises TypeError or
    ValueError for payloads JSON cannot hold (too deeply nested included)."""
    try:
        return codec.encode(_message(frame))
    except RecursionError as exc:
        raise ValueError("too deeply nested to encode as JSON") from exc


def parse(text: str | bytes, protocol: str | None) -> Frame | BadMessage:
    """Parse one WebSocket text frame received on a connection speaking ``protocol``."""
    if not isinstance(text, str):
        return _unreadable(repr(text)[:200], protocol, "binary frames are not OCPP-J messages")
    try:
        message = codec.decode(text)
    except (ValueError, RecursionError):
        return _unreadable(text, protocol, "message is not valid JSON")
    if not isinstance(message, list) or not message:
        return _unreadable(text, protocol, "message is not a non-empty JSON array")
    kind = message[0]
    if type(kind) is not int:
        return _unreadable(text, protocol, "message type is not an integer")
    raw_id = message[1] if len(message) > 1 else None
    readable = is_valid_message_id(raw_id)
    message_id: str = raw_id if readable else UNREADABLE_ID  # type: ignore[assignment]
    version = version_of(protocol)
    if kind not in version.message_types:
        return _unknown_type(text, protocol, kind, message_id, version.unknown_type_policy)
    if not readable:
        why = "message id is not a string of 1 to 36 characters"
        if kind != _CALL:  # only requests are ever answered
            return BadMessage(text, protocol, UNREADABLE_ID, RPCFrameworkError(why), None, kind)
        return _unreadable(text, protocol, why)
    if kind in (_CALL, _SEND):
        return _parse_request(text, protocol, message, message_id, kind)
    if kind == _CALLRESULT:
        return _parse_result(text, protocol, message, message_id)
    return _parse_error(text, protocol, message, message_id, kind)


def _unreadable(text: str, protocol: str | None, why: str) -> BadMessage:
    return BadMessage(text, protocol, UNREADABLE_ID, RPCFrameworkError(why), MessageType.CALLERROR)


def _unknown_type(
    text: str, protocol: str | None, kind: int, message_id: str, policy: UnknownTypePolicy
) -> BadMessage:
    why = f"message type {kind} is not supported by {protocol or 'this connection'}"
    if policy is UnknownTypePolicy.IGNORE:
        return BadMessage(text, protocol, message_id, RPCMessageTypeNotSupportedError(why), None)
    error: RPCError = (
        RPCMessageTypeNotSupportedError(why)
        if policy is UnknownTypePolicy.REPLY_NOT_SUPPORTED
        else RPCGenericError(why)
    )
    return BadMessage(text, protocol, message_id, error, MessageType.CALLERROR)


def _parse_request(
    text: str, protocol: str | None, message: list[Any], message_id: str, kind: int
) -> Frame | BadMessage:
    if len(message) != 4:
        why = f"must have 4 elements, not {len(message)}"
        return _bad_request(text, protocol, message_id, kind, RPCFrameworkError, why)
    action, payload = message[2], message[3]
    if not isinstance(action, str) or not action:
        why = "action must be a non-empty string"
        return _bad_request(text, protocol, message_id, kind, RPCFrameworkError, why)
    if payload is None:  # the spec allows null for "no payload"; {} is the norm
        payload = {}
    elif not isinstance(payload, dict):
        why = "payload must be a JSON object"
        return _bad_request(text, protocol, message_id, kind, RPCFormationViolationError, why)
    if kind == _CALL:
        return Call(message_id, action, payload)
    return Send(message_id, action, payload)


def _bad_request(
    text: str,
    protocol: str | None,
    message_id: str,
    kind: int,
    error: type[RPCError],
    why: str,
) -> BadMessage:
    """A bad CALL is answered with a CALLERROR; a bad SEND is never answered."""
    name, reply = ("CALL", MessageType.CALLERROR) if kind == _CALL else ("SEND", None)
    return BadMessage(text, protocol, message_id, error(f"{name} {why}"), reply)


def _parse_result(
    text: str, protocol: str | None, message: list[Any], message_id: str
) -> Frame | BadMessage:
    # Only 2.1 can answer a bad CALLRESULT (with CALLRESULTERROR).
    reply = (
        MessageType.CALLRESULTERROR
        if MessageType.CALLRESULTERROR in version_of(protocol).message_types
        else None
    )
    if len(message) != 3:
        why = f"CALLRESULT must have 3 elements, not {len(message)}"
        return BadMessage(text, protocol, message_id, RPCFrameworkError(why), reply, 3)
    payload = message[2]
    if payload is None:
        payload = {}
    elif not isinstance(payload, dict):
        why = "CALLRESULT payload must be a JSON object"
        return BadMessage(text, protocol, message_id, RPCFormationViolationError(why), reply, 3)
    return CallResult(message_id, payload)


def _parse_error(
    text: str, protocol: str | None, message: list[Any], message_id: str, kind: int
) -> Frame | BadMessage:
    # Errors are never answered with errors.
    name = "CALLERROR" if kind == MessageType.CALLERROR else "CALLRESULTERROR"
    if len(message) != 5:
        why = f"{name} must have 5 elements, not {len(message)}"
        return BadMessage(text, protocol, message_id, RPCFrameworkError(why), None, kind)
    code, description, details = message[2], message[3], message[4]
    if not isinstance(code, str) or not isinstance(description, str):
        why = f"{name} code and description must be strings"
        return BadMessage(text, protocol, message_id, RPCFrameworkError(why), None, kind)
    if details is None:
        details = {}
    elif not isinstance(details, dict):
        why = f"{name} details must be a JSON object"
        return BadMessage(text, protocol, message_id, RPCFormationViolationError(why), None, kind)
    if kind == MessageType.CALLERROR:
        return CallError(message_id, code, description, details)
    return CallResultError(message_id, code, description, details)
