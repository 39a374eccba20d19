"""Exponential backoff with jitter, bounded by a minimum and a maximum."""

from __future__ import annotations

import random

__all__ = ["Backoff"]

_RANDOM = random.Random()
"""Shared: seeding a Random per Backoff costs more than a whole call does."""


class Backoff:
    """Delays (ms) that double from ``minimum`` up to ``maximum``, with jitter.

    Each delay is drawn uniformly from the upper half of the current step, and
    never leaves ``[minimum, maximum]``.  :meth:`reset` starts over, as after a
    successful open.
    """

    def __init__(self, minimum: float, maximum: float, rng: random.Random | None = None) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.attempt = 0
        self._rng = rng or _RANDOM

    def next_delay(self) -> float:
        step = min(self.maximum, self.minimum * 2.0**self.attempt)
        self.attempt += 1
        low = max(self.minimum, step / 2)
        return min(self.maximum, self._rng.uniform(low, step)) if step > low else step

    def reset(self) -> None:
        self.attempt = 0
