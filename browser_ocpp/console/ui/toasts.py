"""Toasts: what the user must see at once (an idTag refused, a request the station
cannot do), shown at the top of the page whatever is scrolled into view."""

from __future__ import annotations

from typing import Any

from .dom import Page, by_testid, esc, present
from .elements import Element

__all__ = ["Toasts"]

SHOWN = 4  # toasts at once; the oldest goes first
LIFETIME_S = 12.0  # each stays this long unless dismissed (the activity feed keeps it)


class Toasts:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.box = by_testid("toasts")
        self._made = 0
        self.page.listen(self.box, "click", self.on_click)

    def show(self, text: str, level: str = "warn") -> None:
        """``level`` warn (role=status) or error (role=alert, read out at once)."""
        role = "alert" if level == "error" else "status"
        self._made += 1
        ident = f"toast-{self._made}"
        self.box.queue(
            "insertAdjacentHTML",
            "beforeend",
            f'<div class="toast lv-{esc(level)}" role="{role}" data-testid="toast" id="{ident}">'
            f"<span>{esc(text)}</span>"
            '<button type="button" aria-label="Dismiss" data-dismiss>&times;</button></div>',
        )
        self.box.trim(SHOWN, newest_last=True)
        toast = Element(f'[id="{ident}"]')
        self.page.loop.call_later(LIFETIME_S, lambda: toast.queue("remove"))

    def on_click(self, event: Any) -> None:
        button = event.target.closest("[data-dismiss]")
        if present(button):
            button.closest(".toast").remove()
