"""Page elements for Python in a Web Worker: writes batched, look-ups only when needed.

In the worker every DOM access is a synchronous round trip to the page's thread, and
one that returns an element makes a proxy as well (milliseconds each on a loaded
machine). An :class:`Element` knows its selector: property and ``dataset`` writes are
queued and reach the page in one call (``window.consoleApply`` in static/page.js) at
the end of the loop's turn, or before anything is read back, whichever comes first;
the element itself is looked up only when something is read or called. On the main
thread the same code runs, with the same batching.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from typing import Any

from .window import document, window

__all__ = ["Element", "events_to", "flush_writes", "read_all", "real"]

_Write = tuple[str, str, Any]
_queue: list[_Write] = []
_JSON_TYPES = (str, bool, int, float, type(None))


def flush_writes() -> None:
    """Send the queued writes to the page now (in the order they were made)."""
    if _queue:
        ops = json.dumps(_queue)
        _queue.clear()
        window.consoleApply(ops)


def _queue_write(selector: str, path: str, value: Any) -> None:
    if not _queue:
        asyncio.get_event_loop().call_soon(flush_writes)
    _queue.append((selector, path, value))


def events_to(dispatch: Callable[[str, Any], None]) -> Any:
    """Have the page call ``dispatch(selector, event)`` for the events routed with
    :meth:`Element.route`; the proxy made for it (kept by the caller)."""
    from pyodide.ffi import create_proxy

    proxy = create_proxy(dispatch)
    window.consoleEvents = proxy
    return proxy


def read_all(reads: list[tuple[Element, str]]) -> list[Any]:
    """Each ``(element, property)``'s value, read in one call to the page (None where
    no element matches)."""
    flush_writes()
    asked = json.dumps([(element.selector, name) for element, name in reads])
    return list(json.loads(str(window.consoleRead(asked))))


def real(element: Any) -> Any:
    """The JS object behind ``element`` (anything else as it is)."""
    return element._look() if isinstance(element, Element) else element


class Element:
    """The page's element that ``selector`` finds (or None: see :meth:`exists`)."""

    __slots__ = ("_element", "_selector")
    _selector: str
    _element: Any

    def __init__(self, selector: str) -> None:
        object.__setattr__(self, "_selector", selector)
        object.__setattr__(self, "_element", None)

    def _look(self) -> Any:
        flush_writes()  # what is read reflects every write made before it
        element = self._element
        if element is None:
            found = document.querySelector(self._selector)
            if found is None or type(found).__name__ == "JsNull":
                return None
            object.__setattr__(self, "_element", found)
            element = found
        return element

    @property
    def selector(self) -> str:
        return self._selector

    def exists(self) -> bool:
        return self._look() is not None

    def queue(self, method: str, *args: Any) -> None:
        """Call ``method(*args)`` on the element with the next flush (JSON arguments;
        nothing happens where no element matches)."""
        _queue_write(self._selector, "@" + method, list(args))

    def trim(self, keep: int, *, newest_last: bool) -> None:
        """Leave the element ``keep`` children at most, dropping the oldest: the
        first ones if the newest are added last, else the last ones (next flush)."""
        _queue_write(self._selector, "@trim", [keep, newest_last])

    def route(self, event: str) -> None:
        """Have the page send ``event`` at this element or inside it to the dispatcher
        (see :func:`events_to`), from the next flush on."""
        _queue_write(self._selector, "@listen", event)

    def __getattr__(self, name: str) -> Any:
        if name in _PARTS:
            return _Part(self, name)
        element = self._look()
        if element is None:
            raise AttributeError(f"{name}: no element matches {self._selector}")
        value = getattr(element, name)
        return _unwrapping(value) if callable(value) else value

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, _JSON_TYPES) and not (
            isinstance(value, float) and not math.isfinite(value)
        ):
            _queue_write(self._selector, name, value)
        else:
            setattr(self._look(), name, real(value))

    def __repr__(self) -> str:
        return f"Element({self._selector!r})"


_PARTS = ("dataset", "style")


class _Part:
    """An element's ``dataset`` or ``style``: writes queued like the element's own."""

    __slots__ = ("_name", "_owner")
    _owner: Element
    _name: str

    def __init__(self, owner: Element, name: str) -> None:
        object.__setattr__(self, "_owner", owner)
        object.__setattr__(self, "_name", name)

    def __getattr__(self, name: str) -> Any:
        return getattr(getattr(self._owner._look(), self._name), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, str):
            _queue_write(self._owner.selector, f"{self._name}.{name}", value)
        else:
            setattr(getattr(self._owner._look(), self._name), name, value)


def _unwrapping(method: Any) -> Any:
    """``method`` called with the JS objects behind any :class:`Element` arguments."""

    def call(*args: Any) -> Any:
        return method(*(real(arg) for arg in args))

    return call
