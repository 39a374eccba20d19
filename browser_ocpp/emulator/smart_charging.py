"""Smart charging on the station: the CSMS's profile commands and the limit they put
on the simulated power (so it shows in the meter values).

``station.charging`` (:class:`SmartCharging`) holds the profiles (``store``) and tells
the limit of each connector now (:meth:`SmartCharging.limit_w`); the stacking and
schedule rules are :mod:`.charging_profiles`'.  A ChargePointMax / ChargingStationMax
limit is shared equally by the connectors charging at the time.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..peer.handlers import HandlerContext
from .charging_profiles import (
    EXTERNAL,
    MAX_PROFILES,
    MAX_STACK_LEVEL,
    TX,
    Electrical,
    Period,
    Profile,
    ProfileError,
    ProfileStore,
    parse_profile,
)
from .connectors import Connector

if TYPE_CHECKING:
    from .station import Station

__all__ = ["V2", "V16", "SmartCharging"]

Payload = dict[str, Any]

_SOURCES = (
    "TxProfile",
    "TxDefaultProfile",
    "External",
    "StationMax",
    "StationExternal",
    "Hardware",
)


class SmartCharging:
    """The station's charging profiles and the limits they set now."""

    def __init__(self, station: Station) -> None:
        self._station = station
        self.store = ProfileStore(self.electrical())
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        """Wall-clock time of the schedules (replace it to test a schedule's course)."""

    @property
    def profiles(self) -> list[Profile]:
        return list(self.store.profiles)

    def electrical(self) -> Electrical:
        """The station's power, voltage and phases now (a console may change them)."""
        config = self._station.config
        return Electrical(config.voltage_v, config.phases, config.power_kw * 1000)

    def transaction_start(self, connector: Connector) -> datetime | None:
        """Wall-clock start of the connector's transaction (where Relative schedules
        start), or None."""
        if connector.transaction_key is None:
            return None
        elapsed = asyncio.get_running_loop().time() - connector.started_at
        return self.clock() - timedelta(seconds=max(0.0, elapsed))

    def limit_w(self, connector_id: int) -> float:
        """The power connector ``connector_id`` may draw now (W): the lowest of the
        hardware's, its profiles' and its share of the station-wide limit."""
        connector = self._station.connector(connector_id)
        self.store.electrical = self.electrical()
        now = self.clock()
        tx_start = self.transaction_start(connector)
        limit = self.store.limit_w(connector.id, now, tx_start, connector.transaction_key)
        station = self.store.station_limit_w(now, tx_start)
        if station is not None:
            charging = sum(1 for c in self._station.connectors if c.transaction_key is not None)
            limit = min(limit, station / max(1, charging))
        return limit

    def limit_source(self, connector_id: int) -> tuple[float, str]:
        """The limit of connector ``connector_id`` now (W, as :meth:`limit_w`) and what
        sets it: "TxProfile", "TxDefaultProfile", "External", "StationMax" or
        "StationExternal" (its share of the station's limit), or "Hardware"."""
        connector = self._station.connector(connector_id)
        self.store.electrical = electrical = self.electrical()
        now = self.clock()
        tx_start = self.transaction_start(connector)
        found = self.store.limits_by_source(connector.id, now, tx_start, connector.transaction_key)
        charging = sum(1 for c in self._station.connectors if c.transaction_key is not None)
        for source in ("StationMax", "StationExternal"):
            if source in found:
                found[source] /= max(1, charging)
        found["Hardware"] = electrical.max_w
        source = min(_SOURCES, key=lambda s: found.get(s, math.inf))  # a tie: most specific
        return found[source], source

    def limits(self) -> dict[int, float]:
        """The limit of every connector now (W), for a console."""
        return {c.id: self.limit_w(c.id) for c in self._station.connectors}

    def set_external(self, raw: Payload, target: int = 0) -> None:
        """Install a 2.x ChargingStationExternalConstraints profile (as an energy
        management system would: the CSMS may not set one); ProfileError if invalid."""
        raw = {**raw, "chargingProfilePurpose": "ChargingStationExternalConstraints"}
        profile = parse_profile(raw, target, v16=False, received=self.clock())
        self.store.install(profile, replace_same_level=True)
        self.applied(f"External constraints {profile.id} on {target} installed")

    def applied(self, line: str) -> None:
        """The profiles changed: the charging connectors' power follows at once."""
        station = self._station
        station.note(line)
        station.apply_limits()

    def transaction_ended(self) -> None:
        """TxProfiles end with their transaction (1.6 §3.13.4; 2.x K01)."""
        running = {c.transaction_key for c in self._station.connectors if c.transaction_key}
        for profile in self.store.drop_transaction_profiles(running):
            self._station.note(f"TxProfile {profile.id} removed: its transaction ended")


