"""Python's output goes to the browser console, never to stderr (PyScript would show
stderr as a red box on the page)."""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any

import js

__all__ = ["route_output_to_console"]


class _ConsoleHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            text = str(record.msg)
        if record.levelno >= logging.ERROR:
            js.console.error(text)
        elif record.levelno >= logging.WARNING:
            js.console.warn(text)
        else:
            js.console.info(text)


class _ConsoleStream:
    """Stands in for ``sys.stderr``: lines go to ``console.warn``."""

    def __init__(self) -> None:
        self._buffer = ""

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            if line.strip():
                js.console.warn(line)
        return len(text)

    def flush(self) -> None:
        if self._buffer.strip():
            js.console.warn(self._buffer)
        self._buffer = ""

    def isatty(self) -> bool:
        return False


def route_output_to_console() -> None:
    handler = _ConsoleHandler()
    handler.setFormatter(logging.Formatter("[%(name)s] %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)

    def show_warning(message: Any, category: Any, filename: str, lineno: int, *_: Any) -> None:
        js.console.warn(f"{category.__name__}: {message} ({filename}:{lineno})")

    warnings.showwarning = show_warning  # type: ignore[assignment]
    sys.stderr = _ConsoleStream()
