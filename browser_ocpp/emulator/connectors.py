"""Connectors: their state, the status derived from it, and its 2.x spelling."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Connector", "ConnectorStatus", "charging_state", "derive_status", "v2_status"]


class ConnectorStatus(enum.StrEnum):
    """Connector statuses as OCPP 1.6 names them."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    FAULTED = "Faulted"
    UNAVAILABLE = "Unavailable"
    RESERVED = "Reserved"


@dataclass
class Connector:
    """One connector (1-based ``id``); in 2.x it is EVSE ``id``, connector 1.

    ``energy_wh`` is the meter register (it keeps counting across transactions);
    ``meter_start_wh`` is the register when the running transaction began.
    """

    id: int
    status: ConnectorStatus = ConnectorStatus.AVAILABLE
    plugged: bool = False
    transaction_id: str | None = None
    id_tag: str | None = None
    energy_wh: float = 0.0
    power_w: float = 0.0
    soc: float | None = None
    meter_start_wh: int = 0
    # -- emulator state (not part of OCPP's view) --
    operative: bool = True
    """Availability set by ChangeAvailability."""
    pending_operative: bool | None = None
    """Availability scheduled for when the running transaction ends."""
    faulted: bool = False
    ev_suspended: bool = False
    evse_suspended: bool = False
    """The station offers no power: the charging limit is 0 (SuspendedEVSE)."""
    finished: bool = False
    """A transaction ended while the cable stayed plugged (Finishing)."""
    reservation_id: int | None = None
    """The reservation holding the connector (Reserved)."""
    seq_no: int = 0
    """Next 2.x TransactionEvent seqNo of the running transaction."""
    transaction_key: str | None = None
    """The station's own key of the running transaction: in 2.x its transactionId; in
    1.6 it stays when the CSMS's id arrives (``transaction_id`` holds the key until
    then, for a transaction started offline)."""
    remote_start_id: int | None = None
    id_token: dict[str, Any] | None = field(default=None, repr=False)
    """The 2.x idToken object of the running transaction."""
    started_at: float = 0.0
    """Event-loop time the running transaction started."""
    updated_at: float = 0.0
    """Event-loop time energy was last brought up to date."""


def derive_status(connector: Connector) -> ConnectorStatus:
    """The status a connector's state shows."""
    if connector.faulted:
        return ConnectorStatus.FAULTED
    if connector.transaction_id is not None:
        if connector.evse_suspended:
            return ConnectorStatus.SUSPENDED_EVSE
        if connector.ev_suspended:
            return ConnectorStatus.SUSPENDED_EV
        return ConnectorStatus.CHARGING
    if not connector.operative:
        return ConnectorStatus.UNAVAILABLE
    if connector.reservation_id is not None:
        return ConnectorStatus.RESERVED
    if connector.plugged:
        return ConnectorStatus.FINISHING if connector.finished else ConnectorStatus.PREPARING
    return ConnectorStatus.AVAILABLE


_V2_STATUS = {
    ConnectorStatus.AVAILABLE: "Available",
    ConnectorStatus.PREPARING: "Occupied",
    ConnectorStatus.CHARGING: "Occupied",
    ConnectorStatus.SUSPENDED_EV: "Occupied",
    ConnectorStatus.SUSPENDED_EVSE: "Occupied",
    ConnectorStatus.FINISHING: "Occupied",
    ConnectorStatus.FAULTED: "Faulted",
    ConnectorStatus.UNAVAILABLE: "Unavailable",
    ConnectorStatus.RESERVED: "Reserved",
}


def v2_status(status: ConnectorStatus) -> str:
    """The 2.x ``connectorStatus`` (Available/Occupied/Reserved/Unavailable/Faulted)."""
    return _V2_STATUS[status]


def charging_state(connector: Connector) -> str:
    """The 2.x ``chargingState`` of a connector's transaction."""
    if connector.transaction_id is not None and not connector.faulted:
        if connector.evse_suspended:
            return "SuspendedEVSE"
        return "SuspendedEV" if connector.ev_suspended else "Charging"
    return "EVConnected" if connector.plugged else "Idle"
