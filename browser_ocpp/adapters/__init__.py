"""Cluster adapters: servers (nodes) on several processes or machines reach every
station, wherever it is connected. :class:`Adapter` is the interface;
:class:`RedisAdapter` (the ``redis`` extra) is loaded on first use, so importing this
package needs neither Redis nor its client (and works in Pyodide)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Adapter, CallOutcome

__all__ = ["Adapter", "CallOutcome", "RedisAdapter"]

if TYPE_CHECKING:
    from .redis import RedisAdapter


def __getattr__(name: str) -> Any:
    if name != "RedisAdapter":
        raise AttributeError(f"module 'browser_ocpp.adapters' has no attribute {name!r}")
    from .redis import RedisAdapter

    globals()[name] = RedisAdapter
    return RedisAdapter
