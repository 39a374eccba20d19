"""Small DOM helpers shared by the views: look-ups, escaping, JSON highlighting, and a
``Page`` that owns listeners, tasks and text writes."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Callable, Coroutine
from typing import Any

import js
from pyodide.ffi import create_proxy

from ...rpc.errors import RPCError
from .elements import Element, events_to

__all__ = [
    "Page",
    "by_id",
    "by_selector",
    "by_testid",
    "describe",
    "esc",
    "forget_lookups",
    "highlight_json",
    "present",
    "status_value",
]


_found: dict[str, Element] = {}
"""Elements by id or test id (see :mod:`.elements`: each is looked up in the page at
most once, when first read); whoever replaces markup holding some of them calls
:func:`forget_lookups`."""


def forget_lookups() -> None:
    """Look elements up afresh: markup holding some of them was replaced."""
    _found.clear()


def _element(selector: str) -> Element:
    element = _found.get(selector)
    if element is None:
        element = _found[selector] = Element(selector)
    return element


def _quoted(text: str) -> str:
    """``text`` as a CSS string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def by_testid(testid: str) -> Any:
    return _element(f"[data-testid={_quoted(testid)}]")


def by_id(element_id: str) -> Any:
    return _element(f"[id={_quoted(element_id)}]")


def by_selector(selector: str) -> Any:
    """The first element ``selector`` matches (its writes queued, as by_id's)."""
    return _element(selector)


def present(found: Any) -> bool:
    """Whether a DOM lookup found something (JS null arrives as ``jsnull``, not None)."""
    if isinstance(found, Element):
        return found.exists()
    return found is not None and type(found).__name__ != "JsNull"


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


_JSON_TOKEN = re.compile(
    r'(?P<key>"(?:[^"\\]|\\.)*"(?=\s*:))|(?P<str>"(?:[^"\\]|\\.)*")'
    r"|(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<lit>\btrue\b|\bfalse\b|\bnull\b)"
)


def highlight_json(text: str) -> str:
    """Escaped HTML of pretty JSON with keys, strings, numbers and literals marked."""
    out: list[str] = []
    last = 0
    for match in _JSON_TOKEN.finditer(text):
        out.append(esc(text[last : match.start()]))
        out.append(f'<span class="j-{match.lastgroup}">{esc(match.group())}</span>')
        last = match.end()
    out.append(esc(text[last:]))
    return "".join(out)


def describe(exc: BaseException, protocol: str | None = None) -> str:
    """``code: message`` for an RPC error (the code as ``protocol`` spells it)."""
    if isinstance(exc, RPCError):
        code = getattr(exc, "received_code", None) or exc.wire_code(protocol)
        return f"{code}: {exc.message}" if exc.message else code
    text = str(exc)
    if type(exc).__name__ == "JsException":  # the browser's own words, e.g. a bad URL
        return text or "the browser refused"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def status_value(status: Any) -> str:
    return str(getattr(status, "value", status))


class Page:
    """What every view needs from the page: guarded listeners, tracked tasks, and
    text writes that skip the DOM when nothing changed.  ``report(text)`` shows a
    failure to the user."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.loop = asyncio.get_event_loop()
        self.report = report
        self.cache: dict[str, str] = {}
        self._proxies: list[Any] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._routes: dict[tuple[str, str], list[Callable[[Any], None]]] = {}

    def listen(self, element: Any, event: str, handler: Callable[[Any], Any]) -> None:
        """Call ``handler(event)`` for ``event`` at ``element`` or inside it. An
        :class:`Element`'s events come through one listener per event type on the page
        (static/page.js), registered with the batched writes: an ``addEventListener``
        of its own would be a round trip to the page per listener."""

        def guarded(evt: Any) -> None:
            try:
                handler(evt)
            except Exception as exc:
                js.console.error(f"[console] {event} handler failed: {exc!r}")
                self.report(f"Internal error: {describe(exc)}")

        if isinstance(element, Element):
            if not self._routes:
                self._proxies.append(events_to(self._dispatch))
            self._routes.setdefault((event, element.selector), []).append(guarded)
            element.route(event)
            return
        proxy = create_proxy(guarded)
        self._proxies.append(proxy)
        element.addEventListener(event, proxy)

    def _dispatch(self, selector: str, event: Any) -> None:
        for handler in self._routes.get((str(event.type), selector), ()):
            handler(event)

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def finished(done: asyncio.Task[Any]) -> None:
            self._tasks.discard(done)
            if done.cancelled():
                return
            exc = done.exception()
            if exc is not None:
                js.console.warn(f"[console] {what} failed: {exc!r}")
                self.report(f"{what} failed: {describe(exc)}")

        task.add_done_callback(finished)
        return task

    def set_text(self, element: Any, key: str, text: str) -> None:
        if self.cache.get(key) != text:
            self.cache[key] = text
            element.textContent = text

    def set_html(self, element: Any, key: str, markup: str) -> bool:
        """Replace ``element``'s content when it changed; whether it did."""
        if self.cache.get(key) == markup:
            return False
        self.cache[key] = markup
        element.innerHTML = markup
        return True

    def forget(self, prefix: str) -> None:
        for key in [k for k in self.cache if k.startswith(prefix)]:
            del self.cache[key]
