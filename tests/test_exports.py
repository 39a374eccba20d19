"""The public surface, and that importing the package pulls in no platform library."""

from __future__ import annotations

import subprocess
import sys

import pytest

import browser_ocpp

PUBLIC = {
    "NOREPLY", "OCPP16", "OCPP201", "OCPP21",
    "BadMessageEvent", "CallTimeoutError", "CloseEvent", "CompressionOptions", "ConnectingEvent",
    "ConnectionClosedError", "FrameEvent", "HandlerContext", "LogEntry", "LoggingConfig",
    "MessageEvent", "OCPPError", "OpenEvent", "QueueOverflowError", "RPCClient", "RPCError",
    "RPCFormatViolationError", "RPCFormationViolationError", "RPCFrameworkError",
    "RPCGenericError", "RPCGenericTransportError", "RPCInternalError",
    "RPCMessageTypeNotSupportedError", "RPCNotImplementedError", "RPCNotSupportedError",
    "RPCOccurrenceConstraintViolationError", "RPCPeer", "RPCPropertyConstraintViolationError",
    "RPCProtocolError", "RPCSecurityError", "RPCTypeConstraintViolationError",
    "ReconnectEvent", "State", "UnexpectedHttpResponse", "WebsocketUpgradeError",
    "AuthContext", "BrowserOCPPClient", "OCPPClient", "OCPPServer", "OCPPServerClient",
    "SecurityProfile",
    "__version__",
}  # fmt: skip


def test_public_names_are_pinned() -> None:
    assert set(browser_ocpp.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(browser_ocpp, name) is not None


def test_call_timeout_error_is_the_builtin_timeout_error() -> None:
    import builtins

    assert issubclass(browser_ocpp.CallTimeoutError, builtins.TimeoutError)
    assert not hasattr(browser_ocpp, "TimeoutError")  # nothing shadows the builtin


def test_import_loads_neither_websockets_nor_js_nor_jsonschema() -> None:
    code = (
        "import sys, browser_ocpp; "
        "names = ('websockets', 'js', 'pyodide', 'jsonschema'); "
        "print(sorted(m for m in names if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_attribute_is_a_clear_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        browser_ocpp.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
