"""Error classes: RPC errors with their per-version wire codes, and local errors.

Every RPC error knows how its code is spelled on the wire for each OCPP version
(1.6 keeps ``FormationViolation`` and ``OccurenceConstraintViolation``, as its errata
says; 2.0.1 and 2.1 fix both spellings).  A received CALLERROR becomes the class
that matches its code; unknown codes become :class:`RPCGenericError`.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "MAX_DESCRIPTION_LENGTH",
    "CallTimeoutError",
    "ConnectionClosedError",
    "OCPPError",
    "QueueOverflowError",
    "RPCError",
    "RPCFormatViolationError",
    "RPCFormationViolationError",
    "RPCFrameworkError",
    "RPCGenericError",
    "RPCGenericTransportError",
    "RPCInternalError",
    "RPCMessageTypeNotSupportedError",
    "RPCNotImplementedError",
    "RPCNotSupportedError",
    "RPCOccurrenceConstraintViolationError",
    "RPCPropertyConstraintViolationError",
    "RPCProtocolError",
    "RPCSecurityError",
    "RPCTypeConstraintViolationError",
    "UnexpectedHttpResponse",
    "WebsocketUpgradeError",
    "error_from_code",
]

MAX_DESCRIPTION_LENGTH = 255
"""ErrorDescription is string[255] in every version."""


class OCPPError(Exception):
    """Base class of every error this library raises on purpose."""


class RPCError(OCPPError):
    """An error that travels as a CALLERROR (or CALLRESULTERROR) on the wire.

    ``code`` is the spelling used by OCPP 2.0.1 and 2.1; :meth:`wire_code` gives the
    spelling for any version.  ``details`` is the CALLERROR's ErrorDetails object.
    """

    code: ClassVar[str] = "GenericError"
    codes_by_version: ClassVar[dict[str, str]] = {}

    def __init__(self, message: str = "", details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details) if details else {}
        self.received_code: str | None = None

    @classmethod
    def wire_code(cls, protocol: str | None) -> str:
        """The error code as spelled on the wire for ``protocol``."""
        return cls.codes_by_version.get(protocol or "", cls.code)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, details={self.details!r})"


class RPCGenericError(RPCError):
    """Any error not covered by a more specific code (also: any unknown code)."""

    code = "GenericError"


class RPCNotImplementedError(RPCError):
    """The action is not known by the receiver."""

    code = "NotImplemented"


class RPCNotSupportedError(RPCError):
    """The action is known but not supported (no handler) by the receiver."""

    code = "NotSupported"


class RPCInternalError(RPCError):
    """The receiver failed while processing the action."""

    code = "InternalError"


class RPCProtocolError(RPCError):
    """The payload is incomplete or does not conform to the PDU structure."""

    code = "ProtocolError"


class RPCSecurityError(RPCError):
    """A security issue prevented the receiver from completing the action."""

    code = "SecurityError"


class RPCFormationViolationError(RPCError):
    """The payload is syntactically incorrect (``FormationViolation`` in 1.6)."""

    code = "FormatViolation"
    codes_by_version: ClassVar[dict[str, str]] = {"ocpp1.6": "FormationViolation"}


RPCFormatViolationError = RPCFormationViolationError
"""The 2.0.1 name of the same error."""


class RPCPropertyConstraintViolationError(RPCError):
    """A field holds an invalid value."""

    code = "PropertyConstraintViolation"


class RPCOccurrenceConstraintViolationError(RPCError):
    """A field violates occurrence constraints (missing, too many)."""

    code = "OccurrenceConstraintViolation"
    codes_by_version: ClassVar[dict[str, str]] = {"ocpp1.6": "OccurenceConstraintViolation"}


class RPCTypeConstraintViolationError(RPCError):
    """A field has the wrong data type."""

    code = "TypeConstraintViolation"


class RPCGenericTransportError(RPCError):
    """The transport failed while sending or receiving (local; GenericError on the wire)."""

    code = "GenericError"


class RPCMessageTypeNotSupportedError(RPCError):
    """A message type number the receiver does not support (2.0.1 and later)."""

    code = "MessageTypeNotSupported"
    codes_by_version: ClassVar[dict[str, str]] = {"ocpp1.6": "GenericError"}


class RPCFrameworkError(RPCError):
    """The message is not a valid RPC frame, e.g. its id cannot be read (2.0.1 and later)."""

    code = "RpcFrameworkError"
    codes_by_version: ClassVar[dict[str, str]] = {"ocpp1.6": "FormationViolation"}


_CLASS_BY_CODE: dict[str, type[RPCError]] = {
    "GenericError": RPCGenericError,
    "NotImplemented": RPCNotImplementedError,
    "NotSupported": RPCNotSupportedError,
    "InternalError": RPCInternalError,
    "ProtocolError": RPCProtocolError,
    "SecurityError": RPCSecurityError,
    "FormatViolation": RPCFormationViolationError,
    "FormationViolation": RPCFormationViolationError,
    "PropertyConstraintViolation": RPCPropertyConstraintViolationError,
    "OccurrenceConstraintViolation": RPCOccurrenceConstraintViolationError,
    "OccurenceConstraintViolation": RPCOccurrenceConstraintViolationError,
    "TypeConstraintViolation": RPCTypeConstraintViolationError,
    "MessageTypeNotSupported": RPCMessageTypeNotSupportedError,
    "RpcFrameworkError": RPCFrameworkError,
}


def error_from_code(code: str, description: str = "", details: Any = None) -> RPCError:
    """The error a received CALLERROR stands for; unknown codes give RPCGenericError."""
    cls = _CLASS_BY_CODE.get(code, RPCGenericError)
    error = cls(description, details if isinstance(details, dict) else None)
    error.received_code = code
    return error


class CallTimeoutError(OCPPError, TimeoutError):
    """A call got no response within its timeout (``except TimeoutError`` catches it)."""


class ConnectionClosedError(OCPPError, ConnectionError):
    """The connection is closed (or was lost) so the call cannot complete."""

    def __init__(self, message: str, code: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class QueueOverflowError(OCPPError):
    """The offline queue was full: the oldest queued call was rejected with this."""


class UnexpectedHttpResponse(OCPPError):
    """The server answered the WebSocket upgrade with a non-101 HTTP response."""

    def __init__(
        self,
        status: int,
        reason: str = "",
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(f"unexpected HTTP response {status} {reason}".rstrip())
        self.status = status
        self.reason = reason
        self.headers = headers or {}
        self.body = body

    @property
    def status_code(self) -> int:
        """The HTTP status, under the reference's name (``statusCode``)."""
        return self.status

    @property
    def retryable(self) -> bool:
        """Whether trying again later may succeed (server trouble, not a refusal)."""
        return self.status >= 500 or self.status in (408, 429)


class WebsocketUpgradeError(OCPPError):
    """The WebSocket upgrade failed (no common subprotocol, bad handshake, refused)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable
