"""The OCPP-J version table: subprotocol names, message types, known actions and
which way each action goes."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = [
    "BOTH_WAYS",
    "OCPP16",
    "OCPP21",
    "OCPP201",
    "STATION_ONLY",
    "SUPPORTED_PROTOCOLS",
    "MessageType",
    "UnknownTypePolicy",
    "Version",
    "csms_actions",
    "known_actions",
    "station_actions",
    "version_of",
]

OCPP16 = "ocpp1.6"
OCPP201 = "ocpp2.0.1"
OCPP21 = "ocpp2.1"
SUPPORTED_PROTOCOLS: tuple[str, ...] = (OCPP16, OCPP201, OCPP21)


class MessageType(enum.IntEnum):
    """Message type numbers of the OCPP-J RPC framework."""

    CALL = 2
    CALLRESULT = 3
    CALLERROR = 4
    CALLRESULTERROR = 5  # OCPP 2.1
    SEND = 6  # OCPP 2.1


class UnknownTypePolicy(enum.Enum):
    """What a version does with a message type number it does not know."""

    REPLY_GENERIC_ERROR = "GenericError"  # 1.6: the only code that fits
    REPLY_NOT_SUPPORTED = "MessageTypeNotSupported"  # 2.0.1, section 4.4
    IGNORE = "ignore"  # 2.1, section 4.1.3: ignore the payload


@dataclass(frozen=True, slots=True)
class Version:
    """What differs between OCPP-J versions at the RPC layer."""

    name: str
    message_types: frozenset[int]
    unknown_type_policy: UnknownTypePolicy

    @property
    def known_actions(self) -> frozenset[str]:
        return known_actions(self.name)


_BASE_TYPES = frozenset({MessageType.CALL, MessageType.CALLRESULT, MessageType.CALLERROR})

_VERSIONS = {
    OCPP16: Version(OCPP16, _BASE_TYPES, UnknownTypePolicy.REPLY_GENERIC_ERROR),
    OCPP201: Version(OCPP201, _BASE_TYPES, UnknownTypePolicy.REPLY_NOT_SUPPORTED),
    OCPP21: Version(
        OCPP21,
        _BASE_TYPES | {MessageType.CALLRESULTERROR, MessageType.SEND},
        UnknownTypePolicy.IGNORE,
    ),
}


def version_of(protocol: str | None) -> Version:
    """The version rules for ``protocol``; a subprotocol we have no table for gets
    2.0.1's framing rules and no known actions."""
    found = _VERSIONS.get(protocol or "")
    if found is not None:
        return found
    return Version(protocol or "", _BASE_TYPES, UnknownTypePolicy.REPLY_NOT_SUPPORTED)


@cache
def known_actions(protocol: str) -> frozenset[str]:
    """The actions of ``protocol``, read from the names of its shipped request schemas."""
    if protocol not in _VERSIONS:
        return frozenset()
    folder = resources.files("browser_ocpp.rpc") / "schemas" / protocol
    suffix = "Request.json"
    return frozenset(
        entry.name[: -len(suffix)] for entry in folder.iterdir() if entry.name.endswith(suffix)
    )


BOTH_WAYS = frozenset({"DataTransfer"})
"""Actions either side may send."""

STATION_ONLY = frozenset(
    {
        # OCPP 1.6 (and its security whitepaper)
        "Authorize",
        "BootNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "LogStatusNotification",
        "MeterValues",
        "SecurityEventNotification",
        "SignCertificate",
        "SignedFirmwareStatusNotification",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
        # OCPP 2.0.1
        "ClearedChargingLimit",
        "Get15118EVCertificate",
        "GetCertificateStatus",
        "NotifyChargingLimit",
        "NotifyCustomerInformation",
        "NotifyDisplayMessages",
        "NotifyEVChargingNeeds",
        "NotifyEVChargingSchedule",
        "NotifyEvent",
        "NotifyMonitoringReport",
        "NotifyReport",
        "PublishFirmwareStatusNotification",
        "ReportChargingProfiles",
        "ReservationStatusUpdate",
        "TransactionEvent",
        # OCPP 2.1
        "BatterySwap",
        "ClosePeriodicEventStream",
        "GetCertificateChainStatus",
        "NotifyDERAlarm",
        "NotifyDERStartStop",
        "NotifyPeriodicEventStream",
        "NotifyPriorityCharging",
        "NotifySettlement",
        "OpenPeriodicEventStream",
        "PullDynamicScheduleUpdate",
        "ReportDERControl",
        "VatNumberValidation",
    }
)
"""Every action only a charging station sends, in any version (an action keeps its
direction across versions; the schemas name the actions but not who sends them)."""


@cache
def station_actions(protocol: str) -> frozenset[str]:
    """The actions of ``protocol`` a charging station sends (DataTransfer included)."""
    return known_actions(protocol) & (STATION_ONLY | BOTH_WAYS)


@cache
def csms_actions(protocol: str) -> frozenset[str]:
    """The actions of ``protocol`` a CSMS sends (DataTransfer included)."""
    return known_actions(protocol) - STATION_ONLY
