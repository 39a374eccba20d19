"""The connection's state on the page: the state pill and line, which buttons and
fieldsets are enabled, and the live reconnect countdown (with "Reconnect now")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from ..model.connection import ConnectionState
from .dom import Page, by_id, by_selector, by_testid

__all__ = ["ConnectionView"]


class ConnectionView:
    def __init__(self, page: Page, state: ConnectionState, changed: Callable[[], None]) -> None:
        self.page, self.state, self.changed = page, state, changed

    def show(self) -> None:
        """Show ``state`` (after it changed)."""
        name = self.state.state
        self.show_text()
        for pill in (by_id("conn-pill"), by_id("top-state")):
            pill.dataset.state = name
        closed = name == "closed"
        by_testid("connect").disabled = not closed
        by_testid("disconnect").disabled = closed or name == "offline"
        by_id("conn-fields").disabled = not closed
        by_id("station-fields").disabled = not closed
        by_id("station-lock-hint").hidden = closed
        by_selector("body").dataset.conn = name
        self.changed()

    def show_text(self) -> None:
        now = time.monotonic()
        text = self.state.text(now)
        self.page.set_text(by_testid("conn-state"), "conn-state", text)
        self.page.set_text(by_selector('[id="top-state"] .pill-text'), "top-state", text)
        left = self.state.seconds_left(now)
        button = by_testid("reconnect-now")
        button.hidden = left is None
        label = "Reconnect now" if left is None else f"Reconnect now ({left} s)"
        self.page.set_text(button, "reconnect-now", label)

    async def tick(self) -> None:
        """Keeps the reconnect countdown live."""
        while True:
            await asyncio.sleep(0.25)
            if self.state.state == "reconnecting":
                self.show_text()
