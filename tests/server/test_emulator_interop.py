"""The station driven by another CSMS, the ``ocpp`` package's central system (1.6 and
2.0.1, see their_csms.py): smart charging and reservations.  What the station answers
and sends is valid to a CSMS we did not write.  (Here, not in tests/emulator, which
also runs under Pyodide: this needs sockets, websockets and that package.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from .their_csms import Connect, Kwargs


def _power(samples: list[Kwargs]) -> float | None:
    for value in samples[0]["sampled_value"]:
        if value.get("measurand") == "Power.Active.Import":
            return float(value["value"])
    return None


async def test_smart_charging_from_their_1_6_central_system(their_csms: Connect) -> None:
    central, station = await their_csms("ocpp1.6", power_kw=11)
    assert await station.start_transaction(1, "TAG-1")
    await central.until("StartTransaction", lambda kw: True)
    schedule = {
        "charging_rate_unit": "A",
        "charging_schedule_period": [{"start_period": 0, "limit": 10}],
    }
    profile = {
        "charging_profile_id": 1,
        "stack_level": 0,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Relative",
        "transaction_id": 77,
        "charging_schedule": schedule,
    }
    answer = await central.call(
        call16.SetChargingProfile(connector_id=1, cs_charging_profiles=profile)
    )
    assert answer.status == "Accepted"
    await central.until("MeterValues", lambda kw: _power(kw["meter_value"]) == 6900)  # 10 A x 690 V
    composite = await central.call(
        call16.GetCompositeSchedule(connector_id=1, duration=300, charging_rate_unit="A")
    )
    assert composite.status == "Accepted" and composite.connector_id == 1
    assert composite.charging_schedule["charging_schedule_period"] == [
        {"start_period": 0, "limit": 10.0}
    ]
    cleared = await central.call(call16.ClearChargingProfile(id=1))
    assert cleared.status == "Accepted"
    await central.until("MeterValues", lambda kw: _power(kw["meter_value"]) == 11_000)
    profile["transaction_id"] = 78
    answer = await central.call(
        call16.SetChargingProfile(connector_id=1, cs_charging_profiles=profile)
    )
    assert answer.status == "Rejected"  # not the running transaction


async def test_smart_charging_from_their_2_0_1_csms(their_csms: Connect) -> None:
    central, station = await their_csms("ocpp2.0.1", power_kw=11)
    assert await station.start_transaction(1, "TAG-1")
    transaction_id = station.connectors[0].transaction_id
    profile = {
        "id": 4,
        "stack_level": 1,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Relative",
        "transaction_id": transaction_id,
        "charging_schedule": [
            {
                "id": 1,
                "charging_rate_unit": "W",
                "charging_schedule_period": [{"start_period": 0, "limit": 3000}],
            }
        ],
    }
    answer = await central.call(call201.SetChargingProfile(evse_id=1, charging_profile=profile))
    assert answer.status == "Accepted"
    await central.until(
        "TransactionEvent", lambda kw: "meter_value" in kw and _power(kw["meter_value"]) == 3000
    )
    composite = await central.call(
        call201.GetCompositeSchedule(duration=60, evse_id=1, charging_rate_unit="W")
    )
    assert composite.status == "Accepted"
    assert composite.schedule["charging_schedule_period"] == [{"start_period": 0, "limit": 3000}]
    found = await central.call(
        call201.GetChargingProfiles(request_id=3, charging_profile={"stack_level": 1})
    )
    assert found.status == "Accepted"
    report = await central.until("ReportChargingProfiles", lambda kw: True)
    assert report["request_id"] == 3 and report["charging_profile"][0]["id"] == 4
    cleared = await central.call(
        call201.ClearChargingProfile(
            charging_profile_criteria={"charging_profile_purpose": "TxProfile"}
        )
    )
    assert cleared.status == "Accepted"
    await central.until(
        "TransactionEvent", lambda kw: "meter_value" in kw and _power(kw["meter_value"]) == 11_000
    )


def _in(seconds: float) -> str:
    when = datetime.now(UTC) + timedelta(seconds=seconds)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def test_reservations_from_their_1_6_central_system(their_csms: Connect) -> None:
    central, station = await their_csms("ocpp1.6")
    answer = await central.call(
        call16.ReserveNow(connector_id=2, expiry_date=_in(600), id_tag="MINE", reservation_id=5)
    )
    assert answer.status == "Accepted"
    await central.until("StatusNotification", lambda kw: kw["status"] == "Reserved")
    assert not await station.start_transaction(2, "OTHER")
    assert await station.start_transaction(2, "MINE")
    start = await central.until("StartTransaction", lambda kw: True)
    assert start["reservation_id"] == 5
    short = call16.ReserveNow(connector_id=1, expiry_date=_in(0.3), id_tag="MINE", reservation_id=6)
    assert (await central.call(short)).status == "Accepted"
    await central.until("StatusNotification", lambda kw: kw["status"] == "Reserved")
    await central.until(
        "StatusNotification", lambda kw: kw == {**kw, "connector_id": 1, "status": "Available"}
    )
    assert (await central.call(call16.CancelReservation(reservation_id=6))).status == "Rejected"


async def test_reservations_from_their_2_0_1_csms(their_csms: Connect) -> None:
    central, station = await their_csms("ocpp2.0.1")
    token = {"id_token": "MINE", "type": "ISO14443"}
    answer = await central.call(
        call201.ReserveNow(id=5, expiry_date_time=_in(600), id_token=token, evse_id=1)
    )
    assert answer.status == "Accepted"
    await central.until("StatusNotification", lambda kw: kw["connector_status"] == "Reserved")
    assert (await central.call(call201.CancelReservation(reservation_id=5))).status == "Accepted"
    assert station.reservations.by_id == {}
    await central.until("StatusNotification", lambda kw: kw["connector_status"] == "Available")
    short = call201.ReserveNow(id=6, expiry_date_time=_in(0.3), id_token=token)
    assert (await central.call(short)).status == "Accepted"
    update = await central.until("ReservationStatusUpdate", lambda kw: True)
    assert update == {"reservation_id": 6, "reservation_update_status": "Expired"}