# -- checks shared by both versions --------------------------------------------------------


def _install(station: Station, profile: Profile, transaction: str | None, v16: bool) -> None:
    """Check what needs the station's state, then store the profile (ProfileError)."""
    if profile.stack_level > MAX_STACK_LEVEL:
        raise ProfileError(f"stackLevel {profile.stack_level} > {MAX_STACK_LEVEL}")
    unit = profile.unit
    if unit not in ("A", "W"):
        raise ProfileError(f"chargingRateUnit {unit!r} is not A or W")
    if profile.role == TX:
        connector = station.connectors[profile.target - 1]
        if connector.transaction_key is None:
            raise ProfileError(f"no transaction on {profile.target} for a TxProfile")
        if transaction is not None and transaction != connector.transaction_id:
            raise ProfileError(f"transaction {transaction} is not the one on {profile.target}")
        profile = _with_transaction(profile, connector.transaction_key)
    store = station.charging.store
    replaced = any(p.id == profile.id for p in store.profiles)
    if not replaced and len(store.profiles) >= MAX_PROFILES:
        raise ProfileError(f"{MAX_PROFILES} profiles are installed already")
    store.install(profile, replace_same_level=v16)


def _with_transaction(profile: Profile, key: str) -> Profile:
    return replace(profile, transaction=key)


def _periods_payload(periods: list[Period]) -> list[Payload]:
    return [{"startPeriod": p.start_s, "limit": p.limit} for p in periods]


def _composite(
    station: Station, target: int, duration: int, unit: str
) -> tuple[datetime, list[Period]]:
    charging = station.charging
    charging.store.electrical = charging.electrical()
    now = charging.clock().replace(microsecond=0)
    connector = station.connectors[target - 1] if target else None
    origin = charging.transaction_start(connector) if connector else None
    tx = connector.transaction_key if connector else None
    return now, charging.store.composite(target, now, duration, unit, origin, tx)


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _target_ok(station: Station, target: Any) -> bool:
    return isinstance(target, int) and 0 <= target <= len(station.connectors)


# -- OCPP 1.6 ------------------------------------------------------------------------------


def set_charging_profile_16(station: Station, ctx: HandlerContext) -> Payload:
    target, raw = ctx.params["connectorId"], ctx.params["csChargingProfiles"]
    try:
        if not _target_ok(station, target):
            raise ProfileError(f"no connector {target}")
        profile = parse_profile(raw, target, v16=True, received=station.charging.clock())
        transaction = raw.get("transactionId")
        _install(station, profile, None if transaction is None else str(transaction), True)
    except (ProfileError, ValueError, KeyError) as exc:
        station.note(f"SetChargingProfile on connector {target} rejected: {exc}")
        return {"status": "Rejected"}
    station.charging.applied(
        f"SetChargingProfile {profile.id} ({profile.purpose}, level {profile.stack_level}) "
        f"on connector {target}: Accepted"
    )
    return {"status": "Accepted"}


def clear_charging_profile_16(station: Station, ctx: HandlerContext) -> Payload:
    params = ctx.params
    gone = station.charging.store.clear(
        params.get("id"),
        params.get("connectorId"),
        params.get("chargingProfilePurpose"),
        params.get("stackLevel"),
    )
    status = "Accepted" if gone else "Unknown"
    station.charging.applied(f"ClearChargingProfile: {len(gone)} removed ({status})")
    return {"status": status}


def get_composite_schedule_16(station: Station, ctx: HandlerContext) -> Payload:
    target, duration = ctx.params["connectorId"], ctx.params["duration"]
    unit = ctx.params.get("chargingRateUnit", "W")
    if not _target_ok(station, target) or duration < 0:
        station.note(f"GetCompositeSchedule (connector {target}): Rejected")
        return {"status": "Rejected"}
    start, periods = _composite(station, target, duration, unit)
    station.note(f"GetCompositeSchedule (connector {target}, {duration} s, {unit}): Accepted")
    return {
        "status": "Accepted",
        "connectorId": target,
        "scheduleStart": _stamp(start),
        "chargingSchedule": {
            "duration": duration,
            "startSchedule": _stamp(start),
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": _periods_payload(periods),
        },
    }


# -- OCPP 2.0.1 / 2.1 ----------------------------------------------------------------------


def _rejected(reason: str, info: str) -> Payload:
    return {"status": "Rejected", "statusInfo": {"reasonCode": reason, "additionalInfo": info}}


