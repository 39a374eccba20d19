"""browser_ocpp: OCPP-J (1.6, 2.0.1, 2.1) RPC with one engine for the browser and CPython.

Importing this package loads neither ``websockets`` nor ``js``: the CPython socket
classes are imported on first use, so the same package imports under Pyodide.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .browser import BrowserOCPPClient
from .peer import (
    NOREPLY,
    BadMessageEvent,
    CloseEvent,
    ConnectingEvent,
    FrameEvent,
    HandlerContext,
    LogEntry,
    LoggingConfig,
    MessageEvent,
    OpenEvent,
    ReconnectEvent,
    RPCClient,
    RPCPeer,
    State,
)
from .rpc import (
    OCPP16,
    OCPP21,
    OCPP201,
    CallTimeoutError,
    ConnectionClosedError,
    OCPPError,
    QueueOverflowError,
    RPCError,
    RPCFormationViolationError,
    RPCFormatViolationError,
    RPCFrameworkError,
    RPCGenericError,
    RPCGenericTransportError,
    RPCInternalError,
    RPCMessageTypeNotSupportedError,
    RPCNotImplementedError,
    RPCNotSupportedError,
    RPCOccurrenceConstraintViolationError,
    RPCPropertyConstraintViolationError,
    RPCProtocolError,
    RPCSecurityError,
    RPCTypeConstraintViolationError,
    UnexpectedHttpResponse,
    WebsocketUpgradeError,
)

__version__ = "0.1.0"

__all__ = [
    "NOREPLY",
    "OCPP16",
    "OCPP21",
    "OCPP201",
    "AuthContext",
    "BadMessageEvent",
    "BrowserOCPPClient",
    "CallTimeoutError",
    "CloseEvent",
    "CompressionOptions",
    "ConnectingEvent",
    "ConnectionClosedError",
    "FrameEvent",
    "HandlerContext",
    "LogEntry",
    "LoggingConfig",
    "MessageEvent",
    "OCPPClient",
    "OCPPError",
    "OCPPServer",
    "OCPPServerClient",
    "OpenEvent",
    "QueueOverflowError",
    "RPCClient",
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
    "RPCPeer",
    "RPCPropertyConstraintViolationError",
    "RPCProtocolError",
    "RPCSecurityError",
    "RPCTypeConstraintViolationError",
    "ReconnectEvent",
    "SecurityProfile",
    "State",
    "UnexpectedHttpResponse",
    "WebsocketUpgradeError",
    "__version__",
]

# Public names whose modules import websockets: loaded on first use.
_LAZY: dict[str, str] = {
    "AuthContext": ".server",
    "CompressionOptions": ".server",
    "OCPPClient": ".server",
    "OCPPServer": ".server",
    "OCPPServerClient": ".server",
    "SecurityProfile": ".server",
}

if TYPE_CHECKING:
    from .server import (
        AuthContext,
        CompressionOptions,
        OCPPClient,
        OCPPServer,
        OCPPServerClient,
        SecurityProfile,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'browser_ocpp' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value
