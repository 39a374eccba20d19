"""The operator view's command list: per OCPP version, the CSMS-to-station actions,
each with a payload to start from (sensible values for the common ones, the
schema's required fields for the rest)."""

from __future__ import annotations

from typing import Any

from ..rpc.skeleton import skeleton
from ..rpc.versions import OCPP16, OCPP21, OCPP201, SUPPORTED_PROTOCOLS, known_actions

__all__ = ["STATION_CALLS", "catalogue", "commands"]

_STATION_CALLS_2 = frozenset(
    {
        "Authorize",
        "BootNotification",
        "ClearedChargingLimit",
        "FirmwareStatusNotification",
        "Get15118EVCertificate",
        "GetCertificateStatus",
        "Heartbeat",
        "LogStatusNotification",
        "MeterValues",
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
        "SecurityEventNotification",
        "SignCertificate",
        "StatusNotification",
        "TransactionEvent",
    }
)
STATION_CALLS: dict[str, frozenset[str]] = {
    OCPP16: frozenset(
        {
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
        }
    ),
    OCPP201: _STATION_CALLS_2,
    OCPP21: _STATION_CALLS_2
    | {
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
    },
}
"""Per version, the calls only a station makes (DataTransfer goes both ways): every
other action of the version is a command the operator may send."""

_HEARTBEAT_VARIABLE = {
    "component": {"name": "OCPPCommCtrlr"},
    "variable": {"name": "HeartbeatInterval"},
}
_TAG = "TAG-0001"

_TEMPLATES_16: dict[str, dict[str, Any]] = {
    "Reset": {"type": "Soft"},
    "RemoteStartTransaction": {"connectorId": 1, "idTag": _TAG},
    "RemoteStopTransaction": {"transactionId": 1},
    "GetConfiguration": {},
    "ChangeConfiguration": {"key": "HeartbeatInterval", "value": "30"},
    "ChangeAvailability": {"connectorId": 0, "type": "Inoperative"},
    "TriggerMessage": {"requestedMessage": "StatusNotification", "connectorId": 1},
    "UnlockConnector": {"connectorId": 1},
    "ClearCache": {},
    "DataTransfer": {"vendorId": "ACME", "messageId": "hello", "data": "hello"},
    "GetLocalListVersion": {},
    "SendLocalList": {
        "listVersion": 1,
        "updateType": "Full",
        "localAuthorizationList": [{"idTag": _TAG, "idTagInfo": {"status": "Accepted"}}],
    },
    "ReserveNow": {
        "connectorId": 1,
        "expiryDate": "2030-01-01T00:00:00Z",
        "idTag": _TAG,
        "reservationId": 1,
    },
    "CancelReservation": {"reservationId": 1},
    "GetCompositeSchedule": {"connectorId": 1, "duration": 3600, "chargingRateUnit": "W"},
}
_TEMPLATES_2: dict[str, dict[str, Any]] = {
    "Reset": {"type": "Immediate"},
    "RequestStartTransaction": {
        "evseId": 1,
        "remoteStartId": 1,
        "idToken": {"idToken": _TAG, "type": "Central"},
    },
    "RequestStopTransaction": {"transactionId": ""},
    "GetVariables": {"getVariableData": [_HEARTBEAT_VARIABLE]},
    "SetVariables": {"setVariableData": [{**_HEARTBEAT_VARIABLE, "attributeValue": "30"}]},
    "ChangeAvailability": {"operationalStatus": "Inoperative"},
    "TriggerMessage": {
        "requestedMessage": "StatusNotification",
        "evse": {"id": 1, "connectorId": 1},
    },
    "UnlockConnector": {"evseId": 1, "connectorId": 1},
    "ClearCache": {},
    "DataTransfer": {"vendorId": "ACME", "messageId": "hello", "data": "hello"},
    "GetBaseReport": {"requestId": 1, "reportBase": "FullInventory"},
    "GetTransactionStatus": {},
    "GetLocalListVersion": {},
    "CancelReservation": {"reservationId": 1},
    "GetCompositeSchedule": {"evseId": 1, "duration": 3600, "chargingRateUnit": "W"},
}
_COMMON = (
    "Reset",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "RequestStartTransaction",
    "RequestStopTransaction",
    "ChangeAvailability",
    "GetConfiguration",
    "ChangeConfiguration",
    "GetVariables",
    "SetVariables",
    "TriggerMessage",
    "UnlockConnector",
    "ClearCache",
    "DataTransfer",
)
"""The commands the console's station acts on, listed first in this order."""


def commands(protocol: str) -> list[dict[str, Any]]:
    """The CSMS-to-station commands of ``protocol``: the common ones first, then the
    rest by name, each ``{"action", "template", "common"}``."""
    templates = _TEMPLATES_16 if protocol == OCPP16 else _TEMPLATES_2
    actions = known_actions(protocol) - STATION_CALLS.get(protocol, frozenset())
    common = [a for a in _COMMON if a in actions]
    others = sorted(actions - set(common))
    return [
        {
            "action": action,
            "template": templates[action] if action in templates else skeleton(protocol, action),
            "common": action in common,
        }
        for action in common + others
    ]


def catalogue() -> dict[str, list[dict[str, Any]]]:
    """:func:`commands` for every supported version."""
    return {protocol: commands(protocol) for protocol in SUPPORTED_PROTOCOLS}
