"""The console's text for the station blocks (model/blocks.py), from the emulator's own
objects: profiles as parse_profile makes them, reservations, display messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from browser_ocpp.console.model.blocks import (
    countdown,
    display_rows,
    firmware_text,
    limit_text,
    local_list_text,
    log_text,
    profile_rows,
    reservation_text,
)
from browser_ocpp.emulator.charging_profiles import parse_profile
from browser_ocpp.emulator.reservations import Reservation

NOW = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def test_limit_text_in_kw_and_a_with_its_source() -> None:
    assert limit_text(6900, "TxDefaultProfile", 230, 3) == "6.90 kW · 10.0 A · TxDefault"
    assert limit_text(11_000, "Hardware", 230, 3) == "11.00 kW · 15.9 A · hardware"
    assert limit_text(3000, "StationMax", 230, 1) == "3.00 kW · 13.0 A · station max"
    assert limit_text(0, "TxProfile", 230, 3) == "0.00 kW · 0.0 A · TxProfile"
    assert limit_text(float("inf"), "Hardware", 230, 3) == "no limit"
    assert limit_text(1000, "Other", 0, 3).endswith("0.0 A · Other")  # no division by zero


def test_countdown() -> None:
    assert countdown(3599.2) == "1:00:00"
    assert countdown(3599) == "59:59"
    assert countdown(61) == "1:01"
    assert countdown(0.4) == "0:01"
    assert countdown(0) == "expired"
    assert countdown(-5) == "expired"
    assert countdown(float("nan")) == "expired"


def test_reservation_text_counts_down_to_expiry() -> None:
    reservation = Reservation(7, 1, "TAG-1", NOW + timedelta(minutes=5))
    assert reservation_text(reservation, NOW) == "Reserved #7 for TAG-1 · 5:00"
    assert reservation_text(reservation, NOW + timedelta(seconds=299)) == (
        "Reserved #7 for TAG-1 · 0:01"
    )
    assert reservation_text(reservation, NOW + timedelta(minutes=6)).endswith("expired")


def profile(pid: int, purpose: str, level: int, target: int, **schedule: Any) -> Any:
    raw = {
        "id": pid,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": schedule.pop("kind", "Relative"),
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": schedule.pop("unit", "A"),
                "chargingSchedulePeriod": schedule.pop(
                    "periods", [{"startPeriod": 0, "limit": 10}]
                ),
                **schedule,
            }
        ],
    }
    return parse_profile(raw, target, v16=False, received=NOW)


def test_profile_rows_show_the_limit_in_effect_now() -> None:
    stepped = profile(
        3,
        "TxDefaultProfile",
        1,
        1,
        periods=[{"startPeriod": 0, "limit": 16}, {"startPeriod": 600, "limit": 8}],
    )
    later = profile(
        4,
        "TxDefaultProfile",
        2,
        1,
        kind="Absolute",
        startSchedule="2024-01-01T13:00:00Z",
    )
    station_max = profile(
        1,
        "ChargingStationMaxProfile",
        0,
        0,
        unit="W",
        periods=[{"startPeriod": 0, "limit": 22000, "numberPhases": 3}],
    )
    rows = profile_rows([stepped, later, station_max], NOW, lambda p: NOW - timedelta(minutes=15))
    assert [(r.id, r.target, r.purpose, r.stack_level) for r in rows] == [
        (1, "station", "ChargingStationMaxProfile", 0),
        (4, "#1", "TxDefaultProfile", 2),
        (3, "#1", "TxDefaultProfile", 1),
    ]
    assert [r.limit for r in rows] == ["22000 W (3 ph)", "not in effect now", "8 A"]
    assert profile_rows([], NOW, lambda p: NOW) == []


def test_firmware_and_log_texts() -> None:
    assert firmware_text("1.0.0", "Idle", False) == "1.0.0"
    assert firmware_text("1.0.0", "Downloading", True) == "1.0.0 · update Downloading…"
    assert firmware_text("1.0.1", "Installed", False) == "1.0.1 · update Installed"
    assert log_text("Idle", None, None, False) == "none yet"
    assert log_text("Uploading", None, "http://127.0.0.1:1/u", True) == (
        "Uploading… · to http://127.0.0.1:1/u"
    )
    assert log_text("Uploaded", "a.log", "http://127.0.0.1:1/u", False) == (
        "Uploaded · a.log · to http://127.0.0.1:1/u"
    )
    assert local_list_text(0, {}) == "version 0 · 0 entries"
    assert local_list_text(3, {"TAG-1": object()}) == "version 3 · 1 entry"


def test_display_rows_in_the_order_shown_then_the_rest() -> None:
    def message(mid: int, priority: str, text: str, **extra: Any) -> dict[str, Any]:
        return {
            "id": mid,
            "priority": priority,
            "message": {"format": "UTF8", "content": text},
            **extra,
        }

    messages = {
        1: message(1, "NormalCycle", "Welcome"),
        2: message(2, "AlwaysFront", "Out of order soon", state="Charging"),
        5: message(5, "InFront", "Tomorrow", startDateTime="2099-01-01T00:00:00Z"),
    }
    rows = display_rows(messages, [messages[2], messages[1]])
    assert [(r.id, r.priority, r.state, r.text, r.shown) for r in rows] == [
        (2, "AlwaysFront", "Charging", "Out of order soon", True),
        (1, "NormalCycle", "any", "Welcome", True),
        (5, "InFront", "any", "Tomorrow", False),
    ]
    assert display_rows({}, []) == []
