"""Charging profiles: parsing, checking, stacking and the composite schedule.

Pure logic, no I/O (:mod:`.smart_charging` wires it to the station).  Both versions'
profiles become one :class:`Profile`; the rules followed:

* OCPP 1.6 §3.13 (Smart Charging): purposes ChargePointMaxProfile, TxDefaultProfile,
  TxProfile; §3.13.2 stacking: per purpose the valid profile with the highest
  stackLevel prevails, and when its schedule's duration has run out the next lower
  one applies; §3.13.4 combining: the limit is the lowest of the purposes' limits,
  a TxProfile overriding the TxDefaultProfile.  A profile with the chargingProfileId
  or the stackLevel/purpose/connector of a stored one replaces it (§5.16).
* OCPP 2.0.1 / 2.1 Part 2 K (Smart Charging): the same, with
  ChargingStationMaxProfile and ChargingStationExternalConstraints at station level;
  K01: a second profile with the same stackLevel, purpose and EVSE but another id is
  rejected rather than replacing the first; a TxProfile needs the transaction it names.
* Schedules (1.6 §7.13, 2.x ChargingScheduleType): Absolute (from startSchedule),
  Recurring Daily/Weekly (from startSchedule, repeating), Relative (from the start of
  the transaction); periods start at 0 and ascend; the last one lasts to the end of
  the schedule's duration (or for ever).  Limits in A become W with the station's
  voltage and phases (numberPhases of the period, else the station's).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "EXTERNAL",
    "MAX",
    "MAX_COMPOSITE_S",
    "MAX_PERIODS",
    "MAX_PROFILES",
    "MAX_STACK_LEVEL",
    "TX",
    "TX_DEFAULT",
    "Electrical",
    "Period",
    "Profile",
    "ProfileError",
    "ProfileStore",
    "parse_profile",
]

Payload = dict[str, Any]

MAX, EXTERNAL, TX_DEFAULT, TX = "max", "external", "tx_default", "tx"
"""The roles a purpose plays, whatever its version calls it."""

_ROLES = {
    "ChargePointMaxProfile": MAX,
    "ChargingStationMaxProfile": MAX,
    "ChargingStationExternalConstraints": EXTERNAL,
    "TxDefaultProfile": TX_DEFAULT,
    "TxProfile": TX,
}
_RECURRENCE_S = {"Daily": 86_400, "Weekly": 7 * 86_400}
MAX_COMPOSITE_S = 31 * 86_400
"""The longest composite schedule computed (a longer request is cut to this)."""
MAX_PERIODS = 1024
"""Periods one schedule may hold (ChargingScheduleMaxPeriods)."""
MAX_STACK_LEVEL = 8
"""ChargeProfileMaxStackLevel (2.x SmartChargingCtrlr.ProfileStackLevel)."""
MAX_PROFILES = 32
"""MaxChargingProfilesInstalled (2.x SmartChargingCtrlr.Entries)."""


class ProfileError(ValueError):
    """A profile the station refuses; the message says why."""


@dataclass(frozen=True, slots=True)
class Electrical:
    """What converts A to W: line voltage, phases in use, and the hardware limit."""

    voltage_v: float = 230.0
    phases: int = 3
    max_w: float = 11_000.0

    def watts(self, limit: float, unit: str, phases: int | None = None) -> float:
        if unit == "W":
            return limit
        return limit * self.voltage_v * min(phases or self.phases, self.phases)

    def in_unit(self, watts: float, unit: str) -> float:
        """``watts`` in ``unit``, rounded down to 0.1 (the schemas' precision)."""
        value = watts if unit == "W" else watts / (self.voltage_v * self.phases)
        return math.floor(value * 10 + 1e-6) / 10


@dataclass(frozen=True, slots=True)
class Period:
    start_s: int
    limit: float
    phases: int | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    """One charging profile as the station keeps it (``raw``: as the CSMS sent it)."""

    id: int
    target: int
    """Connector (1.6) or EVSE (2.x) id; 0: the whole station."""
    stack_level: int
    purpose: str
    kind: str
    unit: str
    periods: tuple[Period, ...]
    received: datetime
    recurrency: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    start: datetime | None = None
    duration_s: int | None = None
    transaction: str | None = None
    """The station's key of the transaction a TxProfile belongs to."""
    raw: Payload = field(default_factory=dict, compare=False)

    @property
    def role(self) -> str:
        return _ROLES[self.purpose]

    def instance_start(self, at: datetime, origin: datetime) -> datetime:
        """Start of the schedule in effect at ``at`` (``origin``: where a Relative
        schedule starts, the transaction's start)."""
        if self.kind == "Relative":
            return origin
        base = self.start or self.received
        if self.kind == "Recurring" and self.recurrency in _RECURRENCE_S:
            every = _RECURRENCE_S[self.recurrency]
            return base + timedelta(seconds=every * ((at - base).total_seconds() // every))
        return base

    def instance_end(self, start: datetime) -> datetime | None:
        every = _RECURRENCE_S.get(self.recurrency or "") if self.kind == "Recurring" else None
        length = self.duration_s
        if every is not None:
            length = every if length is None else min(length, every)
        return None if length is None else start + timedelta(seconds=length)

    def limit_at(self, at: datetime, origin: datetime) -> tuple[float, int | None] | None:
        """(limit in the profile's unit, phases) in effect at ``at``; None if the
        profile is not in effect then (not valid yet or any more, schedule not started
        or over)."""
        if (self.valid_from and at < self.valid_from) or (self.valid_to and at >= self.valid_to):
            return None
        start = self.instance_start(at, origin)
        end = self.instance_end(start)
        if at < start or (end is not None and at >= end):
            return None
        offset = (at - start).total_seconds()
        found = None
        for period in self.periods:
            if period.start_s > offset:
                break
            found = period
        return None if found is None else (found.limit, found.phases)

    def changes(self, since: datetime, until: datetime, origin: datetime) -> Iterator[datetime]:
        """Times in [since, until) at which this profile's output may change."""
        for when in (self.valid_from, self.valid_to):
            if when is not None:
                yield when
        start = self.instance_start(since, origin)
        every = _RECURRENCE_S.get(self.recurrency or "") if self.kind == "Recurring" else None
        for _ in range(MAX_COMPOSITE_S // 86_400 + 2):  # a Daily profile over the window
            for period in self.periods:
                yield start + timedelta(seconds=period.start_s)
            end = self.instance_end(start)
            if end is not None:
                yield end
            if every is None:
                return
            start += timedelta(seconds=every)
            if start >= until:
                return


def _time(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ProfileError(f"{name} is not a date-time: {value!r}") from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _periods(items: Any) -> tuple[Period, ...]:
    if not isinstance(items, list) or not items:
        raise ProfileError("chargingSchedulePeriod is empty")
    if len(items) > MAX_PERIODS:
        raise ProfileError(f"more than {MAX_PERIODS} schedule periods")
    periods = []
    for item in items:
        if not isinstance(item, dict) or "limit" not in item:
            raise ProfileError("a schedule period without limit is not supported")
        limit, phases = float(item["limit"]), item.get("numberPhases")
        if not math.isfinite(limit) or limit < 0:
            raise ProfileError(f"limit {item['limit']!r} is not a rate >= 0")
        if phases is not None and not 1 <= int(phases) <= 3:
            raise ProfileError(f"numberPhases {phases!r} is not 1 to 3")
        periods.append(Period(int(item["startPeriod"]), limit, phases))
    if periods[0].start_s != 0:
        raise ProfileError("the first period must start at 0")
    if any(b.start_s <= a.start_s for a, b in itertools.pairwise(periods)):
        raise ProfileError("periods must be in increasing order of startPeriod")
    return tuple(periods)


def parse_profile(raw: Payload, target: int, *, v16: bool, received: datetime) -> Profile:
    """A profile from a 1.6 ``csChargingProfiles`` or a 2.x ``chargingProfile``;
    ProfileError for one the station cannot apply or read (checks that need the
    station's state, as transactions, are :class:`ProfileStore`'s)."""
    if not isinstance(raw, dict):
        raise ProfileError(f"a charging profile is an object, not {type(raw).__name__}")
    try:
        return _parse(raw, target, v16, received)
    except KeyError as exc:
        raise ProfileError(f"{exc.args[0]} is missing") from exc
    except (TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, ProfileError):
            raise
        raise ProfileError(f"unreadable profile: {exc}") from exc


def _parse(raw: Payload, target: int, v16: bool, received: datetime) -> Profile:
    purpose = str(raw.get("chargingProfilePurpose"))
    if purpose not in _ROLES:
        raise ProfileError(f"purpose {purpose} is not supported")
    kind = str(raw.get("chargingProfileKind"))
    if kind not in ("Absolute", "Recurring", "Relative"):
        raise ProfileError(f"chargingProfileKind {kind} is not supported")
    schedules = raw.get("chargingSchedule")
    schedule = schedules if v16 else (schedules or [None])[0]
    if not isinstance(schedule, dict):
        raise ProfileError("chargingSchedule is missing")
    start = _time(schedule.get("startSchedule"), "startSchedule")
    recurrency = raw.get("recurrencyKind")
    if kind == "Recurring" and (recurrency not in _RECURRENCE_S or start is None):
        raise ProfileError("a Recurring profile needs recurrencyKind and startSchedule")
    if kind == "Relative" and start is not None:
        raise ProfileError("a Relative profile has no startSchedule")
    duration = schedule.get("duration")
    if duration is not None and int(duration) <= 0:
        raise ProfileError(f"duration {duration!r} is not > 0")
    level = int(raw.get("stackLevel", -1))
    if level < 0:
        raise ProfileError(f"stackLevel {level} is below 0")
    valid_from = _time(raw.get("validFrom"), "validFrom")
    valid_to = _time(raw.get("validTo"), "validTo")
    if valid_from and valid_to and valid_to <= valid_from:
        raise ProfileError("validTo is not after validFrom")
    role = _ROLES[purpose]
    if role == MAX and target != 0:
        raise ProfileError(f"{purpose} applies to the whole station (id 0) only")
    if role == TX and target == 0:
        raise ProfileError("a TxProfile needs a connector/EVSE, not 0")
    return Profile(
        id=int(raw["chargingProfileId" if v16 else "id"]),
        target=target,
        stack_level=level,
        purpose=purpose,
        kind=kind,
        unit=str(schedule.get("chargingRateUnit")),
        periods=_periods(schedule.get("chargingSchedulePeriod")),
        received=received,
        recurrency=recurrency if kind == "Recurring" else None,
        valid_from=valid_from,
        valid_to=valid_to,
        start=start,
        duration_s=None if duration is None else int(duration),
        raw=raw,
    )


@dataclass
class ProfileStore:
    """The profiles a station holds, and the limits they set."""

    electrical: Electrical = field(default_factory=Electrical)
    profiles: list[Profile] = field(default_factory=list)

    def install(self, profile: Profile, *, replace_same_level: bool) -> None:
        """Store ``profile``: it replaces one with its id, and one with its stack level,
        purpose and target (``replace_same_level``: 1.6; 2.x refuses that one with
        ProfileError unless it has the same id)."""
        same_level = [
            p
            for p in self.profiles
            if (p.stack_level, p.purpose, p.target)
            == (profile.stack_level, profile.purpose, profile.target)
            and p.id != profile.id
        ]
        if same_level and not replace_same_level:
            raise ProfileError(
                f"profile {same_level[0].id} has stackLevel {profile.stack_level} and "
                f"purpose {profile.purpose} on {profile.target} already"
            )
        gone = {p.id for p in same_level} | {profile.id}
        self.profiles = [p for p in self.profiles if p.id not in gone] + [profile]

    def clear(
        self,
        profile_id: int | None = None,
        target: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> list[Profile]:
        """Remove the profile ``profile_id`` or those matching every criterion given;
        the removed ones."""

        def matches(p: Profile) -> bool:
            if profile_id is not None:
                return p.id == profile_id
            return (
                (target is None or p.target == target)
                and (purpose is None or p.purpose == purpose)
                and (stack_level is None or p.stack_level == stack_level)
            )

        gone = [p for p in self.profiles if matches(p)]
        self.profiles = [p for p in self.profiles if not matches(p)]
        return gone

    def drop_transaction_profiles(self, running: set[str]) -> list[Profile]:
        """Remove the TxProfiles of transactions no longer running."""
        gone = [p for p in self.profiles if p.role == TX and p.transaction not in running]
        self.profiles = [p for p in self.profiles if p not in gone]
        return gone

    # -- limits --------------------------------------------------------------------------

    def _role_limit(
        self, role: str, targets: tuple[int, ...], at: datetime, origin: datetime, tx: str | None
    ) -> float | None:
        """The limit (W) of the prevailing profile of ``role`` for ``targets`` (the most
        specific first, which wins a tie of stack levels), or None."""
        candidates = [
            p
            for p in self.profiles
            if p.role == role and p.target in targets and (role != TX or p.transaction == tx)
        ]
        candidates.sort(key=lambda p: (-p.stack_level, targets.index(p.target)))
        for profile in candidates:
            found = profile.limit_at(at, origin)
            if found is not None:
                return self.electrical.watts(found[0], profile.unit, found[1])
        return None

    def station_limit_w(self, at: datetime, origin: datetime | None = None) -> float | None:
        """The station-wide limit: the lowest of the Max and External profiles' (W)."""
        origin = origin or at
        limits = [self._role_limit(role, (0,), at, origin, None) for role in (MAX, EXTERNAL)]
        found = [limit for limit in limits if limit is not None]
        return min(found) if found else None

    def connector_limit_w(
        self, target: int, at: datetime, origin: datetime | None = None, tx: str | None = None
    ) -> float | None:
        """The limit of connector/EVSE ``target`` from its own profiles (External of the
        EVSE; TxProfile of transaction ``tx``, else TxDefaultProfile), W, or None."""
        origin = origin or at
        own = self._role_limit(TX, (target,), at, origin, tx) if tx is not None else None
        if own is None:
            own = self._role_limit(TX_DEFAULT, (target, 0), at, origin, None)
        external = self._role_limit(EXTERNAL, (target,), at, origin, None)
        found = [limit for limit in (own, external) if limit is not None]
        return min(found) if found else None

    def limits_by_source(
        self, target: int, at: datetime, origin: datetime | None = None, tx: str | None = None
    ) -> dict[str, float]:
        """What limits ``target`` at ``at`` (W), by source, for a console to say which one
        prevails: "TxProfile" (else "TxDefaultProfile"), "External" (the EVSE's),
        "StationMax" and "StationExternal" (the whole station's, not shared out)."""
        origin = origin or at
        found: dict[str, float | None] = {
            "StationMax": self._role_limit(MAX, (0,), at, origin, None),
            "StationExternal": self._role_limit(EXTERNAL, (0,), at, origin, None),
        }
        if target:
            tx_limit = self._role_limit(TX, (target,), at, origin, tx) if tx is not None else None
            if tx_limit is not None:
                found["TxProfile"] = tx_limit
            else:
                found["TxDefaultProfile"] = self._role_limit(
                    TX_DEFAULT, (target, 0), at, origin, None
                )
            found["External"] = self._role_limit(EXTERNAL, (target,), at, origin, None)
        return {source: limit for source, limit in found.items() if limit is not None}

    def limit_w(
        self, target: int, at: datetime, origin: datetime | None = None, tx: str | None = None
    ) -> float:
        """The composite limit at ``at`` in W: the hardware's, the station's profiles' and
        (``target`` > 0) the connector's, whichever is lowest."""
        limits = [self.electrical.max_w, self.station_limit_w(at, origin)]
        if target:
            limits.append(self.connector_limit_w(target, at, origin, tx))
        return min(limit for limit in limits if limit is not None)

    def composite(
        self,
        target: int,
        start: datetime,
        duration_s: int,
        unit: str,
        origin: datetime | None = None,
        tx: str | None = None,
    ) -> list[Period]:
        """The composite schedule of ``target`` from ``start`` for ``duration_s``
        (at most :data:`MAX_COMPOSITE_S`), in ``unit``: a period where the limit changes."""
        origin = origin or start
        end = start + timedelta(seconds=min(duration_s, MAX_COMPOSITE_S))
        times = {start}
        for profile in self.profiles:
            times.update(t for t in profile.changes(start, end, origin) if start < t < end)
        periods: list[Period] = []
        for when in sorted(times):
            limit = self.electrical.in_unit(self.limit_w(target, when, origin, tx), unit)
            if not periods or periods[-1].limit != limit:
                periods.append(Period(int((when - start).total_seconds()), limit))
        return _merge_same_second(periods)


def _merge_same_second(periods: Iterable[Period]) -> list[Period]:
    """One period per second (sub-second changes keep the last limit)."""
    merged: list[Period] = []
    for period in periods:
        if merged and merged[-1].start_s == period.start_s:
            merged[-1] = period
        else:
            merged.append(period)
    return merged