def set_charging_profile_2(station: Station, ctx: HandlerContext) -> Payload:
    target, raw = ctx.params["evseId"], ctx.params["chargingProfile"]
    if not _target_ok(station, target):
        station.note(f"SetChargingProfile on EVSE {target} rejected: no such EVSE")
        return _rejected("UnknownEvse", f"no EVSE {target}")
    try:
        if raw.get("chargingProfilePurpose") == "ChargingStationExternalConstraints":
            raise ProfileError("ChargingStationExternalConstraints are not the CSMS's to set")
        profile = parse_profile(raw, target, v16=False, received=station.charging.clock())
        if profile.role == TX and raw.get("transactionId") is None:
            raise ProfileError("a TxProfile needs a transactionId")
        _install(station, profile, raw.get("transactionId"), False)
    except (ProfileError, ValueError, KeyError) as exc:
        station.note(f"SetChargingProfile on EVSE {target} rejected: {exc}")
        reason = "TxNotFound" if "transaction" in str(exc) else "InvalidProfile"
        return _rejected(reason, str(exc)[:500])
    station.charging.applied(
        f"SetChargingProfile {profile.id} ({profile.purpose}, level {profile.stack_level}) "
        f"on EVSE {target}: Accepted"
    )
    return {"status": "Accepted"}


def clear_charging_profile_2(station: Station, ctx: HandlerContext) -> Payload:
    criteria = ctx.params.get("chargingProfileCriteria") or {}
    profile_id = ctx.params.get("chargingProfileId")
    store = station.charging.store
    external = [p for p in store.profiles if p.role == EXTERNAL]  # not the CSMS's to clear
    store.profiles = [p for p in store.profiles if p.role != EXTERNAL]
    gone = store.clear(
        profile_id,
        criteria.get("evseId"),
        criteria.get("chargingProfilePurpose"),
        criteria.get("stackLevel"),
    )
    store.profiles += external
    status = "Accepted" if gone else "Unknown"
    station.charging.applied(f"ClearChargingProfile: {len(gone)} removed ({status})")
    return {"status": status}


def get_composite_schedule_2(station: Station, ctx: HandlerContext) -> Payload:
    target, duration = ctx.params["evseId"], ctx.params["duration"]
    unit = ctx.params.get("chargingRateUnit", "W")
    if not _target_ok(station, target) or duration < 0:
        station.note(f"GetCompositeSchedule (EVSE {target}): Rejected")
        return _rejected("UnknownEvse", f"no EVSE {target}")
    start, periods = _composite(station, target, duration, unit)
    station.note(f"GetCompositeSchedule (EVSE {target}, {duration} s, {unit}): Accepted")
    return {
        "status": "Accepted",
        "schedule": {
            "evseId": target,
            "duration": duration,
            "scheduleStart": _stamp(start),
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": _periods_payload(periods),
        },
    }


def _source(profile: Profile) -> str:
    return "EMS" if profile.role == EXTERNAL else "CSO"


def get_charging_profiles(station: Station, ctx: HandlerContext) -> Payload:
    """2.x K09: the matching profiles go out in ReportChargingProfiles, one per EVSE."""
    request_id, evse = ctx.params["requestId"], ctx.params.get("evseId")
    criteria = ctx.params["chargingProfile"]
    ids, sources = criteria.get("chargingProfileId"), criteria.get("chargingLimitSource")
    found = [
        p
        for p in station.charging.store.profiles
        if (evse is None or p.target == evse)
        and criteria.get("chargingProfilePurpose", p.purpose) == p.purpose
        and criteria.get("stackLevel", p.stack_level) == p.stack_level
        and (not ids or p.id in ids)
        and (not sources or _source(p) in sources)
    ]
    station.note(f"GetChargingProfiles ({request_id}): {len(found)} found")
    if not found:
        return {"status": "NoProfiles"}
    by_target: dict[tuple[int, str], list[Payload]] = {}
    for profile in found:
        by_target.setdefault((profile.target, _source(profile)), []).append(profile.raw)
    reports = [
        {
            "requestId": request_id,
            "chargingLimitSource": source,
            "evseId": target,
            "chargingProfile": raws,
        }
        for (target, source), raws in sorted(by_target.items())
    ]
    for report in reports[:-1]:
        report["tbc"] = True

    async def send() -> None:
        for report in reports:
            await station._call("ReportChargingProfiles", report)

    station.after_reply(ctx.message_id, send)
    return {"status": "Accepted"}


V16 = {
    "SetChargingProfile": set_charging_profile_16,
    "ClearChargingProfile": clear_charging_profile_16,
    "GetCompositeSchedule": get_composite_schedule_16,
}
V2 = {
    "SetChargingProfile": set_charging_profile_2,
    "ClearChargingProfile": clear_charging_profile_2,
    "GetCompositeSchedule": get_composite_schedule_2,
    "GetChargingProfiles": get_charging_profiles,
}
