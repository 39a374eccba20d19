"""What a fleet measured: calls per action and outcome, CSMS response times, boots,
sessions, disconnects.  Pure Python (no asyncio tasks, no sockets, no ``js``), so
the same figures are kept in CPython and in the browser.

:class:`FleetStats` is the :class:`~browser_ocpp.peer.observer.CallObserver` every
station's client reports to; :meth:`FleetStats.snapshot` is an immutable picture
of the figures at one moment, :meth:`FleetStats.subscribe` hands each published
snapshot to a listener (a live line, a console view).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..peer.observer import call_outcome

__all__ = [
    "ActionFigures",
    "BootFigures",
    "FleetSnapshot",
    "FleetStats",
    "Latencies",
    "percentile",
]

SAMPLES_KEPT = 20_000
"""Round trips kept per action: exact percentiles up to this many calls, then a
uniform sample of them (reservoir sampling), so memory stays bounded on long runs."""

Listener = Callable[["FleetSnapshot"], None]
CallListener = Callable[[str, str, float], None]
"""``listener(action, outcome, seconds)`` for each call as it ends (a live chart)."""


def percentile(ordered: list[float], p: float) -> float:
    """The nearest-rank ``p``-th percentile (0 < p <= 100) of sorted ``ordered``:
    the smallest value with at least ``p`` % of the values at or below it."""
    if not ordered:
        raise ValueError("no values: a percentile needs at least one")
    if not 0 < p <= 100:
        raise ValueError(f"p must be in (0, 100], not {p!r}")
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


class Latencies:
    """Round trips of one action in seconds: exact count, sum and maximum, and up to
    ``kept`` samples for the percentiles (a uniform reservoir beyond that)."""

    __slots__ = ("_random", "count", "kept", "maximum", "samples", "total")

    def __init__(self, kept: int = SAMPLES_KEPT, seed: int = 0) -> None:
        if kept < 1:
            raise ValueError(f"kept must be at least 1, not {kept!r}")
        self.kept = kept
        self.samples: list[float] = []
        self.count = 0
        self.total = 0.0
        self.maximum = 0.0
        self._random = random.Random(seed)

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.maximum = max(self.maximum, seconds)
        if len(self.samples) < self.kept:
            self.samples.append(seconds)
            return
        slot = self._random.randrange(self.count)  # Algorithm R: each call kept alike
        if slot < self.kept:
            self.samples[slot] = seconds

    def percentiles(self, *ps: float) -> tuple[float, ...]:
        """The ``ps`` percentiles of the samples (seconds); zeros when there are none."""
        if not self.samples:
            return tuple(0.0 for _ in ps)
        ordered = sorted(self.samples)
        return tuple(percentile(ordered, p) for p in ps)


@dataclass(frozen=True, slots=True)
class ActionFigures:
    """One action's calls from the stations to the CSMS."""

    action: str
    calls: int
    """Calls ended (answered, refused, timed out or lost)."""
    ok: int
    errors: dict[str, int]
    """CALLERRORs by code, as received."""
    timeouts: int
    closed: int
    """Calls lost with their connection (or never sent)."""
    p50_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    """Response times of every call that got an answer (CALLRESULT or CALLERROR)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "ok": self.ok,
            "errors": dict(self.errors),
            "timeouts": self.timeouts,
            "closed": self.closed,
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "max_ms": round(self.max_ms, 3),
            "mean_ms": round(self.mean_ms, 3),
        }


@dataclass(frozen=True, slots=True)
class BootFigures:
    """Where the stations' boots stand."""

    stations: int
    """Stations in the fleet."""
    started: int
    """Stations started so far (the ramp may hold the others back)."""
    accepted: int
    pending: int
    rejected: int
    failed: int
    """Started but neither accepted, pending nor rejected: never connected, or the
    BootNotification got no answer."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "stations": self.stations,
            "started": self.started,
            "accepted": self.accepted,
            "pending": self.pending,
            "rejected": self.rejected,
            "failed": self.failed,
        }


@dataclass(frozen=True, slots=True)
class FleetSnapshot:
    """The fleet's figures at ``elapsed_s`` seconds into the run."""

    elapsed_s: float
    running: bool
    boots: BootFigures
    connected: int
    disconnects: int
    """Connections lost unexpectedly (the client's ``disconnect`` events)."""
    reconnects: int
    connect_failures: int
    sessions_started: int
    sessions_refused: int
    sessions_stopped: int
    bad_messages: int
    actions: tuple[ActionFigures, ...] = field(default=())

    @property
    def calls(self) -> int:
        return sum(figures.calls for figures in self.actions)

    @property
    def errors(self) -> int:
        """CALLERRORs and timeouts of every action."""
        return sum(sum(f.errors.values()) + f.timeouts for f in self.actions)

    def action(self, name: str) -> ActionFigures | None:
        return next((figures for figures in self.actions if figures.action == name), None)

    def to_dict(self) -> dict[str, Any]:
        """The snapshot as JSON-ready data (the ``--report`` file)."""
        return {
            "elapsed_s": round(self.elapsed_s, 3),
            "running": self.running,
            "boots": self.boots.to_dict(),
            "connected": self.connected,
            "disconnects": self.disconnects,
            "reconnects": self.reconnects,
            "connect_failures": self.connect_failures,
            "sessions": {
                "started": self.sessions_started,
                "refused": self.sessions_refused,
                "stopped": self.sessions_stopped,
            },
            "bad_messages": self.bad_messages,
            "calls": self.calls,
            "errors": self.errors,
            "actions": {figures.action: figures.to_dict() for figures in self.actions},
        }


