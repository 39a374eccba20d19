"""The cluster adapter interface, and the wire form of a call made for another node.

An :class:`Adapter` joins one :class:`~browser_ocpp.OCPPServer` (a *node*) to the
others: it records which node holds which station (presence), carries calls to
stations held elsewhere and brings their outcome back, and tells a node when a
station it holds has connected to another node (eviction). The interface is at the
level of those jobs rather than raw publish/subscribe, so that an adapter can do a
lookup and a send in one round trip (the Redis adapter does each in one script).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..peer.peer import RETRY_BACKOFF_MS, _split_call_args
from ..rpc.errors import (
    CallTimeoutError,
    ConnectionClosedError,
    RPCError,
    RPCInternalError,
    error_from_code,
)

if TYPE_CHECKING:
    from ..server.server import OCPPServer

__all__ = [
    "Adapter",
    "CallOutcome",
    "call_budget_ms",
    "check_call",
    "decode_outcome",
    "encode_error",
    "encode_result",
]

CallOutcome = dict[str, dict[str, Any] | Exception]
"""What a batch of calls gives: per identity, the response payload or the error."""


class Adapter(abc.ABC):
    """What an :class:`~browser_ocpp.OCPPServer` needs to reach stations on other nodes.

    The server calls :meth:`start` before it listens and :meth:`close` after its own
    connections have closed; :meth:`connected` and :meth:`disconnected` as stations
    come and go (they return at once: the work is queued, in order); :meth:`call` and
    :meth:`call_many` for stations that are not connected to this node.
    """

    node_id: str
    """This node's name in the cluster (unique among the nodes sharing a backend)."""

    @abc.abstractmethod
    async def start(self, server: OCPPServer) -> None:
        """Connect to the backend and serve ``server``'s stations to the other nodes."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Leave the cluster: forget this node's stations, stop serving, disconnect."""

    @abc.abstractmethod
    def connected(self, identity: str) -> None:
        """A station connected to this node: record it here, evict it elsewhere."""

    @abc.abstractmethod
    def disconnected(self, identity: str) -> None:
        """The station left this node: forget it, unless another node holds it now."""

    @abc.abstractmethod
    async def call(
        self, identity: str, args: tuple[Any, ...], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``client.call(*args, **options)`` on ``identity`` wherever it is connected:
        its response payload, or the error it gave (raised)."""

    @abc.abstractmethod
    async def call_many(
        self, identities: Sequence[str], args: tuple[Any, ...], options: Mapping[str, Any]
    ) -> CallOutcome:
        """The same call on many stations held elsewhere, grouped per node."""

    @abc.abstractmethod
    async def metrics(self) -> dict[str, Any]:
        """Figures of the cluster as the backend sees it."""


def check_call(args: tuple[Any, ...], options: Mapping[str, Any], default_ms: float) -> float:
    """Check a call's arguments as ``client.call`` would, before they travel; returns
    the timeout of one attempt in milliseconds."""
    _split_call_args(args)
    unknown = set(options) - {"timeout_ms", "retries", "idempotency_key"}
    if unknown:
        raise TypeError(f"unexpected call options: {', '.join(sorted(unknown))}")
    timeout_ms = options.get("timeout_ms")
    if timeout_ms is None:
        return default_ms
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int | float):
        raise TypeError(f"timeout_ms must be a number, not {timeout_ms!r}")
    if not timeout_ms > 0 or timeout_ms == math.inf:
        raise ValueError(f"timeout_ms must be positive and finite, not {timeout_ms!r}")
    return float(timeout_ms)


def call_budget_ms(timeout_ms: float, options: Mapping[str, Any]) -> float:
    """The longest a call may take with its retries: every attempt's timeout and the
    longest pause between attempts."""
    retries = options.get("retries") or 0
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an integer of 0 or more, not {retries!r}")
    return timeout_ms * (retries + 1) + RETRY_BACKOFF_MS[1] * retries


def encode_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """The outcome of a call that was answered."""
    return {"ok": True, "result": result}


def encode_error(exc: BaseException) -> dict[str, Any]:
    """The outcome of a call that failed, in a form :func:`decode_outcome` raises again
    as the same kind of error (RPC errors keep their code, message and details)."""
    message = str(exc)
    if isinstance(exc, RPCError):
        code = exc.received_code or exc.code
        return {
            "ok": False,
            "kind": "rpc",
            "code": code,
            "message": message,
            "details": exc.details,
        }
    if isinstance(exc, CallTimeoutError):
        return {"ok": False, "kind": "timeout", "message": message}
    if isinstance(exc, ConnectionClosedError):
        return {
            "ok": False,
            "kind": "closed",
            "message": message,
            "code": exc.code,
            "reason": exc.reason,
        }
    if isinstance(exc, TypeError | ValueError):
        return {"ok": False, "kind": type(exc).__name__, "message": message}
    return {"ok": False, "kind": "internal", "message": f"{type(exc).__name__}: {message}"}


def decode_outcome(outcome: Mapping[str, Any]) -> dict[str, Any]:
    """The response payload of an outcome, or its error raised."""
    if outcome.get("ok"):
        result = outcome.get("result")
        return result if isinstance(result, dict) else {}
    raise _error(outcome)


def _error(outcome: Mapping[str, Any]) -> Exception:
    kind = outcome.get("kind")
    message = str(outcome.get("message", ""))
    if kind == "rpc":
        return error_from_code(str(outcome.get("code")), message, outcome.get("details"))
    if kind == "timeout":
        return CallTimeoutError(message)
    if kind == "closed":
        code = outcome.get("code")
        return ConnectionClosedError(
            message, code if isinstance(code, int) else None, str(outcome.get("reason") or "")
        )
    if kind == "TypeError":
        return TypeError(message)
    if kind == "ValueError":
        return ValueError(message)
    return RPCInternalError(message)
