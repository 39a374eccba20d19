"""Reservations: ReserveNow and CancelReservation (1.6 and 2.x).

A reserved connector shows Reserved, refuses other idTags and is used by the idTag
it was reserved for (or one of its group: the parentIdTag / groupIdToken the CSMS
gave for the presented idTag); the reservation ends when used, cancelled or at its
expiry (2.x then sends ReservationStatusUpdate Expired).  Rules followed: OCPP 1.6
§5.13 (Reserve Now: a reservationId already held is replaced; Occupied, Faulted,
Unavailable, Rejected answers), §5.3 (Cancel Reservation); 2.0.1 Part 2 H01-H04.
A reservation of connector 0 (1.6) or without evseId (2.x) reserves the first
available connector.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..peer.handlers import HandlerContext
from .auth import parse_time
from .connectors import Connector

if TYPE_CHECKING:
    from .station import Station

__all__ = ["V2", "V16", "Reservation", "Reservations"]

Payload = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reservation:
    id: int
    connector_id: int
    id_tag: str
    expires: datetime
    group: str | None = None
    """The parentIdTag (1.6) / groupIdToken (2.x) whose members may use it too."""


class Reservations:
    """The station's reservations (``by_id``), their expiry timers and their use."""

    def __init__(self, station: Station) -> None:
        self._station = station
        self.by_id: dict[int, Reservation] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}

    def of(self, connector: Connector) -> Reservation | None:
        return next((r for r in self.by_id.values() if r.connector_id == connector.id), None)

    def allows(self, reservation: Reservation, tag: str) -> bool:
        """Whether ``tag`` may use ``reservation``: its own idTag, or one whose group
        (as the CSMS said of it) is the reservation's."""
        if tag == reservation.id_tag:
            return True
        known = self._station.auth.lookup(tag, cache=True, local_list=True)
        return (
            reservation.group is not None and known is not None and known.group == reservation.group
        )

    def reserve(
        self, reservation_id: int, wanted: int, tag: str, expires: datetime, group: str | None
    ) -> str:
        """Reserve connector ``wanted`` (0: the first available one); the answer's status."""
        station = self._station
        if expires <= datetime.now(UTC):
            return "Rejected"
        old = self.by_id.get(reservation_id)
        if wanted == 0:
            free = [c for c in station.connectors if self._free(c, old) == "Accepted"]
            if not free:
                return "Occupied" if station.connectors else "Rejected"
            connector = free[0]
        elif 1 <= wanted <= len(station.connectors):
            connector = station.connectors[wanted - 1]
        else:
            return "Rejected"
        status = self._free(connector, old)
        if status != "Accepted":
            return status
        if old is not None:
            self._forget(old)
        reservation = Reservation(reservation_id, connector.id, tag, expires, group)
        self.by_id[reservation_id] = reservation
        connector.reservation_id = reservation_id
        delay = max(0.0, (expires - datetime.now(UTC)).total_seconds())
        loop = asyncio.get_running_loop()
        self._timers[reservation_id] = loop.call_later(delay, self._expire, reservation)
        station._changed()
        until = expires.strftime("%H:%M:%S")
        station.note(
            f"Connector {connector.id} reserved for {tag} until {until} ({reservation_id})"
        )
        return "Accepted"

    def _free(self, connector: Connector, replacing: Reservation | None) -> str:
        if connector.faulted:
            return "Faulted"
        if not connector.operative:
            return "Unavailable"
        held = self.of(connector)
        if connector.transaction_id is not None or connector.plugged:
            return "Occupied"
        if held is not None and (replacing is None or held.id != replacing.id):
            return "Occupied"
        return "Accepted"

    def cancel(self, reservation_id: int) -> bool:
        reservation = self.by_id.get(reservation_id)
        if reservation is None:
            return False
        self._forget(reservation)
        self._station.note(f"Reservation {reservation_id} cancelled")
        return True

    def take(self, connector: Connector, tag: str) -> int | None:
        """``tag`` starts on ``connector``: the reservation it uses (now ended), if any."""
        reservation = self.of(connector)
        if reservation is None or not self.allows(reservation, tag):
            return None
        self._forget(reservation)
        self._station.note(f"Reservation {reservation.id} used by {tag}")
        return reservation.id

    def refusal(self, connector: Connector, tag: str | None) -> str | None:
        """Why ``tag`` may not start on ``connector``: it is reserved for another (not
        checked without a tag)."""
        reservation = self.of(connector)
        if reservation is None or tag is None or self.allows(reservation, tag):
            return None
        return f"the connector is reserved for {reservation.id_tag}"

    def _forget(self, reservation: Reservation) -> None:
        self.by_id.pop(reservation.id, None)
        timer = self._timers.pop(reservation.id, None)
        if timer is not None:
            timer.cancel()
        connector = self._station.connectors[reservation.connector_id - 1]
        if connector.reservation_id == reservation.id:
            connector.reservation_id = None
        self._station._changed()

    def _refresh(self, reservation: Reservation) -> None:
        station = self._station
        station._spawn(station.refresh(station.connectors[reservation.connector_id - 1]))

    def _expire(self, reservation: Reservation) -> None:
        if self.by_id.get(reservation.id) is not reservation:
            return
        station = self._station
        self._forget(reservation)
        station.note(f"Reservation {reservation.id} expired")
        self._refresh(reservation)
        if not station.v16 and station.online:
            update = {"reservationId": reservation.id, "reservationUpdateStatus": "Expired"}
            station._spawn(station._call("ReservationStatusUpdate", update))

    def clear(self) -> None:
        for reservation in list(self.by_id.values()):
            self._forget(reservation)


def _reserve(
    station: Station, ctx: HandlerContext, rid: int, wanted: int, tag: str, when: Any, group: Any
) -> Payload:
    expires = parse_time(when)
    status = (
        "Rejected"
        if expires is None
        else station.reservations.reserve(rid, wanted, tag, expires, group)
    )
    where = f"connector {wanted}" if wanted else "any connector"
    station.note(f"ReserveNow {rid} ({tag}, {where}) requested by CSMS: {status}")
    if status == "Accepted":
        reservation = station.reservations.by_id[rid]
        connector = station.connectors[reservation.connector_id - 1]
        station.after_reply(ctx.message_id, lambda: station.refresh(connector))
    return {"status": status}


def reserve_now_16(station: Station, ctx: HandlerContext) -> Payload:
    p = ctx.params
    return _reserve(
        station,
        ctx,
        p["reservationId"],
        p["connectorId"],
        p["idTag"],
        p["expiryDate"],
        p.get("parentIdTag"),
    )


def reserve_now_2(station: Station, ctx: HandlerContext) -> Payload:
    p = ctx.params
    group = (p.get("groupIdToken") or {}).get("idToken")
    return _reserve(
        station,
        ctx,
        p["id"],
        p.get("evseId") or 0,
        p["idToken"]["idToken"],
        p["expiryDateTime"],
        group,
    )


def cancel_reservation(station: Station, ctx: HandlerContext) -> Payload:
    rid = ctx.params["reservationId"]
    reservation = station.reservations.by_id.get(rid)
    status = "Accepted" if station.reservations.cancel(rid) else "Rejected"
    if reservation is not None:
        connector = station.connectors[reservation.connector_id - 1]
        station.after_reply(ctx.message_id, lambda: station.refresh(connector))
    station.note(f"CancelReservation {rid} requested by CSMS: {status}")
    return {"status": status}


V16 = {"ReserveNow": reserve_now_16, "CancelReservation": cancel_reservation}
V2 = {"ReserveNow": reserve_now_2, "CancelReservation": cancel_reservation}
