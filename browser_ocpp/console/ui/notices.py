"""The activity feed (what happened, newest first) and the notices under the forms."""

from __future__ import annotations

import time

from .dom import by_testid, esc
from .elements import Element

__all__ = ["ActivityFeed", "Notices"]

ACTIVITY_ROWS = 200


class ActivityFeed:
    def __init__(self) -> None:
        self.feed = by_testid("activity")

    def add(self, text: str, level: str = "info") -> None:
        Element('[data-testid="activity"] > .empty').queue("remove")
        stamp = time.strftime("%H:%M:%S")
        self.feed.queue(
            "insertAdjacentHTML",
            "afterbegin",
            f'<li class="lv-{esc(level)}"><time>{stamp}</time><span>{esc(text)}</span></li>',
        )
        self.feed.trim(ACTIVITY_ROWS, newest_last=False)

    def clear(self) -> None:
        self.feed.innerHTML = ""


class Notices:
    """The error lines under the connection and station forms."""

    def show(self, testid: str, text: str) -> None:
        element = by_testid(testid)
        element.textContent = text
        element.hidden = not text
