"""The custom call: an action of the negotiated version with a payload from its schema,
checked before it goes out (blocked with strict validation on, sent as written with
it off), or a raw frame sent exactly as typed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import js

from ...emulator import Station
from ...rpc.errors import RPCError
from ..model import custom_call as model
from .dom import Page, by_id, by_testid, describe, esc, highlight_json

__all__ = ["CustomCall"]


class CustomCall:
    """``protocol()`` is the version to use; ``station()`` the station when connected
    (None otherwise); ``strict()`` whether strict validation is on; ``changed()``
    saves the editor with the settings."""

    def __init__(
        self,
        page: Page,
        protocol: Callable[[], str],
        station: Callable[[], Station | None],
        strict: Callable[[], bool],
        changed: Callable[[], None],
        stored: dict[str, Any],
    ) -> None:
        self.page, self.protocol, self.station = page, protocol, station
        self.strict, self.changed, self.stored = strict, changed, stored
        self.select = by_testid("custom-action")
        self.editor = by_testid("custom-payload")
        self.raw_box = by_testid("custom-raw")
        self.error_box = by_testid("custom-error")
        self.result_box = by_testid("custom-result")
        self.raw_box.checked = bool(stored.get("raw"))
        # static/page.js: Tab indents, Ctrl+Enter sends, and what is typed is kept.
        self.editor.dataset.indent = "2"
        self.editor.dataset.submit = '[data-testid="custom-send"]'
        for element, key in self._kept():
            element.dataset.keep = key
        self._filled_for = ""
        self._restored = False
        self._error_line: int | None = None
        self._validate_handle: Any = None

    @property
    def raw(self) -> bool:
        return bool(self.raw_box.checked)

    def _kept(self) -> tuple[tuple[Any, str], ...]:
        return (
            (self.select, "custom_action"),
            (self.editor, "custom_payload"),
            (self.raw_box, "custom_raw"),
        )

    def state(self) -> dict[str, str | bool]:
        """What is saved with the settings."""
        return {
            "custom_action": str(self.select.value or ""),
            "custom_payload": str(self.editor.value or ""),
            "custom_raw": self.raw,
        }

    def bind(self) -> None:
        listen = self.page.listen
        listen(self.select, "change", lambda _e: self.fill_template())
        listen(by_testid("custom-reset"), "click", lambda _e: self.fill_template())
        listen(self.raw_box, "change", lambda _e: self.on_raw_toggle())
        listen(by_testid("custom-send"), "click", lambda _e: self.send_soon())
        listen(self.editor, "input", self.on_input)
        listen(self.editor, "scroll", self.on_scroll)

    def send_soon(self) -> None:
        self.page.spawn(self.send(), "Custom call")

    # -- the action list and templates ---------------------------------------------------

    def fill_actions(self) -> None:
        protocol = self.protocol()
        previous = str(self.select.value or "") or str(self.stored.get("action") or "")
        groups = model.action_groups(protocol)
        self.select.innerHTML = "".join(self._group_html(group) for group in groups)
        allowed = {a for g in groups for a in g.actions if self.raw or not g.raw_only}
        choice = previous if previous in allowed else "Heartbeat"
        self.select.value = choice
        if self._filled_for != self._key(choice):
            stored = self.stored
            if stored.get("payload") and stored.get("action") == choice and not self._restored:
                self.editor.value = str(stored["payload"])
                self._mark_filled(self._key(choice))
                self.update_gutter()
            else:
                self.fill_template()
        self._restored = True

    def _group_html(self, group: model.ActionGroup) -> str:
        off = " disabled" if group.raw_only and not self.raw else ""
        options = "".join(f'<option value="{esc(a)}"{off}>{esc(a)}</option>' for a in group.actions)
        label = esc(group.label)
        return f'<optgroup label="{label}" data-raw-only="{group.raw_only}">{options}</optgroup>'

    def _mark_filled(self, key: str) -> None:
        """The editor holds ``key``'s template (or what was typed over it); the page
        says which (``data-filled-for``): in the worker a template arrives a moment
        after the choice, and what is typed before it would be overwritten."""
        self._filled_for = key
        self.editor.dataset.filledFor = key

    def _key(self, action: str) -> str:
        return f"{self.protocol()}/{action}/{'raw' if self.raw else 'call'}"

    def on_raw_toggle(self) -> None:
        """The list and the editor follow the mode (the template of a frame, or of a payload)."""
        by_id("editor").dataset.raw = "true" if self.raw else "false"
        self.fill_actions()

    def fill_template(self) -> None:
        action = str(self.select.value or "")
        protocol = self.protocol()
        try:
            payload = model.template(protocol, action) if action else {}
        except Exception as exc:
            payload = {}
            js.console.warn(f"[console] no template for {action}: {exc!r}")
        if self.raw:
            self.editor.value = model.raw_template(action, payload)
        else:
            self.editor.value = json.dumps(payload, indent=2, ensure_ascii=False)
        self._mark_filled(self._key(action))
        self.clear_feedback()
        self.changed()

    # -- feedback ------------------------------------------------------------------------

    def clear_feedback(self) -> None:
        self.error_box.hidden = True
        self.error_box.textContent = ""
        self.result_box.hidden = True
        self.result_box.innerHTML = ""
        self.mark_line(None)

    def update_gutter(self, error_line: int | None = None) -> None:
        count = str(self.editor.value).count("\n") + 1
        gutter = by_id("custom-gutter")
        gutter.innerHTML = "\n".join(
            f'<span class="bad">{i}</span>' if i == error_line else str(i)
            for i in range(1, count + 1)
        )
        gutter.scrollTop = self.editor.scrollTop

    def mark_line(self, line: int | None) -> None:
        self._error_line = line
        self.update_gutter(line)
        by_id("editor").dataset.invalid = "true" if line else "false"

    def show_problem(self, problem: model.Problem, *, blocking: bool = True) -> None:
        where = f" (line {problem.line})" if problem.line else ""
        path_html = f'<code class="path">{esc(problem.path)}</code> ' if problem.path else ""
        self.error_box.innerHTML = (
            f"<strong>{esc(problem.title)}{esc(where)}</strong>"
            f'<div class="msg">{path_html}{esc(problem.message)}</div>'
        )
        self.error_box.dataset.level = "error" if blocking else "warn"
        self.error_box.hidden = False
        self.mark_line(problem.line)

    def check(self) -> model.Checked:
        action = str(self.select.value or "")
        checked = model.check_payload(
            self.protocol(), action, str(self.editor.value), strict=self.strict()
        )
        self.error_box.hidden = True
        if checked.problem is not None:
            self.show_problem(checked.problem, blocking=checked.payload is None)
        else:
            self.mark_line(None)
        return checked

    def show_result(self, kind: str, head: str, body: Any = None) -> None:
        self.result_box.dataset.kind = kind
        markup = f'<div class="res-head">{esc(head)}</div>'
        if body is not None:
            pretty = json.dumps(body, indent=2, ensure_ascii=False)
            markup += f'<pre class="json">{highlight_json(pretty)}</pre>'
        self.result_box.innerHTML = markup
        self.result_box.hidden = False

    # -- sending -------------------------------------------------------------------------

    async def send(self) -> None:
        self.result_box.hidden = True
        station = self.station()
        if self.raw:
            await self._send_raw(station)
            return
        checked = self.check()
        if checked.payload is None:
            return
        if station is None:
            self.show_problem(model.Problem("Not connected", None, "Connect first, then send."))
            return
        action = str(self.select.value)
        self.changed()
        self.show_result("pending", f"Waiting for the answer to {action}…")
        button = by_testid("custom-send")
        button.disabled = True
        started = time.perf_counter()
        try:
            response = await station.send_custom(action, checked.payload)
        except RPCError as exc:
            elapsed = (time.perf_counter() - started) * 1000
            received = getattr(exc, "received_code", None)
            if received:
                head = f"CALLERROR {received} after {elapsed:.0f} ms"
            else:
                head = f"Rejected here: {exc.wire_code(self.protocol())}"
            self.show_result("error", head, {"description": exc.message, "details": exc.details})
        except Exception as exc:
            self.show_result("error", describe(exc, self.protocol()))
        else:
            elapsed = (time.perf_counter() - started) * 1000
            self.show_result("result", f"CALLRESULT after {elapsed:.0f} ms", response)
        finally:
            button.disabled = False

    async def _send_raw(self, station: Station | None) -> None:
        self.error_box.hidden = True
        self.mark_line(None)
        if station is None:
            self.show_problem(model.Problem("Not connected", None, "Connect first, then send."))
            return
        text = str(self.editor.value)
        self.changed()
        await station.faults.send_raw(text)
        self.show_result("raw", "Raw frame sent as written: the message log shows how it reads")

    # -- the editor ----------------------------------------------------------------------

    def on_input(self, _event: Any) -> None:
        self.update_gutter(self._error_line)
        self.changed()
        if not self.error_box.hidden and not self.raw:
            # A problem is on show: check again as the user fixes it.
            if self._validate_handle is not None:
                self._validate_handle.cancel()
            self._validate_handle = self.page.loop.call_later(0.6, self.revalidate)

    def revalidate(self) -> None:
        self._validate_handle = None
        if self.check().problem is None:
            self.error_box.hidden = True

    def on_scroll(self, _event: Any) -> None:
        by_id("custom-gutter").scrollTop = self.editor.scrollTop
