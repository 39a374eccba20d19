"""The adapter interface's pure parts: a call's outcome on the wire, argument checks,
and that importing the adapters loads no Redis client."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from browser_ocpp import (
    CallTimeoutError,
    ConnectionClosedError,
    OCPPServer,
    RPCFormationViolationError,
    RPCGenericError,
    RPCInternalError,
    RPCOccurrenceConstraintViolationError,
)
from browser_ocpp.adapters import Adapter, RedisAdapter
from browser_ocpp.adapters.base import (
    call_budget_ms,
    check_call,
    decode_outcome,
    encode_error,
    encode_result,
)
from browser_ocpp.rpc.errors import error_from_code


def round_trip(exc: BaseException) -> Exception:
    try:
        decode_outcome(encode_error(exc))
    except Exception as back:
        return back
    pytest.fail("an error came back as a result")


def test_a_result_travels_as_is() -> None:
    assert decode_outcome(encode_result({"status": "Accepted"})) == {"status": "Accepted"}


@pytest.mark.parametrize(
    "error",
    [
        RPCOccurrenceConstraintViolationError("missing", {"field": "type"}),
        error_from_code("OccurenceConstraintViolation", "1.6 spelling", {}),
        error_from_code("FormationViolation", "bad", {"at": 1}),
        error_from_code("VendorSpecific", "unknown code", {}),
    ],
)
def test_rpc_errors_keep_class_code_message_and_details(error: Any) -> None:
    back = round_trip(error)
    assert type(back) is type(error)
    assert (back.message, back.details) == (error.message, error.details)
    assert back.received_code == (error.received_code or error.code)


def test_other_errors_keep_their_kind() -> None:
    assert isinstance(round_trip(CallTimeoutError("slow")), CallTimeoutError)
    closed = round_trip(ConnectionClosedError("gone", 4000, "replaced"))
    assert isinstance(closed, ConnectionClosedError)
    assert (str(closed), closed.code, closed.reason) == ("gone", 4000, "replaced")
    assert type(round_trip(ValueError("bad protocol"))) is ValueError
    assert type(round_trip(TypeError("bad params"))) is TypeError
    internal = round_trip(KeyError("x"))
    assert isinstance(internal, RPCInternalError)
    assert "KeyError" in str(internal)
    assert isinstance(round_trip(RPCFormationViolationError("x")), RPCFormationViolationError)
    assert isinstance(round_trip(RPCGenericError("x")), RPCGenericError)


def test_calls_are_checked_before_they_travel() -> None:
    assert check_call(("Reset", {"type": "Soft"}), {}, 30_000) == 30_000
    assert check_call(("ocpp1.6", "Reset", {}), {"timeout_ms": 500}, 30_000) == 500
    with pytest.raises(TypeError, match="params must be a dict"):
        check_call(("Reset", [1]), {}, 30_000)
    with pytest.raises(ValueError, match="timeout_ms"):
        check_call(("Reset", {}), {"timeout_ms": -1}, 30_000)
    with pytest.raises(TypeError, match="unexpected call options: colour"):
        check_call(("Reset", {}), {"colour": 1}, 30_000)
    assert call_budget_ms(1_000, {"retries": 2}) > 3_000


def test_importing_the_adapters_loads_no_redis_client() -> None:
    code = "import sys, browser_ocpp.adapters; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_set_adapter_before_listen_and_only_adapters() -> None:
    server = OCPPServer()
    with pytest.raises(TypeError, match="not an adapter"):
        server.set_adapter(object())  # type: ignore[arg-type]
    assert await server.adapter_metrics() is None
    adapter = RedisAdapter("redis://127.0.0.1:1", node_id="N")
    assert isinstance(adapter, Adapter)
    server.set_adapter(adapter)
    assert server.adapter is adapter
    assert await server.adapter_metrics() is None  # not started: it cannot tell


async def test_listen_fails_clearly_when_redis_is_unreachable() -> None:
    server = OCPPServer()
    server.set_adapter(RedisAdapter("redis://127.0.0.1:1", node_id="N"))
    with pytest.raises(ConnectionError, match=r"cannot reach Redis at redis://127\.0\.0\.1:1"):
        await server.listen()
    with pytest.raises(RuntimeError, match="not listening"):
        server.port  # noqa: B018  # the server closed again


def test_adapter_options_are_checked() -> None:
    with pytest.raises(ValueError, match="node_ttl_ms"):
        RedisAdapter(node_ttl_ms=0)
    with pytest.raises(ValueError, match="node_id"):
        RedisAdapter(node_id="")
