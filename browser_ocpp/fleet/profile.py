"""How a fleet's stations behave: the charging profile and each station's plan.

Pure and seeded: :func:`plan` gives the same sessions for the same seed and station,
in CPython and in the browser, so a run can be repeated.  Each connector alternates
between idle (no car) and a charging session, for random spans within the
profile's ranges.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["PlannedSession", "Profile", "plan", "ramp_offset"]

MAX_CONNECTORS = 8


@dataclass(frozen=True, slots=True)
class Profile:
    """What every station of a fleet does (times in seconds)."""

    connectors: int = 2
    meter_interval_s: float = 5.0
    """MeterValues (1.6) / TransactionEvent(Updated) (2.x) interval while charging."""
    heartbeat_s: float | None = None
    """Heartbeat interval once booted; None keeps the interval the CSMS's boot answer gives."""
    idle_s: tuple[float, float] = (2.0, 10.0)
    """Range of the wait before each session on a connector (from the boot, then from
    the end of the previous session)."""
    session_s: tuple[float, float] = (5.0, 30.0)
    """Range of a session's length, from start to stop (the shortest above 0)."""
    seed: int = 0

    def check(self) -> None:
        """Raise ValueError for a profile no fleet can run."""
        if not 1 <= self.connectors <= MAX_CONNECTORS:
            raise ValueError(f"connectors must be 1 to {MAX_CONNECTORS}, not {self.connectors}")
        if not (math.isfinite(self.meter_interval_s) and self.meter_interval_s >= 0):
            raise ValueError(f"meter interval must be >= 0 s, not {self.meter_interval_s!r}")
        beat = self.heartbeat_s
        if beat is not None and not (math.isfinite(beat) and beat > 0):
            raise ValueError(f"heartbeat interval must be > 0 s, not {beat!r}")
        for name in ("idle_s", "session_s"):
            low, high = getattr(self, name)
            if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high):
                raise ValueError(f"{name} must be a range 0 <= min <= max, not {low!r}..{high!r}")
        if self.session_s[0] <= 0:  # each session moves the plan on: bounded
            raise ValueError(f"sessions must last more than 0 s, not {self.session_s[0]!r}")


@dataclass(frozen=True, slots=True)
class PlannedSession:
    """One charging session: on ``connector``, from ``start_s`` to ``stop_s`` seconds
    after the station booted."""

    connector: int
    start_s: float
    stop_s: float


def plan(profile: Profile, index: int, horizon_s: float) -> list[PlannedSession]:
    """The sessions of station ``index`` that start within ``horizon_s`` seconds of its
    boot, in start order; a session still running at the horizon stops there."""
    rng = random.Random(f"fleet:{profile.seed}:{index}")
    sessions: list[PlannedSession] = []
    for connector in range(1, profile.connectors + 1):
        at = rng.uniform(*profile.idle_s)
        while at < horizon_s:
            stop = min(at + rng.uniform(*profile.session_s), horizon_s)
            sessions.append(PlannedSession(connector, at, stop))
            at = stop + rng.uniform(*profile.idle_s)
    sessions.sort(key=lambda session: (session.start_s, session.connector))
    return sessions


def ramp_offset(index: int, stations: int, ramp_s: float) -> float:
    """When station ``index`` (0-based) of ``stations`` starts: evenly over ``ramp_s``."""
    if stations <= 1 or ramp_s <= 0:
        return 0.0
    return ramp_s * index / stations
