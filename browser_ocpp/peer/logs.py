"""Structured logging on the standard :mod:`logging` module.

:class:`LoggingConfig` mirrors the reference's options.  :class:`OCPPLogger` is the
``logger`` property of every client, server and connection: it carries the
component and identity with every entry, filters by level, and hands the entry to
a custom ``logger`` or else to the default output (the ``browser_ocpp`` stdlib
logger, or the browser console) and a custom ``handler``, as the reference does.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LogEntry", "LoggingConfig", "OCPPLogger"]

TRACE = 5
logging.addLevelName(TRACE, "TRACE")

LEVELS: dict[str, int] = {
    "trace": TRACE,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
    "critical": logging.CRITICAL,
}
_ICONS = {TRACE: "·", logging.DEBUG: "○", logging.INFO: "●", logging.WARNING: "▲"}
_COLORS = {TRACE: "90", logging.DEBUG: "36", logging.INFO: "32", logging.WARNING: "33"}


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One log record as handed to a custom ``handler``."""

    time: float
    level: str
    message: str
    component: str
    identity: str | None
    meta: Mapping[str, Any]


@dataclass(slots=True)
class LoggingConfig:
    """Logging options, named as the reference names them (snake_case)."""

    enabled: bool = True
    level: str = "info"
    prettify: bool = False
    exchange_log: bool = False
    logger: Any = None
    handler: Callable[[LogEntry], Any] | None = None
    show_metadata: bool = True
    show_source_meta: bool = True
    prettify_source: bool = False
    prettify_metadata: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.level.lower() not in LEVELS:
            raise ValueError(f"unknown log level {self.level!r}; use one of {sorted(LEVELS)}")

    @classmethod
    def coerce(cls, value: LoggingConfig | Mapping[str, Any] | bool | None) -> LoggingConfig:
        """Accept a config, a dict of its fields, True/None (defaults) or False (off)."""
        if isinstance(value, LoggingConfig):
            return value
        if value is None or value is True:
            return cls()
        if value is False:
            return cls(enabled=False)
        if isinstance(value, Mapping):
            unknown = set(value) - set(cls.__dataclass_fields__)
            if unknown:
                raise TypeError(f"unknown logging option(s): {', '.join(sorted(unknown))}")
            return cls(**value)
        raise TypeError(f"logging must be a LoggingConfig, a dict or a bool, not {value!r}")


_stdlib = logging.getLogger("browser_ocpp")
_pretty: logging.Logger | None = None


def _pretty_logger() -> logging.Logger:
    """A logger that writes prettified lines to stderr, set up once per process."""
    global _pretty
    if _pretty is None:
        _pretty = logging.getLogger("browser_ocpp.pretty")
        _pretty.propagate = False
        _pretty.setLevel(TRACE)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        _pretty.addHandler(handler)
    return _pretty


Sink = Callable[[int, str, LogEntry], None]


