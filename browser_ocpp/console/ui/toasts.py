"""Toasts: what the user must see at once (an idTag refused, a request the station
cannot do), shown at the top of the page whatever is scrolled into view."""

from __future__ import annotations

from typing import Any

from .dom import Page, by_testid, esc, present

__all__ = ["Toasts"]

SHOWN = 4  # toasts at once; the oldest goes first
LIFETIME_S = 12.0  # each stays this long unless dismissed (the activity feed keeps it)


class Toasts:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.box = by_testid("toasts")
        self.page.listen(self.box, "click", self.on_click)

    def show(self, text: str, level: str = "warn") -> None:
        """``level`` warn (role=status) or error (role=alert, read out at once)."""
        role = "alert" if level == "error" else "status"
        self.box.insertAdjacentHTML(
            "beforeend",
            f'<div class="toast lv-{esc(level)}" role="{role}" data-testid="toast">'
            f"<span>{esc(text)}</span>"
            '<button type="button" aria-label="Dismiss" data-dismiss>&times;</button></div>',
        )
        toast = self.box.lastElementChild
        while self.box.childElementCount > SHOWN:
            self.box.firstElementChild.remove()
        self.page.loop.call_later(LIFETIME_S, lambda: toast.remove())

    def on_click(self, event: Any) -> None:
        button = event.target.closest("[data-dismiss]")
        if present(button):
            button.closest(".toast").remove()
