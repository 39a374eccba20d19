"""The message log on the page: rows batched into the DOM (the newest ``LOG_ROWS``),
filters, follow, clear and export.  What a row says comes from ``MessageLog``."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import js
from pyodide.ffi import to_js

from ..model.formatting import clock
from ..model.message_log import LogEntry, MessageLog, matches
from .dom import Page, by_id, by_testid, esc, highlight_json, present
from .window import document

__all__ = ["LOG_ROWS", "LogView", "log_row"]

LOG_ROWS = 500  # rows kept in the DOM; every message stays in memory for export


class LogView:
    """``meta()`` gives the export's header (identity, endpoint, protocol)."""

    def __init__(
        self,
        page: Page,
        log: MessageLog,
        meta: Callable[[], dict[str, Any]],
        report: Callable[[str, str], None],
    ) -> None:
        self.page, self.log, self.meta, self.report = page, log, meta, report
        self.box = by_testid("log")
        self._pending: list[LogEntry] = []
        self._flush_scheduled = False
        self._dom_rows = 0
        self._follow = True

    def bind(self) -> None:
        listen = self.page.listen
        listen(by_testid("log-filter-action"), "input", lambda _e: self.rerender())
        listen(by_testid("log-filter-direction"), "change", lambda _e: self.rerender())
        listen(by_testid("log-clear"), "click", lambda _e: self.clear())
        listen(by_testid("log-export"), "click", lambda _e: self.export())
        listen(self.box, "scroll", self.on_scroll)
        listen(by_id("log-follow"), "change", self.on_follow_toggle)

    def add(self, raw: str, outbound: bool) -> None:
        self._pending.append(self.log.add(raw, outbound))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.page.loop.call_later(0.03, self.flush)

    def mark_bad(self, raw: str, reason: str) -> None:
        entry = self.log.mark_bad(raw, reason)
        if entry is None:
            return
        row = self.box.querySelector(f'[data-seq="{entry.seq}"]')
        if present(row):
            row.outerHTML = log_row(entry)

    def filters(self) -> tuple[str, str]:
        return (
            str(by_testid("log-filter-action").value).strip().lower(),
            str(by_testid("log-filter-direction").value),
        )

    def flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        needle, direction = self.filters()
        shown = [e for e in pending if matches(e, needle, direction)]
        if shown:
            if len(shown) >= LOG_ROWS:
                self.box.innerHTML = "".join(log_row(e) for e in shown[-LOG_ROWS:])
                self._dom_rows = min(len(shown), LOG_ROWS)
            else:
                self.box.queue("insertAdjacentHTML", "beforeend", "".join(map(log_row, shown)))
                self._dom_rows += len(shown)
                if self._dom_rows > LOG_ROWS:
                    self.box.trim(LOG_ROWS, newest_last=True)
                    self._dom_rows = LOG_ROWS
            if self._follow:
                self.box.scrollTop = self.box.scrollHeight
        self.update_count()

    def rerender(self) -> None:
        needle, direction = self.filters()
        entries = [e for e in self.log.entries if matches(e, needle, direction)]
        self._pending = []
        self.box.innerHTML = "".join(log_row(e) for e in entries[-LOG_ROWS:])
        self._dom_rows = min(len(entries), LOG_ROWS)
        self.box.scrollTop = self.box.scrollHeight
        self._follow = True
        by_id("log-follow").checked = True
        self.update_count(len(entries))

    def update_count(self, matching: int | None = None) -> None:
        total = len(self.log.entries)
        needle, direction = self.filters()
        # what the empty log says (style.css): no frames yet, or none match the filter
        self.box.dataset.filtered = "true" if needle or direction != "all" else "false"
        if total == 0:
            text = "No messages yet"
        else:
            filtered = bool(needle) or direction != "all"
            if matching is None and filtered:
                matching = sum(1 for e in self.log.entries if matches(e, needle, direction))
            text = f"{total} message{'s' if total != 1 else ''}"
            if filtered:
                text = f"{matching} of {text} match"
            visible = matching if filtered else total
            if visible is not None and visible > LOG_ROWS:
                text += f" · newest {LOG_ROWS} shown, export has all"
        self.page.set_text(by_testid("log-count"), "log-count", text)

    def on_scroll(self, _event: Any) -> None:
        box = self.box
        at_bottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 24
        if at_bottom != self._follow:
            self._follow = at_bottom
            if self.page.cache.get("log-follow") != str(at_bottom):
                self.page.cache["log-follow"] = str(at_bottom)
                by_id("log-follow").checked = at_bottom

    def on_follow_toggle(self, _event: Any) -> None:
        self._follow = bool(by_id("log-follow").checked)
        if self._follow:
            self.box.scrollTop = self.box.scrollHeight

    def clear(self) -> None:
        self.log.clear()
        self._pending = []
        self.box.innerHTML = ""
        self._dom_rows = 0
        self.update_count()

    def export(self) -> None:
        meta = self.meta()
        identity = str(meta.get("identity") or "station")
        text = self.log.export({**meta, "count": len(self.log.entries)})
        options = to_js({"type": "application/json"}, dict_converter=js.Object.fromEntries)
        blob = js.Blob.new(to_js([text]), options)
        url = js.URL.createObjectURL(blob)
        link = document.createElement("a")
        link.href = url
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", identity)
        link.download = f"ocpp-log-{safe}-{time.strftime('%Y%m%d-%H%M%S')}.json"
        document.body.appendChild(link)
        link.click()
        link.remove()
        self.page.loop.call_later(30, lambda: js.URL.revokeObjectURL(url))
        self.report(f"Exported {len(self.log.entries)} messages as {link.download}", "info")


def log_row(entry: LogEntry) -> str:
    arrow = "→" if entry.outbound else "←"
    where = "station → CSMS" if entry.outbound else "CSMS → station"
    rtt = "" if entry.rtt_ms is None else f"{entry.rtt_ms:.0f} ms"
    action = entry.action or ""
    size = len(entry.raw.encode("utf-8"))
    meta = f"{esc(entry.label)} · {where} · {size} bytes"
    if entry.message_id is not None:
        meta += f" · id <code>{esc(entry.message_id)}</code>"
    if entry.rtt_ms is not None:
        meta += f" · {'round trip' if entry.outbound is False else 'answered in'} {rtt}"
    if entry.problem and entry.kind in ("bad", "invalid"):
        meta += f" · <b>{esc(entry.problem)}</b>"
    return (
        f'<details class="row k-{entry.kind}" data-testid="log-row" data-seq="{entry.seq}" '
        f'data-direction="{entry.direction}" data-action="{esc(action)}" '
        f'data-kind="{entry.kind}">'
        f'<summary><span class="t">{clock(entry.time)}</span>'
        f'<span class="d" title="{where}">{arrow}</span>'
        f'<span class="k">{esc(entry.label)}</span>'
        f'<span class="a">{esc(action) or "—"}</span>'
        f'<span class="rtt">{rtt}</span>'
        f'<span class="s">{esc(entry.summary())}</span></summary>'
        f'<div class="meta">{meta}</div>'
        f'<pre class="json">{highlight_json(entry.pretty())}</pre></details>'
    )
