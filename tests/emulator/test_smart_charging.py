"""Smart charging driven by a CSMS: profiles set, cleared, reported, and the limit
seen in the meter values (every version, against the strict test CSMS)."""

from __future__ import annotations

from typing import Any

import pytest

from browser_ocpp.emulator.charging_profiles import ProfileError

from .conftest import Csms, Payload, Rig, RigFactory


def schedule(limit: float, unit: str = "W", **extra: Any) -> Payload:
    return {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        **extra,
    }


def profile(
    rig: Rig, pid: int, purpose: str, limit: float, level: int = 0, **extra: Any
) -> Payload:
    """A profile in the version's spelling (1.6 names ChargePointMaxProfile)."""
    if rig.v16:
        purpose = {"ChargingStationMaxProfile": "ChargePointMaxProfile"}.get(purpose, purpose)
        return {
            "chargingProfileId": pid,
            "stackLevel": level,
            "chargingProfilePurpose": purpose,
            "chargingProfileKind": "Relative",
            "chargingSchedule": schedule(limit),
            **extra,
        }
    return {
        "id": pid,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Relative",
        "chargingSchedule": [schedule(limit, id=1)],
        **extra,
    }


async def set_profile(rig: Rig, target: int, raw: Payload) -> Payload:
    if rig.v16:
        return await rig.csms.send(
            "SetChargingProfile", {"connectorId": target, "csChargingProfiles": raw}
        )
    return await rig.csms.send("SetChargingProfile", {"evseId": target, "chargingProfile": raw})


async def composite(rig: Rig, target: int, unit: str = "W") -> list[Payload]:
    if rig.v16:
        answer = await rig.csms.send(
            "GetCompositeSchedule",
            {"connectorId": target, "duration": 600, "chargingRateUnit": unit},
        )
        assert answer["status"] == "Accepted"
        return list(answer["chargingSchedule"]["chargingSchedulePeriod"])
    answer = await rig.csms.send(
        "GetCompositeSchedule", {"evseId": target, "duration": 600, "chargingRateUnit": unit}
    )
    assert answer["status"] == "Accepted" and answer["schedule"]["evseId"] == target
    return list(answer["schedule"]["chargingSchedulePeriod"])


def power_of(csms: Csms, payload: Payload) -> float | None:
    for value in payload.get("meterValue", [{}])[0].get("sampledValue", []):
        if value["measurand"] == "Power.Active.Import":
            return float(value["value"])
    return None


async def power_seen(rig: Rig, watts: float) -> None:
    """Wait for a meter sample of the transaction drawing ``watts``."""
    action = "MeterValues" if rig.v16 else "TransactionEvent"
    await rig.csms.until(action, lambda p: power_of(rig.csms, p) == watts)


async def start(rig: Rig, connector_id: int = 1) -> str:
    assert await rig.station.start_transaction(connector_id, "TAG-1")
    transaction_id = rig.station.connectors[connector_id - 1].transaction_id
    assert transaction_id is not None
    if rig.v16:  # the CSMS's id, once StartTransaction is answered
        await rig.csms.next("StartTransaction")
        transaction_id = str(rig.station.connectors[connector_id - 1].transaction_id)
    return transaction_id


async def test_a_default_profile_limits_the_power_in_the_meter_values(make_rig: RigFactory) -> None:
    rig = await make_rig(power_kw=11)
    await start(rig)
    await power_seen(rig, 11_000)
    assert await set_profile(rig, 0, profile(rig, 1, "TxDefaultProfile", 4000)) == {
        "status": "Accepted"
    }
    await power_seen(rig, 4000)
    assert rig.station.connectors[0].power_w == 4000
    assert rig.station.charging.limit_w(1) == 4000
    assert await composite(rig, 1) == [{"startPeriod": 0, "limit": 4000}]
    assert await composite(rig, 1, "A") == [{"startPeriod": 0, "limit": 5.7}]  # 4000 / 690
    # a higher stack level on the connector itself, in A
    raw = profile(rig, 2, "TxDefaultProfile", 8, level=1)
    (raw["chargingSchedule"] if rig.v16 else raw["chargingSchedule"][0])["chargingRateUnit"] = "A"
    assert await set_profile(rig, 1, raw) == {"status": "Accepted"}
    await power_seen(rig, 5520)  # 8 A x 230 V x 3 phases
    clear = {"id": 2} if rig.v16 else {"chargingProfileId": 2}
    assert await rig.csms.send("ClearChargingProfile", clear) == {"status": "Accepted"}
    await power_seen(rig, 4000)
    assert await rig.csms.send("ClearChargingProfile", {}) == {"status": "Accepted"}
    await power_seen(rig, 11_000)
    assert await rig.csms.send("ClearChargingProfile", clear) == {"status": "Unknown"}
    assert any("SetChargingProfile 1 (TxDefaultProfile" in line for line in rig.lines)


