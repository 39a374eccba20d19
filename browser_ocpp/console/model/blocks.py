"""The station blocks as the console shows them: the charging limit of a connector and
what sets it, a reservation's countdown, and the rows of the "Station state" panel
(profiles, firmware, last log upload, local list, display messages).

Pure: it reads the emulator's objects (or anything shaped like them) and gives text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "SOURCE_LABELS",
    "DisplayRow",
    "ProfileRow",
    "countdown",
    "display_rows",
    "firmware_text",
    "limit_text",
    "local_list_text",
    "log_text",
    "profile_rows",
    "reservation_text",
]

SOURCE_LABELS = {
    "TxProfile": "TxProfile",
    "TxDefaultProfile": "TxDefault",
    "External": "external",
    "StationMax": "station max",
    "StationExternal": "station external",
    "Hardware": "hardware",
}
"""What sets a connector's limit (``station.charging.limit_source``), in few words."""


def amps(watts: float, voltage_v: float, phases: int) -> float:
    """``watts`` as a current on ``phases`` at ``voltage_v``."""
    return watts / (voltage_v * max(1, phases)) if voltage_v > 0 else 0.0


def limit_text(watts: float, source: str, voltage_v: float, phases: int) -> str:
    """``6.90 kW · 10.0 A · TxDefault``: the limit a connector may draw now."""
    if not math.isfinite(watts):
        return "no limit"
    label = SOURCE_LABELS.get(source, source)
    return f"{watts / 1000:.2f} kW · {amps(watts, voltage_v, phases):.1f} A · {label}"


def countdown(seconds: float) -> str:
    """``4:05`` or ``1:02:03`` left; ``expired`` at or below zero."""
    if not math.isfinite(seconds) or seconds <= 0:
        return "expired"
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def reservation_text(reservation: Any, now: datetime) -> str:
    """``Reserved #3 for TAG-1 · 59:58``: a reservation's id, idTag and time left."""
    left = countdown((reservation.expires - now).total_seconds())
    return f"Reserved #{reservation.id} for {reservation.id_tag} · {left}"


@dataclass(frozen=True, slots=True)
class ProfileRow:
    id: int
    purpose: str
    stack_level: int
    target: str
    """``station`` (0) or ``#1``: the connector / EVSE."""
    limit: str
    """The limit in effect now, in the profile's unit, or why none is."""


def _number(value: float) -> str:
    return f"{value:g}"


def profile_rows(
    profiles: Iterable[Any], now: datetime, origin: Callable[[Any], datetime]
) -> list[ProfileRow]:
    """The installed profiles, station-wide first, then by target, purpose and level
    (highest first); ``origin(profile)`` is where its Relative schedule starts."""
    rows = []
    ordered = sorted(profiles, key=lambda p: (p.target, p.purpose, -p.stack_level, p.id))
    for profile in ordered:
        found = profile.limit_at(now, origin(profile))
        if found is None:
            limit = "not in effect now"
        else:
            value, phases = found
            limit = f"{_number(value)} {profile.unit}"
            if phases:
                limit += f" ({phases} ph)"
        target = "station" if profile.target == 0 else f"#{profile.target}"
        rows.append(ProfileRow(profile.id, profile.purpose, profile.stack_level, target, limit))
    return rows


def firmware_text(version: str, status: str, busy: bool) -> str:
    """``acme-1.0.0``, with the update's last status when one is under way or done."""
    if status in ("", "Idle"):
        return version
    return f"{version} · update {status}" + ("…" if busy else "")


def log_text(status: str, file_name: str | None, location: str | None, busy: bool) -> str:
    """The last log upload: its status, file and where it went."""
    if status in ("", "Idle") and file_name is None:
        return "none yet"
    parts = [status + ("…" if busy else "")]
    if file_name:
        parts.append(file_name)
    if location:
        parts.append(f"to {location}")
    return " · ".join(parts)


def local_list_text(version: int, entries: Mapping[str, Any]) -> str:
    size = len(entries)
    noun = "entry" if size == 1 else "entries"
    return f"version {version} · {size} {noun}"


@dataclass(frozen=True, slots=True)
class DisplayRow:
    id: int
    priority: str
    state: str
    """The connector state it is for, or ``any``."""
    text: str
    shown: bool
    """Within its start and end now."""


def display_rows(messages: Mapping[int, Any], shown: Iterable[Any]) -> list[DisplayRow]:
    """The stored display messages (as the CSMS sent them), in the order shown
    (``shown``: those showing now, first first), then the others by id."""
    showing = [m["id"] for m in shown]
    order = {mid: n for n, mid in enumerate(showing)}
    rows = []
    for mid, message in sorted(
        messages.items(), key=lambda item: (order.get(item[0], len(order)), item[0])
    ):
        content = message.get("message", {})
        text = str(content.get("content", ""))
        rows.append(
            DisplayRow(
                int(mid),
                str(message.get("priority", "")),
                str(message.get("state") or "any"),
                text,
                mid in order,
            )
        )
    return rows
