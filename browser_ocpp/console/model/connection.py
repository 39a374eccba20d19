"""The connection's state as the console shows it: open, reconnecting (attempt and
countdown), closed (code and reason).  Pure: the time comes in as an argument."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["ConnectionState"]

MAX_REASON = 48  # longer close reasons are cut in the state line (shown whole elsewhere)


@dataclass
class ConnectionState:
    state: str = "closed"  # connecting / open / reconnecting / offline / closed
    protocol: str | None = None  # negotiated, while open
    attempt: int = 0
    countdown_until: float | None = None  # monotonic seconds
    closed_with: tuple[int, str] | None = None
    user_closing: bool = False

    @property
    def closed(self) -> bool:
        return self.state == "closed"

    def connecting(self) -> None:
        self.state = "reconnecting" if self.attempt else "connecting"

    def opened(self, protocol: str) -> None:
        self.state, self.protocol = "open", protocol
        self.attempt, self.countdown_until = 0, None

    def went_offline(self) -> None:
        """The station was set offline on purpose: down until it is set online."""
        self.state, self.protocol = "offline", None
        self.attempt, self.countdown_until = 0, None

    def seconds_left(self, now: float) -> int | None:
        """Whole seconds until the next reconnect attempt, while one is waiting."""
        if self.state != "reconnecting" or self.countdown_until is None:
            return None
        left = self.countdown_until - now
        return math.ceil(left) if left > 0 else None

    def retrying(self, attempt: int, delay_s: float, now: float) -> None:
        self.state, self.attempt, self.countdown_until = "reconnecting", attempt, now + delay_s

    def ended(self, code: int, reason: str) -> str:
        """Closed for good; returns the reason as the state line shows it."""
        shown = reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1].rstrip() + "…"
        self.state, self.protocol = "closed", None
        self.attempt, self.countdown_until = 0, None
        self.closed_with = (code, shown)
        return shown

    def text(self, now: float) -> str:
        state = self.state
        if state == "open":
            return f"open ({self.protocol})" if self.protocol else "open"
        if state == "reconnecting":
            if not self.attempt:
                return "reconnecting…"
            left = self.seconds_left(now)
            if left is not None:
                return f"reconnecting (attempt {self.attempt}, {left} s)"
            return f"reconnecting (attempt {self.attempt}, connecting…)"
        if state == "offline":
            return "offline (network cut on purpose)"
        if state == "closed" and self.closed_with is not None:
            code, reason = self.closed_with
            return f"closed ({code} {reason})" if reason else f"closed ({code})"
        return state
