"""Charging profiles without a station: parsing, stacking, composite schedules (tables)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from browser_ocpp.emulator.charging_profiles import (
    Electrical,
    Period,
    ProfileError,
    ProfileStore,
    parse_profile,
)

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
HOUR = 3600
ELECTRICAL = Electrical(voltage_v=230, phases=3, max_w=11_000)
Payload = dict[str, Any]


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def profile(
    pid: int,
    purpose: str,
    periods: list[tuple[int, float]],
    *,
    level: int = 0,
    kind: str = "Absolute",
    unit: str = "W",
    start: datetime | None = T0,
    **extra: Any,
) -> Payload:
    """A 2.x chargingProfile (its 1.6 spelling: :func:`as_16`)."""
    schedule: Payload = {
        "id": 1,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": limit} for s, limit in periods],
    }
    if start is not None:
        schedule["startSchedule"] = _iso(start)
    for key in ("duration",):
        if key in extra:
            schedule[key] = extra.pop(key)
    return {
        "id": pid,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": [schedule],
        **extra,
    }


def as_16(raw: Payload) -> Payload:
    out = {k: v for k, v in raw.items() if k not in ("id", "chargingSchedule")}
    out["chargingProfileId"] = raw["id"]
    out["chargingSchedule"] = {k: v for k, v in raw["chargingSchedule"][0].items() if k != "id"}
    return out


def store_of(*items: tuple[int, Payload], tx: str | None = None) -> ProfileStore:
    store = ProfileStore(ELECTRICAL)
    for target, raw in items:
        parsed = parse_profile(raw, target, v16=False, received=T0)
        if parsed.role == "tx":
            parsed = replace(parsed, transaction=tx)
        store.install(parsed, replace_same_level=True)
    return store


RECURRING_DAY = profile(
    7,
    "TxDefaultProfile",
    [(0, 10_000), (8 * HOUR, 2_000), (18 * HOUR, 10_000)],
    kind="Recurring",
    recurrencyKind="Daily",
    start=datetime(2023, 12, 25, tzinfo=UTC),
)

CASES: list[tuple[str, list[tuple[int, Payload]], dict[str, Any], list[tuple[int, float]]]] = [
    ("no profile: the hardware limit", [], {}, [(0, 11_000)]),
    ("hardware limit in A", [], {"unit": "A"}, [(0, 15.9)]),
    (
        "absolute schedule in A, capped by the hardware, ends with its duration",
        [(0, profile(1, "TxDefaultProfile", [(0, 16), (HOUR, 8)], unit="A", duration=2 * HOUR))],
        {"unit": "A"},
        [(0, 15.9), (HOUR, 8.0), (2 * HOUR, 15.9)],
    ),
    (
        "a higher stack level wins while its duration lasts, then the lower one",
        [
            (0, profile(1, "TxDefaultProfile", [(0, 6000)])),
            (0, profile(2, "TxDefaultProfile", [(0, 3000)], level=1, duration=600)),
        ],
        {},
        [(0, 3000), (600, 6000)],
    ),
    (
        "the max profile caps a higher default",
        [
            (0, profile(1, "ChargingStationMaxProfile", [(0, 4000)])),
            (0, profile(2, "TxDefaultProfile", [(0, 6000)])),
        ],
        {},
        [(0, 4000)],
    ),
    (
        "a TxProfile overrides the default (even upwards) for its transaction",
        [
            (0, profile(1, "TxDefaultProfile", [(0, 3000)])),
            (1, profile(2, "TxProfile", [(0, 5000)], transactionId="tx-1")),
        ],
        {"tx": "tx-1"},
        [(0, 5000)],
    ),
    (
        "a TxProfile of another transaction does not apply",
        [
            (0, profile(1, "TxDefaultProfile", [(0, 3000)])),
            (1, profile(2, "TxProfile", [(0, 5000)], transactionId="tx-1")),
        ],
        {"tx": "tx-2"},
        [(0, 3000)],
    ),
    (
        "the connector's own default beats the station-wide one at the same level",
        [
            (0, profile(1, "TxDefaultProfile", [(0, 5000)])),
            (1, profile(2, "TxDefaultProfile", [(0, 3000)])),
        ],
        {},
        [(0, 3000)],
    ),
    (
        "another connector's default does not apply",
        [(2, profile(2, "TxDefaultProfile", [(0, 3000)]))],
        {},
        [(0, 11_000)],
    ),
    (
        "daily recurrence, asked for at 18:00 for a day",
        [(0, RECURRING_DAY)],
        {"start": T0 + timedelta(hours=6), "duration": 24 * HOUR},
        [(0, 10_000), (14 * HOUR, 2_000)],
    ),
    (
        "daily recurrence across midnight, from 06:00",
        [(0, RECURRING_DAY)],
        {"start": T0 - timedelta(hours=6), "duration": 24 * HOUR},
        [(0, 10_000), (2 * HOUR, 2_000), (12 * HOUR, 10_000)],
    ),
    (
        "weekly recurrence with a duration: on one day a week only",
        [
            (
                0,
                profile(
                    1,
                    "TxDefaultProfile",
                    [(0, 1000)],
                    kind="Recurring",
                    recurrencyKind="Weekly",
                    duration=24 * HOUR,
                    start=datetime(2023, 12, 18, tzinfo=UTC),  # a Monday, as T0's day
                ),
            )
        ],
        {"start": T0 - timedelta(hours=12) + timedelta(days=1), "duration": 7 * 24 * HOUR},
        [(0, 11_000), (6 * 24 * HOUR, 1000)],
    ),
    (
        "relative to the transaction's start",
        [(0, profile(1, "TxDefaultProfile", [(0, 2000), (60, 5000)], kind="Relative", start=None))],
        {"origin": T0 - timedelta(seconds=30)},
        [(0, 2000), (30, 5000)],
    ),
    (
        "validFrom and validTo bound a profile",
        [
            (
                0,
                profile(
                    1,
                    "TxDefaultProfile",
                    [(0, 2000)],
                    validFrom=_iso(T0 + timedelta(seconds=100)),
                    validTo=_iso(T0 + timedelta(seconds=200)),
                ),
            )
        ],
        {},
        [(0, 11_000), (100, 2000), (200, 11_000)],
    ),
    (
        "a schedule not yet started, then over",
        [(0, profile(1, "TxDefaultProfile", [(0, 2000)], start=T0 + timedelta(seconds=50)))],
        {"duration": 100},
        [(0, 11_000), (50, 2000)],
    ),
    (
        "amperes on one phase",
        [(0, profile(1, "TxDefaultProfile", [(0, 16)], unit="A"))],
        {"phases_1": True},
        [(0, 3680)],
    ),
    (
        "external constraints count as a station limit",
        [
            (0, profile(1, "ChargingStationExternalConstraints", [(0, 7000)])),
            (0, profile(2, "ChargingStationMaxProfile", [(0, 9000)])),
        ],
        {},
        [(0, 7000)],
    ),
]


@pytest.mark.parametrize(
    ("items", "ask", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_composite_schedule(
    items: list[tuple[int, Payload]], ask: dict[str, Any], expected: list[tuple[int, float]]
) -> None:
    if ask.pop("phases_1", False):
        items = [(t, _one_phase(raw)) for t, raw in items]
    store = store_of(*items, tx="tx-1")
    periods = store.composite(
        1,
        ask.get("start", T0),
        ask.get("duration", 24 * HOUR),
        ask.get("unit", "W"),
        ask.get("origin"),
        ask.get("tx"),
    )
    assert periods == [Period(start, limit) for start, limit in expected]


def _one_phase(raw: Payload) -> Payload:
    for period in raw["chargingSchedule"][0]["chargingSchedulePeriod"]:
        period["numberPhases"] = 1
    return raw


def test_the_composite_of_the_station_ignores_connector_profiles() -> None:
    store = store_of(
        (0, profile(1, "ChargingStationMaxProfile", [(0, 9000)])),
        (1, profile(2, "TxDefaultProfile", [(0, 1000)])),
    )
    assert store.composite(0, T0, 60, "W") == [Period(0, 9000)]
    assert store.limit_w(1, T0) == 1000


BAD: list[tuple[str, int, Payload, str]] = [
    ("first period", 0, profile(1, "TxDefaultProfile", [(10, 1)]), "start at 0"),
    ("order", 0, profile(1, "TxDefaultProfile", [(0, 1), (60, 2), (30, 3)]), "increasing"),
    ("same start", 0, profile(1, "TxDefaultProfile", [(0, 1), (0, 2)]), "increasing"),
    (
        "recurring without start",
        0,
        profile(
            1, "TxDefaultProfile", [(0, 1)], kind="Recurring", recurrencyKind="Daily", start=None
        ),
        "startSchedule",
    ),
    (
        "recurring without kind",
        0,
        profile(1, "TxDefaultProfile", [(0, 1)], kind="Recurring"),
        "recurrencyKind",
    ),
    (
        "relative with start",
        0,
        profile(1, "TxDefaultProfile", [(0, 1)], kind="Relative"),
        "Relative",
    ),
    ("max on a connector", 1, profile(1, "ChargingStationMaxProfile", [(0, 1)]), "whole station"),
    ("tx on the station", 0, profile(1, "TxProfile", [(0, 1)]), "TxProfile"),
    ("negative limit", 0, profile(1, "TxDefaultProfile", [(0, -1)]), ">= 0"),
    (
        "validity",
        0,
        profile(1, "TxDefaultProfile", [(0, 1)], validFrom=_iso(T0), validTo=_iso(T0)),
        "validTo",
    ),
    ("2.1 dynamic", 0, profile(1, "TxDefaultProfile", [(0, 1)], kind="Dynamic"), "Dynamic"),
    ("2.1 purpose", 0, profile(1, "PriorityCharging", [(0, 1)]), "PriorityCharging"),
    ("zero duration", 0, profile(1, "TxDefaultProfile", [(0, 1)], duration=0), "duration"),
]


@pytest.mark.parametrize(("target", "raw", "why"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_invalid_profiles_are_refused_with_the_reason(target: int, raw: Payload, why: str) -> None:
    with pytest.raises(ProfileError, match=why):
        parse_profile(raw, target, v16=False, received=T0)


def test_a_period_on_four_phases_is_refused() -> None:
    raw = profile(1, "TxDefaultProfile", [(0, 1)])
    raw["chargingSchedule"][0]["chargingSchedulePeriod"][0]["numberPhases"] = 4
    with pytest.raises(ProfileError, match="numberPhases"):
        parse_profile(raw, 0, v16=False, received=T0)


def test_a_period_without_limit_is_refused() -> None:
    raw = profile(1, "TxDefaultProfile", [(0, 1)])
    del raw["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"]
    with pytest.raises(ProfileError, match="without limit"):
        parse_profile(raw, 0, v16=False, received=T0)


def test_1_6_profiles_parse_the_same() -> None:
    raw = profile(3, "TxDefaultProfile", [(0, 16)], unit="A", duration=60)
    ours = parse_profile(as_16(raw), 1, v16=True, received=T0)
    theirs = parse_profile(raw, 1, v16=False, received=T0)
    assert (ours.id, ours.periods, ours.duration_s, ours.start) == (
        theirs.id,
        theirs.periods,
        theirs.duration_s,
        theirs.start,
    )


def test_same_level_replaces_in_1_6_and_is_refused_in_2_x() -> None:
    store = ProfileStore(ELECTRICAL)
    first = parse_profile(profile(1, "TxDefaultProfile", [(0, 1)]), 0, v16=False, received=T0)
    second = parse_profile(profile(2, "TxDefaultProfile", [(0, 2)]), 0, v16=False, received=T0)
    store.install(first, replace_same_level=False)
    with pytest.raises(ProfileError, match="already"):
        store.install(second, replace_same_level=False)
    same_id = parse_profile(profile(1, "TxDefaultProfile", [(0, 3)]), 0, v16=False, received=T0)
    store.install(same_id, replace_same_level=False)  # the same id replaces
    assert [p.periods[0].limit for p in store.profiles] == [3]
    store.install(second, replace_same_level=True)  # 1.6: the same level replaces
    assert [p.id for p in store.profiles] == [2]


def test_clear_by_id_or_criteria() -> None:
    store = store_of(
        (0, profile(1, "TxDefaultProfile", [(0, 1)])),
        (1, profile(2, "TxDefaultProfile", [(0, 1)], level=2)),
        (0, profile(3, "ChargingStationMaxProfile", [(0, 1)], level=2)),
    )
    assert store.clear(profile_id=9) == []
    assert [p.id for p in store.clear(stack_level=2, purpose="TxDefaultProfile")] == [2]
    assert [p.id for p in store.clear(profile_id=3)] == [3]
    assert [p.id for p in store.clear()] == [1]  # no criterion: every one


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ({"stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile"}, "chargingProfileKind"),
        ({**profile(1, "TxDefaultProfile", [(0, 1)]), "id": None}, "unreadable"),
        (
            {k: v for k, v in profile(1, "TxDefaultProfile", [(0, 1)]).items() if k != "id"},
            "id is missing",
        ),
        ({**profile(1, "TxDefaultProfile", [(0, 1)]), "stackLevel": "high"}, "unreadable"),
        (
            {**profile(1, "TxDefaultProfile", [(0, 1)]), "chargingSchedule": "daily"},
            "chargingSchedule",
        ),
        ("not a profile", "object"),
    ],
)
def test_unreadable_profiles_say_why(raw: Any, why: str) -> None:
    """What Python code (set_external) may pass: a clear ProfileError, never a KeyError."""
    with pytest.raises(ProfileError, match=why):
        parse_profile(raw, 0, v16=False, received=T0)
