"""The operator view's command list: per OCPP version, the CSMS-to-station actions,
each with a payload to start from (sensible values for the ones the emulated station
acts on, made when asked for; the schema's required fields for the rest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ..rpc.skeleton import skeleton
from ..rpc.versions import OCPP16, SUPPORTED_PROTOCOLS, csms_actions

__all__ = ["DEFAULT_BASE_URL", "UPLOADS_PATH", "catalogue", "commands"]

_HEARTBEAT_VARIABLE = {
    "component": {"name": "OCPPCommCtrlr"},
    "variable": {"name": "HeartbeatInterval"},
}
_TAG = "TAG-0001"
_OTHER_TAG = "TAG-0002"
_TOKEN = {"idToken": _TAG, "type": "Central"}
DEFAULT_BASE_URL = "http://127.0.0.1:8080"
"""The demo server as the templates name it when not told (its default address)."""
UPLOADS_PATH = "/api/uploads"
RESERVATION_S = 3600
"""A ReserveNow template's reservation ends this long after the template was made."""
_LIMIT = {"startPeriod": 0, "limit": 10.0}
"""10 A from the start of the schedule: 6.9 kW on three phases of 230 V, so it shows on
the emulated station's 11 kW (16 A, 11.04 kW, would change nothing there)."""


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _templates_16(base_url: str, now: datetime) -> dict[str, dict[str, Any]]:
    return {
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
        "SetChargingProfile": {
            "connectorId": 1,
            "csChargingProfiles": {
                "chargingProfileId": 1,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [_LIMIT]},
            },
        },
        "ClearChargingProfile": {"id": 1},
        "GetCompositeSchedule": {"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"},
        "ReserveNow": {
            "connectorId": 1,
            "expiryDate": _time(now + timedelta(seconds=RESERVATION_S)),
            "idTag": _TAG,
            "reservationId": 1,
        },
        "CancelReservation": {"reservationId": 1},
        "SendLocalList": {
            "listVersion": 1,
            "updateType": "Full",
            "localAuthorizationList": [
                {"idTag": _TAG, "idTagInfo": {"status": "Accepted"}},
                {"idTag": _OTHER_TAG, "idTagInfo": {"status": "Blocked"}},
            ],
        },
        "GetLocalListVersion": {},
        "UpdateFirmware": {
            "location": f"{base_url}/firmware/station-firmware.bin",
            "retrieveDate": _time(now),
        },
        "GetDiagnostics": {"location": base_url + UPLOADS_PATH},
    }


def _templates_2(base_url: str, now: datetime) -> dict[str, dict[str, Any]]:
    return {
        "Reset": {"type": "Immediate"},
        "RequestStartTransaction": {"evseId": 1, "remoteStartId": 1, "idToken": _TOKEN},
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
        "SetChargingProfile": {
            "evseId": 1,
            "chargingProfile": {
                "id": 1,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": [
                    {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [_LIMIT]}
                ],
            },
        },
        "ClearChargingProfile": {"chargingProfileId": 1},
        "GetChargingProfiles": {
            "requestId": 1,
            "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"},
        },
        "GetCompositeSchedule": {"evseId": 1, "duration": 3600, "chargingRateUnit": "A"},
        "ReserveNow": {
            "id": 1,
            "expiryDateTime": _time(now + timedelta(seconds=RESERVATION_S)),
            "idToken": _TOKEN,
            "evseId": 1,
        },
        "CancelReservation": {"reservationId": 1},
        "SendLocalList": {
            "versionNumber": 1,
            "updateType": "Full",
            "localAuthorizationList": [
                {"idToken": _TOKEN, "idTokenInfo": {"status": "Accepted"}},
                {
                    "idToken": {"idToken": _OTHER_TAG, "type": "Central"},
                    "idTokenInfo": {"status": "Blocked"},
                },
            ],
        },
        "GetLocalListVersion": {},
        "UpdateFirmware": {
            "requestId": 1,
            "firmware": {
                "location": f"{base_url}/firmware/station-firmware.bin",
                "retrieveDateTime": _time(now),
            },
        },
        "GetLog": {
            "logType": "DiagnosticsLog",
            "requestId": 1,
            "log": {"remoteLocation": base_url + UPLOADS_PATH},
        },
        "SetDisplayMessage": {
            "message": {
                "id": 1,
                "priority": "NormalCycle",
                "message": {"format": "UTF8", "content": "Welcome! Charging at up to 10 A"},
            }
        },
        "GetDisplayMessages": {"requestId": 1},
        "ClearDisplayMessage": {"id": 1},
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
    "SetChargingProfile",
    "ClearChargingProfile",
    "GetChargingProfiles",
    "GetCompositeSchedule",
    "ReserveNow",
    "CancelReservation",
    "SendLocalList",
    "GetLocalListVersion",
    "UpdateFirmware",
    "GetDiagnostics",
    "GetLog",
    "SetDisplayMessage",
    "GetDisplayMessages",
    "ClearDisplayMessage",
)
"""The commands the console's station acts on, listed first in this order."""


def commands(
    protocol: str, base_url: str = DEFAULT_BASE_URL, now: datetime | None = None
) -> list[dict[str, Any]]:
    """The CSMS-to-station commands of ``protocol``: the common ones first, then the
    rest by name, each ``{"action", "template", "common"}``.  The templates are made
    now (``now``: as at that time): a reservation ends an hour later, a firmware is
    retrieved at once; firmware and log locations are on ``base_url``, the demo
    server (logs go to its ``/api/uploads``)."""
    moment = now if now is not None else datetime.now(UTC)
    make = _templates_16 if protocol == OCPP16 else _templates_2
    templates = make(base_url.rstrip("/"), moment)
    actions = csms_actions(protocol)
    common = [a for a in _COMMON if a in actions and a in templates]  # 1.6 GetLog: no
    others = sorted(actions - set(common))
    return [
        {
            "action": action,
            "template": templates[action] if action in templates else skeleton(protocol, action),
            "common": action in common,
        }
        for action in common + others
    ]


def catalogue(base_url: str = DEFAULT_BASE_URL) -> dict[str, list[dict[str, Any]]]:
    """:func:`commands` for every supported version, made now."""
    now = datetime.now(UTC)
    return {protocol: commands(protocol, base_url, now) for protocol in SUPPORTED_PROTOCOLS}
