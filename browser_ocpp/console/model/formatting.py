"""Numbers and times as the console shows them."""

from __future__ import annotations

import time

__all__ = [
    "activity_level",
    "clock",
    "format_energy_kwh",
    "format_power_kw",
    "format_soc",
    "iso_utc",
]


def format_energy_kwh(wh: float | None) -> str:
    return "—" if wh is None else f"{wh / 1000:.3f}"


def format_power_kw(w: float | None) -> str:
    return "—" if w is None else f"{w / 1000:.2f}"


def format_soc(soc: float | None) -> str:
    return "—" if soc is None else f"{soc:.1f}"


def clock(epoch: float) -> str:
    """``HH:MM:SS.mmm`` in local time."""
    local = time.localtime(epoch)
    return time.strftime("%H:%M:%S", local) + f".{int(epoch * 1000) % 1000:03d}"


def iso_utc(epoch: float) -> str:
    """``2024-01-01T00:00:00.000Z``."""
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"
    )


def activity_level(text: str) -> str:
    """How a station's activity line is shown: warn, good or info."""
    lowered = text.lower()
    if any(word in lowered for word in ("reject", "fail", "error", "fault", "invalid")):
        return "warn"
    if any(word in lowered for word in ("accepted", "started", "booted")):
        return "good"
    return "info"
