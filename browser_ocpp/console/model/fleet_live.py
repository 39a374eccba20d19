"""A running fleet as the fleet view shows it: the per-action table's rows, and
the CSMS's response times (p50, p99) and throughput per second over time, drawn
as a small inline SVG by our own code.  Pure: no DOM, no asyncio."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape as esc

from ...fleet import FleetSnapshot, percentile

__all__ = ["FleetSeries", "Point", "action_rows", "chart_svg", "headline"]

KEEP_POINTS = 300
"""Seconds of history the chart keeps (five minutes at one point a second)."""


@dataclass(frozen=True, slots=True)
class Point:
    """One second of the run: calls answered in it, and their p50/p99 (None: none)."""

    t: float
    calls: int
    p50_ms: float | None
    p99_ms: float | None


class FleetSeries:
    """Calls as they end, bucketed per ``bucket_s`` seconds of the run."""

    def __init__(self, bucket_s: float = 1.0, keep: int = KEEP_POINTS) -> None:
        if not (math.isfinite(bucket_s) and bucket_s > 0):
            raise ValueError(f"bucket_s must be > 0, not {bucket_s!r}")
        self.bucket_s, self.keep = bucket_s, keep
        self.points: list[Point] = []
        self._index = 0  # the open bucket
        self._times: list[float] = []
        self._calls = 0

    def add(self, t: float, outcome: str, seconds: float) -> None:
        """A call ended at ``t`` seconds into the run; answered ones (anything but a
        timeout or a lost call) count, their round trip ``seconds`` is kept."""
        self.advance(t)
        if outcome in ("timeout", "closed", "cancelled", "error"):
            return
        self._calls += 1
        self._times.append(seconds * 1000)

    def advance(self, t: float) -> None:
        """Close the buckets that ended by ``t`` (empty ones too: a gap in the line)."""
        index = int(max(0.0, t) // self.bucket_s)
        if index <= self._index:
            return
        self._close()
        # At most ``keep`` empty buckets matter: the older ones would be cut anyway.
        for empty in range(max(self._index + 1, index - self.keep), index):
            self.points.append(Point((empty + 1) * self.bucket_s, 0, None, None))
        self._index = index
        del self.points[: max(0, len(self.points) - self.keep)]

    def _close(self) -> None:
        ordered = sorted(self._times)
        p50 = percentile(ordered, 50) if ordered else None
        p99 = percentile(ordered, 99) if ordered else None
        t = (self._index + 1) * self.bucket_s
        self.points.append(Point(t, round(self._calls / self.bucket_s), p50, p99))
        self._times, self._calls = [], 0


def action_rows(snapshot: FleetSnapshot) -> list[tuple[str, ...]]:
    """Per action: name, calls, ok, errors, timeouts, lost, p50, p99, max (ms), then a
    total row."""
    rows: list[tuple[str, ...]] = []
    for f in snapshot.actions:
        errors = sum(f.errors.values())
        rows.append(
            (
                f.action,
                str(f.calls),
                str(f.ok),
                str(errors),
                str(f.timeouts),
                str(f.closed),
                f"{f.p50_ms:.1f}",
                f"{f.p99_ms:.1f}",
                f"{f.max_ms:.1f}",
            )
        )
    total = (
        sum(f.calls for f in snapshot.actions),
        sum(f.ok for f in snapshot.actions),
        sum(sum(f.errors.values()) for f in snapshot.actions),
        sum(f.timeouts for f in snapshot.actions),
        sum(f.closed for f in snapshot.actions),
    )
    rows.append(("total", *map(str, total), "", "", ""))
    return rows


def headline(snapshot: FleetSnapshot) -> dict[str, str]:
    """The figures above the table, as text."""
    boots = snapshot.boots
    return {
        "elapsed": f"{snapshot.elapsed_s:.0f} s",
        "booted": f"{boots.accepted} / {boots.stations}",
        "boots": (
            f"{boots.started} started, {boots.accepted} accepted, {boots.pending} pending, "
            f"{boots.rejected} rejected, {boots.failed} failed"
        ),
        "connected": str(snapshot.connected),
        "sessions": f"{snapshot.sessions_started} started, {snapshot.sessions_stopped} stopped",
        "calls": str(snapshot.calls),
        "errors": str(snapshot.errors),
        "disconnects": f"{snapshot.disconnects} disconnects, {snapshot.reconnects} reconnects",
    }


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 x 10^n at or above ``value`` (an axis top)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def _polyline(points: list[tuple[float, float] | None], css: str) -> str:
    """Polylines through the points, broken where a point is None."""
    runs: list[list[tuple[float, float]]] = [[]]
    for point in points:
        if point is None:
            runs.append([])
        else:
            runs[-1].append(point)
    out = []
    for run in runs:
        if len(run) == 1:
            x, y = run[0]
            out.append(f'<circle class="{css}" cx="{x:.1f}" cy="{y:.1f}" r="1.6"/>')
        elif run:
            coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            out.append(f'<polyline class="{css}" points="{coords}"/>')
    return "".join(out)


def chart_svg(points: list[Point], width: int = 640, height: int = 220) -> str:
    """Response times p50/p99 (lines, left axis, ms) and calls per second (bars,
    right axis) over the run's time, as an SVG element ``width`` x ``height`` px."""
    width, height = max(240, int(width)), max(140, int(height))
    left, right, top, bottom = 46, 46, 26, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    ms_top = _nice_ceiling(max((p.p99_ms or 0.0) for p in points) if points else 0.0)
    rate_top = _nice_ceiling(max((p.calls for p in points), default=0))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="fleet-chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="CSMS response time p50 and p99 (ms) and calls per second over time">',
        f'<rect class="c-plot" x="{left}" y="{top}" width="{plot_w}" height="{plot_h}"/>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - fraction)
        parts.append(f'<line class="c-grid" x1="{left}" x2="{left + plot_w}" y1="{y}" y2="{y}"/>')
        parts.append(
            f'<text class="c-axis" x="{left - 4}" y="{y + 4}" text-anchor="end">'
            f"{ms_top * fraction:g}</text>"
        )
        parts.append(
            f'<text class="c-axis c-rate" x="{left + plot_w + 4}" y="{y + 4}">'
            f"{rate_top * fraction:g}</text>"
        )
    parts.append(f'<text class="c-axis" x="{left - 4}" y="{top - 10}" text-anchor="end">ms</text>')
    parts.append(
        f'<text class="c-axis c-rate" x="{left + plot_w + 4}" y="{top - 10}">calls/s</text>'
    )
    legend_x = left + 8
    for label, css in (("p50", "c-p50"), ("p99", "c-p99"), ("calls/s", "c-bar")):
        parts.append(
            f'<rect class="{css}-key" x="{legend_x}" y="{top - 17}" width="10" height="10"/>'
            f'<text class="c-axis" x="{legend_x + 14}" y="{top - 8}">{esc(label)}</text>'
        )
        legend_x += 30 + 7 * len(label)
    if points:
        t0 = points[0].t - 1
        span = max(points[-1].t - t0, 10.0)
        bar_w = max(1.0, plot_w / span * 0.8)

        def x_of(t: float) -> float:
            return left + plot_w * (t - t0) / span

        for p in points:
            if p.calls:
                bar_h = plot_h * p.calls / rate_top
                x, y = x_of(p.t) - bar_w, top + plot_h - bar_h
                parts.append(
                    f'<rect class="c-bar" x="{x:.1f}" y="{y:.1f}"'
                    f' width="{bar_w:.1f}" height="{bar_h:.1f}"/>'
                )
        for attr, css in (("p50_ms", "c-p50"), ("p99_ms", "c-p99")):
            line: list[tuple[float, float] | None] = []
            for p in points:
                value = getattr(p, attr)
                line.append(
                    None
                    if value is None
                    else (x_of(p.t) - bar_w / 2, top + plot_h * (1 - min(value, ms_top) / ms_top))
                )
            parts.append(_polyline(line, css))
        parts.append(
            f'<text class="c-axis" x="{left}" y="{height - 6}">{t0:.0f} s</text>'
            f'<text class="c-axis" x="{left + plot_w}" y="{height - 6}" text-anchor="end">'
            f"{t0 + span:.0f} s</text>"
        )
    else:
        parts.append(
            f'<text class="c-empty" x="{left + plot_w / 2}" y="{top + plot_h / 2}" '
            'text-anchor="middle">No calls yet</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
