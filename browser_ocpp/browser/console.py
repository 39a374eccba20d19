"""Log lines to the browser console (``console.debug/info/warn/error``)."""

from __future__ import annotations

import logging
from typing import Any

from ..peer.logs import LogEntry

__all__ = ["ConsoleHandler", "console_sink", "route_library_logs_to_console"]


def _console() -> Any:
    try:
        import js
    except ImportError:
        return None
    return js.console


def console_sink(level: int, text: str, entry: LogEntry) -> None:
    """Write one formatted line to the console method that matches ``level``; outside
    a browser, fall back to the standard ``browser_ocpp`` logger."""
    console = _console()
    if console is None:
        logging.getLogger("browser_ocpp").log(level, text)
        return
    if level >= logging.ERROR:
        console.error(text)
    elif level >= logging.WARNING:
        console.warn(text)
    elif level >= logging.INFO:
        console.info(text)
    else:
        console.debug(text)


class ConsoleHandler(logging.Handler):
    """A logging handler that writes records to the browser console."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        console = _console()
        if console is None:
            return
        if record.levelno >= logging.ERROR:
            console.error(text)
        elif record.levelno >= logging.WARNING:
            console.warn(text)
        else:
            console.info(text)


def route_library_logs_to_console() -> None:
    """In a browser, send the ``browser_ocpp`` loggers to the console unless the page
    configured logging itself: Python's last-resort handler writes to stderr, which
    PyScript shows as an error box on the page."""
    logger = logging.getLogger("browser_ocpp")
    if _console() is None or logger.handlers or logging.getLogger().handlers:
        return
    handler = ConsoleHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
