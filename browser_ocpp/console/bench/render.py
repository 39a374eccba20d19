"""Markup shared by the bench's views: verdict badges, steps and frames."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ...scenario.verdicts import FrameRecord, StepResult
from ..model.run_log import CaseRow, LogLine, frame_summary, pretty_frame
from ..ui.dom import esc, highlight_json

__all__ = ["badge", "case_detail", "frames_html", "log_html", "set_verdict", "steps_html"]

LOG_LINES_SHOWN = 400
"""The live log shows the latest lines only; the rows keep every step."""


def badge(state: str) -> str:
    return f'<span class="vbadge" data-verdict="{esc(state)}">{esc(state)}</span>'


def set_verdict(element: Any, state: str, text: str | None = None) -> None:
    """A view's verdict pill: ``state`` is a verdict, running, stopped, error or none."""
    element.dataset.verdict = state
    element.textContent = text if text is not None else state


def steps_html(steps: Iterable[StepResult]) -> str:
    items = [
        f'<li class="step" data-verdict="{esc(step.verdict)}">{badge(str(step.verdict))}'
        f'<span class="step-name">{esc(step.name)}</span>'
        + (f'<span class="step-reason">{esc(step.reason)}</span>' if step.reason else "")
        + "</li>"
        for step in steps
    ]
    return f'<ol class="steps">{"".join(items)}</ol>' if items else ""


def frames_html(frames: Sequence[FrameRecord], testid: str = "frames") -> str:
    """Each frame: time, direction, station, what it is, and its JSON."""
    items = []
    for frame in frames:
        items.append(
            f'<li class="frame" data-dir="{esc(frame.direction)}">'
            f'<div class="frame-head"><span class="frame-t">{frame.t:.3f} s</span> '
            f"{esc(frame_summary(frame))}</div>"
            f'<pre class="frame-json">{highlight_json(pretty_frame(frame))}</pre></li>'
        )
    if not items:
        return '<p class="muted">No frames.</p>'
    return f'<ol class="frames" data-testid="{esc(testid)}">{"".join(items)}</ol>'


def case_detail(row: CaseRow) -> str:
    """A case's steps, the frames that decided it, and every frame of its run."""
    deciding = row.deciding_frames
    parts = [steps_html(row.steps) or '<p class="muted">No step has ended yet.</p>']
    if deciding:
        heading = f"<h4>Frames that decided it ({len(deciding)})</h4>"
        parts.append(heading + frames_html(deciding, "deciding-frames"))
    dropped = f", the first {len(row.frames)} shown" if row.frames_dropped else ""
    parts.append(
        f'<details class="sub"><summary>Every frame of the case '
        f"({len(row.frames) + row.frames_dropped}{dropped})</summary>"
        f"{frames_html(row.frames)}</details>"
    )
    return "".join(parts)


def log_html(lines: Sequence[LogLine]) -> str:
    items = []
    for line in lines[-LOG_LINES_SHOWN:]:
        when = f'<span class="log-t">{line.t:.3f}</span>' if line.t is not None else ""
        mark = badge(line.verdict) if line.verdict else ""
        items.append(
            f'<li data-kind="{esc(line.kind)}">{when}{mark}<span>{esc(line.text)}</span></li>'
        )
    return "".join(items)