async def test_the_station_max_is_shared_by_charging_connectors(make_rig: RigFactory) -> None:
    rig = await make_rig(power_kw=11)
    answer = await set_profile(rig, 0, profile(rig, 1, "ChargingStationMaxProfile", 6000))
    assert answer == {"status": "Accepted"}
    await start(rig, 1)
    await start(rig, 2)
    assert rig.station.charging.limits() == {1: 3000, 2: 3000}
    assert rig.station.connectors[0].power_w == 3000
    assert await composite(rig, 0) == [{"startPeriod": 0, "limit": 6000}]
    on_connector = await set_profile(rig, 1, profile(rig, 1, "ChargingStationMaxProfile", 6000))
    assert on_connector["status"] == "Rejected"  # a max profile is for the whole station


async def test_a_tx_profile_needs_its_transaction_and_ends_with_it(make_rig: RigFactory) -> None:
    rig = await make_rig(power_kw=11)
    extra = {} if rig.v16 else {"transactionId": "nope"}
    refused = await set_profile(rig, 1, profile(rig, 1, "TxProfile", 2000, **extra))
    assert refused["status"] == "Rejected"
    if not rig.v16:
        assert refused["statusInfo"]["reasonCode"] == "TxNotFound"
    transaction_id = await start(rig)
    wrong = {"transactionId": 999} if rig.v16 else {"transactionId": "nope"}
    assert (await set_profile(rig, 1, profile(rig, 1, "TxProfile", 2000, **wrong)))[
        "status"
    ] == "Rejected"
    right = {"transactionId": int(transaction_id)} if rig.v16 else {"transactionId": transaction_id}
    assert await set_profile(rig, 1, profile(rig, 1, "TxProfile", 2000, **right)) == {
        "status": "Accepted"
    }
    await power_seen(rig, 2000)
    assert len(rig.station.charging.profiles) == 1
    await rig.station.stop_transaction(1)
    assert rig.station.charging.profiles == []  # a TxProfile ends with its transaction
    assert await composite(rig, 1) == [{"startPeriod": 0, "limit": 11_000}]


async def test_invalid_profiles_are_rejected(make_rig: RigFactory) -> None:
    rig = await make_rig()
    bad_order = profile(rig, 1, "TxDefaultProfile", 2000)
    periods = (bad_order["chargingSchedule"] if rig.v16 else bad_order["chargingSchedule"][0])[
        "chargingSchedulePeriod"
    ]
    periods.append({"startPeriod": 0, "limit": 1000})
    assert (await set_profile(rig, 0, bad_order))["status"] == "Rejected"
    assert (await set_profile(rig, 9, profile(rig, 2, "TxDefaultProfile", 2000)))[
        "status"
    ] == "Rejected"
    too_high = profile(rig, 3, "TxDefaultProfile", 2000, level=9)
    assert (await set_profile(rig, 0, too_high))["status"] == "Rejected"
    assert rig.station.charging.profiles == []
    assert any("rejected: periods must be in increasing order" in line for line in rig.lines)


async def test_same_stack_level_replaces_in_1_6_and_is_rejected_in_2_x(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig()
    assert await set_profile(rig, 0, profile(rig, 1, "TxDefaultProfile", 2000)) == {
        "status": "Accepted"
    }
    second = await set_profile(rig, 0, profile(rig, 2, "TxDefaultProfile", 3000))
    ids = [p.id for p in rig.station.charging.profiles]
    if rig.v16:
        assert second == {"status": "Accepted"} and ids == [2]
    else:
        assert second["status"] == "Rejected" and ids == [1]
        external = profile(rig, 3, "ChargingStationExternalConstraints", 1000)
        assert (await set_profile(rig, 0, external))["status"] == "Rejected"


async def test_get_charging_profiles_reports_them(make_rig: RigFactory) -> None:
    rig = await make_rig()
    if rig.v16:
        return  # 2.x only: 1.6 has no GetChargingProfiles
    rig.csms.answers["ReportChargingProfiles"] = lambda p: {}
    await set_profile(rig, 0, profile(rig, 1, "TxDefaultProfile", 2000))
    await set_profile(rig, 2, profile(rig, 2, "TxDefaultProfile", 3000))
    await set_profile(rig, 0, profile(rig, 3, "ChargingStationMaxProfile", 9000))
    answer = await rig.csms.send("GetChargingProfiles", {"requestId": 5, "chargingProfile": {}})
    assert answer == {"status": "Accepted"}
    reports = [await rig.csms.next("ReportChargingProfiles") for _ in range(2)]
    assert [(r["evseId"], [p["id"] for p in r["chargingProfile"]]) for r in reports] == [
        (0, [1, 3]),
        (2, [2]),
    ]
    assert reports[0]["tbc"] is True and "tbc" not in reports[1]
    assert all(r["requestId"] == 5 and r["chargingLimitSource"] == "CSO" for r in reports)
    only = {
        "requestId": 6,
        "evseId": 2,
        "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"},
    }
    assert await rig.csms.send("GetChargingProfiles", only) == {"status": "Accepted"}
    assert [
        p["id"] for p in (await rig.csms.next("ReportChargingProfiles"))["chargingProfile"]
    ] == [2]
    none = {"requestId": 7, "chargingProfile": {"stackLevel": 5}}
    assert await rig.csms.send("GetChargingProfiles", none) == {"status": "NoProfiles"}


