"""A fleet's figures as text: the table printed at the end and the live line."""

from __future__ import annotations

from .stats import FleetSnapshot

__all__ = ["format_table", "live_line"]

_COLUMNS = ("action", "calls", "ok", "errors", "timeouts", "lost", "p50 ms", "p99 ms", "max ms")


def format_table(snapshot: FleetSnapshot) -> str:
    """Boots, connections, sessions, then one row per action and a total row."""
    boots = snapshot.boots
    lines = [
        f"Fleet: {boots.stations} stations, {snapshot.elapsed_s:.1f} s",
        f"Boots: {boots.accepted} accepted, {boots.pending} pending, {boots.rejected} "
        f"rejected, {boots.failed} failed ({boots.started} started)",
        f"Connections: {snapshot.disconnects} disconnects, {snapshot.reconnects} "
        f"reconnects, {snapshot.connect_failures} failed attempts",
        f"Sessions: {snapshot.sessions_started} started, {snapshot.sessions_stopped} "
        f"stopped, {snapshot.sessions_refused} refused",
    ]
    if snapshot.bad_messages:
        lines.append(f"Bad messages from the CSMS: {snapshot.bad_messages}")
    rows: list[tuple[str, ...]] = [_COLUMNS]
    for figures in snapshot.actions:
        errors = sum(figures.errors.values())
        rows.append(
            (
                figures.action,
                str(figures.calls),
                str(figures.ok),
                str(errors),
                str(figures.timeouts),
                str(figures.closed),
                f"{figures.p50_ms:.2f}",
                f"{figures.p99_ms:.2f}",
                f"{figures.max_ms:.2f}",
            )
        )
    ok = sum(figures.ok for figures in snapshot.actions)
    timeouts = sum(figures.timeouts for figures in snapshot.actions)
    lost = sum(figures.closed for figures in snapshot.actions)
    errors = snapshot.errors - timeouts
    rows.append(("total", str(snapshot.calls), str(ok), str(errors), str(timeouts), str(lost)))
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(len(_COLUMNS))]
    lines.append("")
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=False)
        ]
        lines.append("  ".join(cells).rstrip())
    codes: dict[str, int] = {}
    for figures in snapshot.actions:
        for code, count in figures.errors.items():
            codes[code] = codes.get(code, 0) + count
    if codes:
        lines.append("")
        lines.append("CALLERRORs: " + ", ".join(f"{c} {n}" for c, n in sorted(codes.items())))
    return "\n".join(lines)


def live_line(snapshot: FleetSnapshot, previous: FleetSnapshot | None = None) -> str:
    """One line: time, boots, connections, calls per second since ``previous``, the
    worst p99 so far, errors and disconnects."""
    boots = snapshot.boots
    rate = ""
    if previous is not None and snapshot.elapsed_s > previous.elapsed_s:
        per_s = (snapshot.calls - previous.calls) / (snapshot.elapsed_s - previous.elapsed_s)
        rate = f", {per_s:.0f} calls/s"
    worst = max((figures.p99_ms for figures in snapshot.actions), default=0.0)
    return (
        f"[{snapshot.elapsed_s:6.1f} s] booted {boots.accepted}/{boots.stations}, "
        f"connected {snapshot.connected}, {snapshot.calls} calls{rate}, "
        f"worst p99 {worst:.1f} ms, {snapshot.errors} errors, "
        f"{snapshot.disconnects} disconnects"
    )
