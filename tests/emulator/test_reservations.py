"""Reservations driven by a CSMS: Reserved status, other idTags refused, used by the
right one (or its group), cancelled, expired (every version, the strict test CSMS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .conftest import Payload, Rig, RigFactory


def _at(seconds: float) -> str:
    when = datetime.now(UTC) + timedelta(seconds=seconds)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def reserve(
    rig: Rig, rid: int, connector: int, tag: str, seconds: float = 600, group: str | None = None
) -> Payload:
    if rig.v16:
        payload: Payload = {
            "connectorId": connector,
            "expiryDate": _at(seconds),
            "idTag": tag,
            "reservationId": rid,
        }
        if group:
            payload["parentIdTag"] = group
        return await rig.csms.send("ReserveNow", payload)
    payload = {
        "id": rid,
        "expiryDateTime": _at(seconds),
        "idToken": {"idToken": tag, "type": "ISO14443"},
    }
    if connector:
        payload["evseId"] = connector
    if group:
        payload["groupIdToken"] = {"idToken": group, "type": "Central"}
    return await rig.csms.send("ReserveNow", payload)


async def test_a_reserved_connector_refuses_others_and_serves_its_tag(make_rig: RigFactory) -> None:
    rig = await make_rig()
    assert await reserve(rig, 7, 1, "MINE") == {"status": "Accepted"}
    await rig.status(1, "Reserved")
    assert rig.station.reservations.by_id[7].id_tag == "MINE"
    assert not await rig.station.start_transaction(1, "OTHER")
    assert any("reserved for MINE" in line for line in rig.lines)
    assert await reserve(rig, 8, 1, "SOMEONE") == {"status": "Occupied"}  # held by 7
    assert await rig.station.start_transaction(1, "MINE")
    if rig.v16:
        start = await rig.csms.next("StartTransaction")
    else:
        start = await rig.csms.until("TransactionEvent", lambda p: p["eventType"] == "Started")
    assert start["reservationId"] == 7
    assert rig.station.reservations.by_id == {}
    assert await reserve(rig, 9, 1, "MINE") == {"status": "Occupied"}  # charging
    cancel = await rig.csms.send("CancelReservation", {"reservationId": 7})
    assert cancel == {"status": "Rejected"}  # used up


async def test_cancel_frees_the_connector(make_rig: RigFactory) -> None:
    rig = await make_rig()
    assert await reserve(rig, 1, 2, "MINE") == {"status": "Accepted"}
    await rig.status(2, "Reserved")
    assert await rig.csms.send("CancelReservation", {"reservationId": 1}) == {"status": "Accepted"}
    await rig.status(2, "Available")
    assert await rig.station.start_transaction(2, "OTHER")


async def test_expiry_frees_the_connector(make_rig: RigFactory) -> None:
    rig = await make_rig()
    if not rig.v16:
        rig.csms.answers["ReservationStatusUpdate"] = lambda p: {}
    assert await reserve(rig, 3, 1, "MINE", seconds=0.3) == {"status": "Accepted"}
    await rig.status(1, "Reserved")
    await rig.status(1, "Available")
    assert rig.station.reservations.by_id == {}
    if not rig.v16:
        update = await rig.csms.next("ReservationStatusUpdate")
        assert update == {"reservationId": 3, "reservationUpdateStatus": "Expired"}
    assert any("Reservation 3 expired" in line for line in rig.lines)


async def test_the_group_of_the_reserved_tag_may_use_it(make_rig: RigFactory) -> None:
    rig = await make_rig()
    if rig.v16:
        rig.csms.answers["Authorize"] = lambda p: {
            "idTagInfo": {"status": "Accepted", "parentIdTag": "FLEET"}
        }
    else:
        rig.csms.answers["Authorize"] = lambda p: {
            "idTokenInfo": {
                "status": "Accepted",
                "groupIdToken": {"idToken": "FLEET", "type": "Central"},
            }
        }
    assert await reserve(rig, 4, 1, "DRIVER-A", group="FLEET") == {"status": "Accepted"}
    assert await rig.station.start_transaction(1, "DRIVER-B")  # same group
    assert rig.station.reservations.by_id == {}


async def test_refusals(make_rig: RigFactory) -> None:
    rig = await make_rig()
    assert await reserve(rig, 1, 9, "MINE") == {"status": "Rejected"}  # no such connector
    assert await reserve(rig, 1, 1, "MINE", seconds=-10) == {"status": "Rejected"}  # expired
    await rig.station.set_fault(1, True)
    assert await reserve(rig, 1, 1, "MINE") == {"status": "Faulted"}
    await rig.station.plug(2)
    assert await reserve(rig, 1, 2, "MINE") == {"status": "Occupied"}
    assert await reserve(rig, 1, 0, "MINE") == {"status": "Occupied"}  # none free
    await rig.station.set_fault(1, False)
    assert await reserve(rig, 1, 0, "MINE") == {"status": "Accepted"}  # any: the first free
    assert rig.station.connectors[0].reservation_id == 1
    assert await reserve(rig, 1, 0, "MINE") == {"status": "Accepted"}  # same id: replaced
    assert list(rig.station.reservations.by_id) == [1]