async def test_external_constraints_set_from_python(make_rig: RigFactory) -> None:
    rig = await make_rig(power_kw=11)
    if rig.v16:
        return  # 2.x only: 1.6 has no ChargingStationExternalConstraints
    rig.csms.answers["ReportChargingProfiles"] = lambda p: {}
    await start(rig)
    external = {
        "id": -1,
        "stackLevel": 0,
        "chargingProfileKind": "Relative",
        "chargingSchedule": [schedule(5000, id=1)],
    }
    rig.station.charging.set_external(external)
    await power_seen(rig, 5000)
    assert await rig.csms.send("ClearChargingProfile", {}) == {
        "status": "Unknown"
    }  # not the CSMS's
    assert rig.station.connectors[0].power_w == 5000
    wanted = {"requestId": 1, "chargingProfile": {"chargingLimitSource": ["EMS"]}}
    assert await rig.csms.send("GetChargingProfiles", wanted) == {"status": "Accepted"}
    report = await rig.csms.next("ReportChargingProfiles")
    assert report["chargingLimitSource"] == "EMS" and report["chargingProfile"][0]["id"] == -1
    with pytest.raises(ProfileError, match="start at 0"):
        rig.station.charging.set_external(
            {
                **external,
                "chargingSchedule": [
                    {
                        "id": 1,
                        "chargingRateUnit": "W",
                        "chargingSchedulePeriod": [{"startPeriod": 5, "limit": 1}],
                    }
                ],
            }
        )


async def test_the_hardware_limit_follows_the_station_settings(make_rig: RigFactory) -> None:
    rig = await make_rig(power_kw=11)
    assert await composite(rig, 1) == [{"startPeriod": 0, "limit": 11_000}]
    rig.station.config.power_kw, rig.station.config.phases = 7.4, 1
    assert await composite(rig, 1) == [{"startPeriod": 0, "limit": 7400}]
    assert await composite(rig, 1, "A") == [{"startPeriod": 0, "limit": 32.1}]  # 7400 / 230


async def test_a_zero_limit_suspends_charging_on_the_station_side(make_rig: RigFactory) -> None:
    rig = await make_rig(power_kw=11)
    await start(rig)
    assert await set_profile(rig, 0, profile(rig, 1, "TxDefaultProfile", 0)) == {
        "status": "Accepted"
    }
    if rig.v16:
        await rig.status(1, "SuspendedEVSE")
    else:
        event = await rig.csms.until(
            "TransactionEvent", lambda p: p["triggerReason"] == "ChargingStateChanged"
        )
        assert event["transactionInfo"]["chargingState"] == "SuspendedEVSE"
    await power_seen(rig, 0)
    assert rig.station.connectors[0].status.value == "SuspendedEVSE"
    assert await rig.csms.send("ClearChargingProfile", {}) == {"status": "Accepted"}
    if rig.v16:
        await rig.status(1, "Charging")
    else:
        event = await rig.csms.until(
            "TransactionEvent", lambda p: p["triggerReason"] == "ChargingStateChanged"
        )
        assert event["transactionInfo"]["chargingState"] == "Charging"
    await power_seen(rig, 11_000)


async def test_limit_source_names_what_sets_the_limit(make_rig: RigFactory) -> None:
    """For a console: the limit as limit_w tells it, and the source that sets it."""
    rig = await make_rig(power_kw=11)
    charging = rig.station.charging
    assert charging.limit_source(1) == (11_000, "Hardware")
    assert await set_profile(rig, 0, profile(rig, 1, "ChargingStationMaxProfile", 8000)) == {
        "status": "Accepted"
    }
    transaction_id = await start(rig, 1)
    await start(rig, 2)
    assert charging.limit_source(1) == (4000, "StationMax")  # its share of 8 kW
    assert await set_profile(rig, 0, profile(rig, 2, "TxDefaultProfile", 3000)) == {
        "status": "Accepted"
    }
    assert charging.limit_source(2) == (3000, "TxDefaultProfile")
    right = {"transactionId": int(transaction_id)} if rig.v16 else {"transactionId": transaction_id}
    assert await set_profile(rig, 1, profile(rig, 3, "TxProfile", 3500, **right)) == {
        "status": "Accepted"
    }
    assert charging.limit_source(1) == (3500, "TxProfile")  # overrides the TxDefault
    for connector in (1, 2):
        assert charging.limit_source(connector)[0] == charging.limit_w(connector)