class _Action:
    __slots__ = ("closed", "errors", "latencies", "ok", "timeouts")

    def __init__(self, seed: int) -> None:
        self.ok = self.timeouts = self.closed = 0
        self.errors: dict[str, int] = {}
        self.latencies = Latencies(seed=seed)


class FleetStats:
    """The counters of one fleet run; also the calls' observer on every client.

    The runner tells it about boots, connections and sessions; the clients tell it
    about each call (:meth:`outbound`).  ``clock`` gives the seconds since the run
    started (the runner's loop time).
    """

    def __init__(self, stations: int, clock: Callable[[], float] = lambda: 0.0) -> None:
        self.stations = stations
        self.clock = clock
        self.running = True
        self.started = 0
        self.boot_status: dict[str, str] = {}
        """The last boot verdict per identity: Accepted, Pending or Rejected."""
        self.connected: set[str] = set()
        self.disconnects = self.reconnects = self.connect_failures = 0
        self.sessions_started = self.sessions_refused = self.sessions_stopped = 0
        self.bad_messages = 0
        self._actions: dict[str, _Action] = {}
        self._listeners: list[Listener] = []
        self._call_listeners: list[CallListener] = []

    # -- CallObserver ----------------------------------------------------------------------

    def outbound(self, action: str, future: Any, seconds: float) -> None:
        """A station's call ended: counted by outcome; its round trip kept when the
        CSMS answered it (a CALLRESULT or a CALLERROR)."""
        self.record(action, call_outcome(future), seconds)

    def inbound(self, action: str, outcome: str, seconds: float) -> None:
        """A call from the CSMS answered by a station: not a CSMS response time."""

    def bad_message(self, code: str) -> None:
        self.bad_messages += 1

    def record(self, action: str, outcome: str, seconds: float) -> None:
        """Count one call of ``action`` that ended with ``outcome`` (``ok``, an error
        code, ``timeout``, ``closed`` or ``cancelled``) after ``seconds``."""
        for listener in list(self._call_listeners):
            try:
                listener(action, outcome, seconds)
            except Exception:  # a view's bug must not lose the call
                continue
        figures = self._actions.get(action)
        if figures is None:
            figures = self._actions[action] = _Action(seed=len(self._actions))
        if outcome == "ok":
            figures.ok += 1
        elif outcome == "timeout":
            figures.timeouts += 1
            return
        elif outcome in ("closed", "cancelled", "error"):
            figures.closed += 1
            return
        else:
            figures.errors[outcome] = figures.errors.get(outcome, 0) + 1
        figures.latencies.add(seconds)

    # -- what the runner reports -----------------------------------------------------------

    def booted(self, identity: str, status: str | None) -> None:
        """The station's last boot verdict (None: the BootNotification got no answer)."""
        if status is None:
            self.boot_status.pop(identity, None)
        else:
            self.boot_status[identity] = status

    # -- reading ---------------------------------------------------------------------------

    def boots(self) -> BootFigures:
        counts = {"Accepted": 0, "Pending": 0, "Rejected": 0}
        for status in self.boot_status.values():
            counts[status] = counts.get(status, 0) + 1
        known = counts["Accepted"] + counts["Pending"] + counts["Rejected"]
        return BootFigures(
            stations=self.stations,
            started=self.started,
            accepted=counts["Accepted"],
            pending=counts["Pending"],
            rejected=counts["Rejected"],
            failed=max(0, self.started - known),
        )

    def snapshot(self) -> FleetSnapshot:
        """The figures now (sorting each action's samples: cheap for a few per second)."""
        return FleetSnapshot(
            elapsed_s=self.clock(),
            running=self.running,
            boots=self.boots(),
            connected=len(self.connected),
            disconnects=self.disconnects,
            reconnects=self.reconnects,
            connect_failures=self.connect_failures,
            sessions_started=self.sessions_started,
            sessions_refused=self.sessions_refused,
            sessions_stopped=self.sessions_stopped,
            bad_messages=self.bad_messages,
            actions=tuple(_figures(name, a) for name, a in sorted(self._actions.items())),
        )

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(snapshot)`` at each :meth:`publish`; returns the unsubscribe."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def on_call(self, listener: CallListener) -> Callable[[], None]:
        """Call ``listener(action, outcome, seconds)`` as each call ends (before it is
        counted), for figures over time windows; returns the unsubscribe."""
        self._call_listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._call_listeners:
                self._call_listeners.remove(listener)

        return unsubscribe

    def publish(self) -> FleetSnapshot:
        """Take a snapshot and hand it to every listener (one that raises is dropped
        from this round only); returns it."""
        snapshot = self.snapshot()
        for listener in list(self._listeners):
            try:
                listener(snapshot)
            except Exception:  # a view's bug must not stop the fleet
                continue
        return snapshot


def _figures(action: str, figures: _Action) -> ActionFigures:
    latencies = figures.latencies
    p50, p99 = latencies.percentiles(50, 99)
    mean = latencies.total / latencies.count if latencies.count else 0.0
    return ActionFigures(
        action=action,
        calls=figures.ok + sum(figures.errors.values()) + figures.timeouts + figures.closed,
        ok=figures.ok,
        errors=dict(sorted(figures.errors.items())),
        timeouts=figures.timeouts,
        closed=figures.closed,
        p50_ms=p50 * 1000,
        p99_ms=p99 * 1000,
        max_ms=latencies.maximum * 1000,
        mean_ms=mean * 1000,
    )
