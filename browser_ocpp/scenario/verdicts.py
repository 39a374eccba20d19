"""Verdicts, the frames that decided them, and the results of steps and cases.

Plain data (no asyncio, no I/O): a console view and the CLI read the same objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "EXIT_CODES",
    "CaseResult",
    "FrameRecord",
    "Report",
    "StepResult",
    "Verdict",
    "worst",
]


class Verdict(StrEnum):
    """A step's or a case's outcome, as certification tools spell it."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    """The CSMS gave the scenario no chance to decide (it never sent the command, it
    chose another branch); neither a pass nor a failure."""


EXIT_CODES: dict[Verdict, int] = {Verdict.PASS: 0, Verdict.FAIL: 1, Verdict.INCONCLUSIVE: 3}
"""``browser-ocpp run``'s exit code per verdict (2 is argparse's: bad arguments)."""

_RANK = {Verdict.PASS: 0, Verdict.INCONCLUSIVE: 1, Verdict.FAIL: 2}


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """fail if any failed, else inconclusive if any was, else pass; nothing decided
    nothing: inconclusive."""
    found = list(verdicts)
    if not found:
        return Verdict.INCONCLUSIVE
    return max(found, key=_RANK.__getitem__)


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """One WebSocket text frame a station sent (``out``) or received (``in``)."""

    t: float
    """Seconds since the scenario started."""
    direction: str
    station: str
    text: str

    @property
    def message(self) -> Any:
        """The frame as JSON, or its text when it is not JSON."""
        try:
            return json.loads(self.text)
        except ValueError:
            return self.text

    def as_json(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 4),
            "dir": self.direction,
            "station": self.station,
            "message": self.message,
        }

    def __str__(self) -> str:
        arrow = "->" if self.direction == "out" else "<-"
        return f"{self.t:8.3f} {self.station} {arrow} {self.text}"


@dataclass
class StepResult:
    """One named step of a scenario and its verdict."""

    name: str
    verdict: Verdict
    reason: str = ""
    frames: Sequence[FrameRecord] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": str(self.verdict),
            "reason": self.reason,
            "frames": [frame.as_json() for frame in self.frames],
        }


@dataclass
class CaseResult:
    """A scenario (or a conformance case) run to its verdict."""

    id: str
    title: str
    clause: str
    protocol: str
    verdict: Verdict
    reason: str
    steps: list[StepResult] = field(default_factory=list)
    frames: Sequence[FrameRecord] = ()
    """The frames that decided the verdict (those of the deciding step)."""
    log: Sequence[FrameRecord] = ()
    """Every frame of the run."""
    duration_s: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "clause": self.clause,
            "protocol": self.protocol,
            "verdict": str(self.verdict),
            "reason": self.reason,
            "frames": [frame.as_json() for frame in self.frames],
            "steps": [step.as_json() for step in self.steps],
            "duration_s": round(self.duration_s, 3),
        }


@dataclass
class Report:
    """The results of one run: scenarios of a file, or the conformance pack."""

    csms: str
    protocol: str
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        return worst(case.verdict for case in self.cases)

    def summary(self) -> dict[str, Any]:
        counts = {str(v): sum(c.verdict is v for c in self.cases) for v in Verdict}
        return {
            "csms": self.csms,
            "protocol": self.protocol,
            "total": len(self.cases),
            **counts,
            "verdict": str(self.verdict),
        }

    def as_json(self) -> dict[str, Any]:
        return {"cases": [case.as_json() for case in self.cases], "summary": self.summary()}

    def table(self, width: int = 100) -> str:
        """The cases as a text table: id, verdict, title, reason."""
        rows = [("ID", "VERDICT", "TITLE", "REASON")]
        rows += [(c.id, str(c.verdict), c.title, c.reason) for c in self.cases]
        id_w = max(len(r[0]) for r in rows)
        title_w = min(40, max(len(r[2]) for r in rows))
        lines = []
        for case_id, verdict, title, reason in rows:
            line = f"{case_id:<{id_w}}  {verdict:<12}  {title[:title_w]:<{title_w}}  {reason}"
            lines.append(line[:width].rstrip())
        summary = self.summary()
        lines.append(
            f"{summary['total']} cases: {summary['pass']} pass, {summary['fail']} fail, "
            f"{summary['inconclusive']} inconclusive"
        )
        return "\n".join(lines)
