"""The "Station state" card: what the CSMS's station-block commands did to the station
(charging profiles, firmware, the last log upload, the local list and, on 2.x, the
display messages).  Rendered from ``station.on_change``, at most every
:data:`MIN_INTERVAL_S`, and written to the page only when its text changed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ...emulator import Station
from ..model.blocks import (
    display_rows,
    firmware_text,
    local_list_text,
    log_text,
    profile_rows,
)
from .dom import Page, by_id, esc

__all__ = ["MIN_INTERVAL_S", "BlocksView"]

MIN_INTERVAL_S = 0.25
"""Renders are at least this far apart (a charging station changes every second)."""


class BlocksView:
    """``station()`` is the current station (or None)."""

    def __init__(self, page: Page, station: Callable[[], Station | None]) -> None:
        self.page, self.station = page, station
        self._handle: Any = None
        self._last = -MIN_INTERVAL_S

    def schedule(self) -> None:
        if self._handle is not None:
            return
        wait = max(0.0, self._last + MIN_INTERVAL_S - self.page.loop.time())
        self._handle = self.page.loop.call_later(wait, self.render)

    def render(self) -> None:
        self._handle = None
        self._last = self.page.loop.time()
        station = self.station()
        body = by_id("blocks-body")
        if station is None:
            return
        self.page.set_html(body, "blocks", panel_html(station, datetime.now(UTC)))


def panel_html(station: Station, now: datetime) -> str:
    firmware, logs, auth = station.firmware, station.logs, station.auth
    facts = [
        ("firmware", "Firmware", firmware_text(firmware.version, firmware.status, firmware.busy)),
        ("local-list", "Local list", local_list_text(auth.local_list_version, auth.local_list)),
        (
            "log",
            "Last log upload",
            log_text(logs.status, logs.last_upload, logs.location, logs.busy),
        ),
    ]
    parts = ['<dl class="blocks-facts">']
    for key, label, text in facts:
        parts.append(
            f'<div><dt>{label}</dt><dd data-testid="blocks-{key}" title="{esc(text)}">'
            f"{esc(text)}</dd></div>"
        )
    parts.append("</dl>")
    parts.append(profiles_html(station, now))
    parts.append(display_html(station, now))
    return "".join(parts)


def profiles_html(station: Station, now: datetime) -> str:
    charging = station.charging

    def origin(profile: Any) -> datetime:
        if profile.target:
            started = charging.transaction_start(station.connector(profile.target))
            if started is not None:
                return started
        return now

    rows = profile_rows(charging.profiles, now, origin)
    head = f'<h3>Charging profiles <span class="muted">({len(rows)})</span></h3>'
    if not rows:
        return (
            head + '<p class="muted blocks-none" data-testid="blocks-profiles">None installed</p>'
        )
    cells = "".join(
        f'<tr data-testid="blocks-profile-{r.id}"><td>{r.id}</td><td>{esc(r.purpose)}</td>'
        f"<td>{r.stack_level}</td><td>{esc(r.target)}</td><td>{esc(r.limit)}</td></tr>"
        for r in rows
    )
    return (
        head
        + '<div class="blocks-scroll"><table class="blocks-table" data-testid="blocks-profiles">'
        "<thead><tr><th>Id</th><th>Purpose</th><th>Level</th><th>On</th><th>Limit now</th>"
        f"</tr></thead><tbody>{cells}</tbody></table></div>"
    )


def display_html(station: Station, now: datetime) -> str:
    head = "<h3>Display messages"
    if station.v16:
        return head + '</h3><p class="muted blocks-none">Not in OCPP 1.6</p>'
    display = station.display
    rows = display_rows(display.messages, display.shown(now=now))
    head += f' <span class="muted">({len(rows)})</span></h3>'
    if not rows:
        return head + '<p class="muted blocks-none" data-testid="blocks-display">None</p>'
    items = "".join(
        f'<li data-testid="blocks-message-{r.id}" data-shown="{str(r.shown).lower()}">'
        f'<span class="blocks-text">{esc(r.text)}</span>'
        f'<span class="blocks-meta">#{r.id} · {esc(r.priority)} · state {esc(r.state)}'
        f"{'' if r.shown else ' · not shown now'}</span></li>"
        for r in rows
    )
    return head + f'<ul class="blocks-messages" data-testid="blocks-display">{items}</ul>'
