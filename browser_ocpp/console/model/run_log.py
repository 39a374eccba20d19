"""A scenario or conformance run as a view shows it: one row per case (verdict,
reason, steps, frames) and a live log of lines, built from the runner's events.

Pure (no DOM, no asyncio): the scenario view and the check view feed it the
:class:`~browser_ocpp.scenario.StepEvent` s of a run and render what it holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from ...scenario import Scenario, StepEvent, Verdict
from ...scenario.frames import parse
from ...scenario.verdicts import FrameRecord, StepResult, worst

__all__ = ["CaseRow", "LogLine", "RunLog", "frame_summary"]

MAX_FRAMES_PER_CASE = 300
"""Frames kept per case for its expandable row (a run's first ones)."""
MAX_LINES = 2000
"""Lines kept in the live log (the latest ones)."""

_TYPES = {2: "CALL", 3: "CALLRESULT", 4: "CALLERROR", 5: "CALLRESULTERROR", 6: "SEND"}


@dataclass
class CaseRow:
    """One case of the run: ``verdict`` is None until it is decided."""

    id: str
    title: str
    clause: str = ""
    verdict: Verdict | None = None
    reason: str = ""
    running: bool = False
    steps: list[StepResult] = field(default_factory=list)
    frames: list[FrameRecord] = field(default_factory=list)
    frames_dropped: int = 0

    @property
    def state(self) -> str:
        """``queued``, ``running`` or the verdict."""
        if self.verdict is not None:
            return str(self.verdict)
        return "running" if self.running else "queued"

    @property
    def deciding_frames(self) -> list[FrameRecord]:
        """The frames of the step that decided the verdict: the last one with frames (a
        last check on what an earlier step received has none of its own)."""
        return next((list(step.frames) for step in reversed(self.steps) if step.frames), [])


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line of the live log: ``kind`` is case, step, frame or done; ``verdict``
    is set for steps and ends."""

    t: float | None
    kind: str
    text: str
    verdict: str = ""


def frame_summary(record: FrameRecord) -> str:
    """``BENCH-1 -> CALL BootNotification`` and the like: what a frame is, short."""
    arrow = "->" if record.direction == "out" else "<-"
    frame = parse(record)
    if frame is None:
        what = "not an OCPP-J array: " + record.text[:80]
    else:
        kind = _TYPES.get(frame[0], f"type {frame[0]!r}") if isinstance(frame[0], int) else "?"
        named = frame[0] in (2, 4, 5) and len(frame) > 2  # the action, or the error code
        what = kind + (f" {frame[2]}" if named else "")
    return f"{record.station} {arrow} {what}"


def pretty_frame(record: FrameRecord) -> str:
    """The frame's JSON, indented (its text as it came when it is not JSON)."""
    try:
        return json.dumps(json.loads(record.text), indent=2, ensure_ascii=False)
    except ValueError:
        return record.text


class RunLog:
    """The rows and the live log of one run; :meth:`apply` each event as it comes."""

    def __init__(self, cases: Iterable[Scenario] = ()) -> None:
        self.rows: dict[str, CaseRow] = {}
        self.lines: list[LogLine] = []
        self.lines_dropped = 0
        self.finished = False
        self.stopped = False
        for case in cases:
            self.rows[case.id] = CaseRow(case.id, case.title, case.clause)

    def apply(self, event: StepEvent) -> None:
        """Take one event in (the runner's ``on_event``)."""
        self.update(event)

    def update(self, event: StepEvent) -> CaseRow:
        """Take one event in; returns the row it changed."""
        row = self.rows.get(event.case_id)
        if row is None:
            row = self.rows[event.case_id] = CaseRow(event.case_id, event.reason or event.case_id)
        if event.kind == "case":
            row.running = True
            self._line(None, "case", f"{row.id}: {event.reason or row.title}")
        elif event.kind == "step" and event.result is not None:
            step = event.result
            row.steps.append(step)
            text = step.name + (f": {step.reason}" if step.reason else "")
            self._line(None, "step", text, str(step.verdict))
        elif event.kind == "frame" and event.frame is not None:
            if len(row.frames) < MAX_FRAMES_PER_CASE:
                row.frames.append(event.frame)
            else:
                row.frames_dropped += 1
            self._line(event.frame.t, "frame", frame_summary(event.frame))
        elif event.kind == "done":
            row.running = False
            row.verdict = event.verdict or Verdict.INCONCLUSIVE
            row.reason = event.reason
            text = f"{row.id}: {row.verdict}" + (f" ({row.reason})" if row.reason else "")
            self._line(None, "done", text, str(row.verdict))
        return row

    def _line(self, t: float | None, kind: str, text: str, verdict: str = "") -> None:
        self.lines.append(LogLine(t, kind, text, verdict))
        if len(self.lines) > MAX_LINES:
            del self.lines[0]
            self.lines_dropped += 1

    def stop(self) -> None:
        """The user stopped the run: the case under way ends undecided."""
        self.stopped = True
        for row in self.rows.values():
            if row.running:
                row.running = False
                row.reason = "stopped before a verdict"

    @property
    def decided(self) -> list[CaseRow]:
        return [row for row in self.rows.values() if row.verdict is not None]

    @property
    def verdict(self) -> Verdict | None:
        """The run's verdict: fail if a case failed, else inconclusive if one was, else
        pass; None while nothing is decided."""
        decided = self.decided
        return worst(row.verdict for row in decided if row.verdict) if decided else None

    def counts(self) -> dict[str, int]:
        counts = {str(v): 0 for v in Verdict}
        for row in self.decided:
            counts[str(row.verdict)] += 1
        counts["total"] = len(self.rows)
        return counts

    def summary(self) -> str:
        """``3 pass, 1 fail, 2 inconclusive of 6`` (and where the run stands)."""
        counts = self.counts()
        done = sum(counts[str(v)] for v in Verdict)
        text = (
            f"{counts['pass']} pass, {counts['fail']} fail, "
            f"{counts['inconclusive']} inconclusive of {counts['total']}"
        )
        if self.stopped:
            return text + " (stopped)"
        if not self.finished and done < counts["total"]:
            return text + " (running)"
        return text
