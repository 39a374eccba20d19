"""Options of peers and clients, checked on construction and on ``reconfigure``."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from .logs import LoggingConfig

__all__ = ["ClientOptions", "PeerOptions"]


def check_positive(
    name: str, value: float, *, integer: bool = False, infinite: bool = False
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, not {value!r}")
    if integer and not (isinstance(value, int) or (infinite and value == math.inf)):
        raise TypeError(f"{name} must be an integer{' or math.inf' if infinite else ''}")
    if math.isnan(value) or value <= 0 or (value == math.inf and not infinite):
        raise ValueError(f"{name} must be positive{' (or math.inf)' if infinite else ''}")


def check_names(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Collection):
        raise TypeError(f"{name} must be a list of strings, not {value!r}")
    if not all(isinstance(item, str) and item for item in value):
        raise TypeError(f"{name} must hold non-empty strings, not {value!r}")
    return tuple(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerOptions:
    """What every peer (client or server-side connection) understands."""

    call_timeout_ms: float = 30_000
    call_concurrency: int = 1
    max_bad_messages: float = math.inf
    respond_with_detailed_errors: bool = False
    strict_mode: bool | Sequence[str] = False
    strict_mode_methods: Sequence[str] | None = None
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    def __post_init__(self) -> None:
        check_positive("call_timeout_ms", self.call_timeout_ms)
        check_positive("call_concurrency", self.call_concurrency, integer=True)
        check_positive("max_bad_messages", self.max_bad_messages, integer=True, infinite=True)
        if not isinstance(self.strict_mode, bool):
            object.__setattr__(self, "strict_mode", check_names("strict_mode", self.strict_mode))
        if self.strict_mode_methods is not None:
            methods = check_names("strict_mode_methods", self.strict_mode_methods)
            object.__setattr__(self, "strict_mode_methods", frozenset(methods))
        object.__setattr__(self, "logging", LoggingConfig.coerce(self.logging))

    @classmethod
    def from_kwargs(cls, options: Mapping[str, Any]) -> Self:
        return cls()._replace(options)

    def _replace(self, changes: Mapping[str, Any]) -> Self:
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise TypeError(
                f"unknown option(s) for {type(self).__name__}: {', '.join(sorted(unknown))}"
            )
        return dataclasses.replace(self, **changes)

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied and checked (what ``reconfigure`` uses)."""
        return self._replace(changes)

    def is_strict(self, protocol: str | None, method: str) -> bool:
        """Whether calls of ``method`` on ``protocol`` are validated."""
        strict = self.strict_mode
        if strict is False or protocol is None:
            return False
        if strict is not True and protocol not in strict:
            return False
        methods = self.strict_mode_methods
        return methods is None or method in methods


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientOptions(PeerOptions):
    """What a station-side client adds: where to connect and how to reconnect."""

    identity: str = ""
    endpoint: str = ""
    protocols: Sequence[str] = ()
    query: Mapping[str, str] | None = None
    reconnect: bool = True
    max_reconnects: float = math.inf
    backoff_min: float = 1_000
    backoff_max: float = 30_000
    offline_queue: bool = False
    offline_queue_max_size: int = 100

    def __post_init__(self) -> None:
        super(ClientOptions, self).__post_init__()
        if not isinstance(self.identity, str):
            raise TypeError(f"identity must be a string, not {self.identity!r}")
        if not isinstance(self.endpoint, str):
            raise TypeError(f"endpoint must be a string, not {self.endpoint!r}")
        object.__setattr__(self, "protocols", check_names("protocols", self.protocols))
        if self.query is not None and not isinstance(self.query, Mapping):
            raise TypeError(f"query must be a mapping of strings, not {self.query!r}")
        if isinstance(self.max_reconnects, bool) or not isinstance(
            self.max_reconnects, int | float
        ):
            raise TypeError(f"max_reconnects must be an integer, not {self.max_reconnects!r}")
        if self.max_reconnects < 0:
            raise ValueError("max_reconnects must be 0 or more")
        check_positive("backoff_min", self.backoff_min)
        check_positive("backoff_max", self.backoff_max)
        if self.backoff_max < self.backoff_min:
            raise ValueError("backoff_max must not be below backoff_min")
        check_positive("offline_queue_max_size", self.offline_queue_max_size, integer=True)

    def check_connectable(self) -> None:
        """Raise a clear error if the client cannot connect as configured."""
        if not self.identity:
            raise ValueError("identity is required")
        if not self.endpoint.startswith(("ws://", "wss://")):
            raise ValueError(f"endpoint must be a ws:// or wss:// URL, not {self.endpoint!r}")