class OCPPLogger:
    """A logger bound to a component (``OCPPClient``, ``OCPPServer``...) and identity.

    ``logger.info("message", {"key": "value"})`` or ``logger.info("message", key=value)``.
    """

    __slots__ = ("_sink", "_tasks", "_threshold", "component", "config", "exchange_log", "identity")

    def __init__(
        self,
        config: LoggingConfig,
        component: str,
        identity: str | None = None,
        sink: Sink | None = None,
    ) -> None:
        self.config = config
        self.component = component
        self.identity = identity
        self._threshold = LEVELS[config.level.lower()] if config.enabled else logging.CRITICAL + 1
        self._sink = sink
        self._tasks: set[asyncio.Future[Any]] | None = None
        self.exchange_log = config.enabled and config.exchange_log
        """Whether every frame is logged IN/OUT (read on every frame: a plain attribute)."""

    def child(self, component: str, identity: str | None) -> OCPPLogger:
        """A logger with the same config for another component or identity."""
        return OCPPLogger(self.config, component, identity, self._sink)

    def is_enabled_for(self, level: int) -> bool:
        return level >= self._threshold

    def trace(self, message: str, meta: Mapping[str, Any] | None = None, /, **fields: Any) -> None:
        self.log(TRACE, message, meta, **fields)

    def debug(self, message: str, meta: Mapping[str, Any] | None = None, /, **fields: Any) -> None:
        self.log(logging.DEBUG, message, meta, **fields)

    def info(self, message: str, meta: Mapping[str, Any] | None = None, /, **fields: Any) -> None:
        self.log(logging.INFO, message, meta, **fields)

    def warn(self, message: str, meta: Mapping[str, Any] | None = None, /, **fields: Any) -> None:
        self.log(logging.WARNING, message, meta, **fields)

    warning = warn

    def error(self, message: str, meta: Mapping[str, Any] | None = None, /, **fields: Any) -> None:
        self.log(logging.ERROR, message, meta, **fields)

    def fatal(self, message: str, meta: Mapping[str, Any] | None = None, /, **fields: Any) -> None:
        self.log(logging.CRITICAL, message, meta, **fields)

    critical = fatal

    def log(
        self, level: int, message: str, meta: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> None:
        if level < self._threshold:
            return
        merged = {**self.config.extra, **(meta or {}), **fields}
        entry = LogEntry(
            time.time(),
            logging.getLevelName(level).lower(),
            message,
            self.component,
            self.identity,
            merged,
        )
        try:
            self._deliver(level, entry)
        except Exception:  # a broken custom sink must not break the connection
            _stdlib.exception("log handler failed")

    def _deliver(self, level: int, entry: LogEntry) -> None:
        """As the reference: a custom ``logger`` takes every entry (the handler is then
        unused); otherwise the default output (the sink, or the stdlib logger) writes
        it and the ``handler`` gets it too."""
        config = self.config
        text = self.format(level, entry)
        target = config.logger
        if target is None:
            if self._sink is not None:
                self._sink(level, text, entry)
            else:
                self._to_logger(
                    _pretty_logger() if config.prettify else _stdlib, level, text, entry
                )
            if config.handler is not None:
                self._to_handler(config.handler, entry)
            return
        self._to_logger(target, level, text, entry)

    def _to_handler(self, handler: Callable[[LogEntry], Any], entry: LogEntry) -> None:
        result = handler(entry)
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            if self._tasks is None:
                self._tasks = set()
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _to_logger(target: Any, level: int, text: str, entry: LogEntry) -> None:
        extra = {"ocpp_component": entry.component, "ocpp_identity": entry.identity}
        if isinstance(target, logging.Logger | logging.LoggerAdapter):
            target.log(level, text, extra={**extra, "ocpp_meta": dict(entry.meta)})
            return
        method = getattr(target, entry.level if entry.level != "critical" else "fatal", None)
        if method is None:
            method = target.log
            method(level, text)
        else:
            method(text)

    def format(self, level: int, entry: LogEntry) -> str:
        """The line for ``entry`` as the config asks (source tag, metadata, pretty)."""
        config = self.config
        parts: list[str] = []
        if config.show_source_meta:
            if config.prettify_source:
                tag = entry.component + (f"/{entry.identity}" if entry.identity else "")
                parts.append(f"[{tag}]")
            else:
                source = {"component": entry.component}
                if entry.identity is not None:
                    source["identity"] = entry.identity
                parts.append(_render(source, config.prettify_metadata))
        parts.append(entry.message)
        if config.show_metadata and entry.meta:
            parts.append(_render(entry.meta, config.prettify_metadata))
        text = " ".join(parts)
        if config.prettify:
            icon = _ICONS.get(level, "✖")
            color = _COLORS.get(level, "31")
            text = f"\x1b[{color}m{icon} {entry.level.upper():5}\x1b[0m {text}"
        return text


def _render(meta: Mapping[str, Any], as_pairs: bool) -> str:
    if as_pairs:
        return " ".join(f"{key}={value}" for key, value in meta.items())
    return json.dumps(meta, default=str, ensure_ascii=False, separators=(",", ":"))
