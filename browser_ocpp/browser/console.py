"""Log lines to the browser console (``console.debug/info/warn/error``)."""

from __future__ import annotations

import logging
from typing import Any

from ..peer.logs import LogEntry

__all__ = ["console_sink"]


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
