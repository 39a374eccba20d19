"""Payloads the station sends, built for the protocol spoken (1.6 or 2.x).

2.0.1 and 2.1 share every shape used here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from ..rpc.versions import OCPP16
from .config import MEASURANDS, StationConfig
from .connectors import Connector, ConnectorStatus, charging_state, v2_status

__all__ = [
    "STOP_REASONS",
    "authorize",
    "boot_notification",
    "id_token",
    "is_accepted",
    "is_v16",
    "meter_values",
    "start_transaction",
    "status_notification",
    "stop_transaction",
    "timestamp",
    "token_of",
    "transaction_event",
]

Payload = dict[str, Any]

STOP_REASONS: dict[str, tuple[str, str, str]] = {
    # reason: (1.6 reason, 2.x stoppedReason, 2.x triggerReason)
    "Local": ("Local", "Local", "StopAuthorized"),
    "Remote": ("Remote", "Remote", "RemoteStop"),
    "EVDisconnected": ("EVDisconnected", "EVDisconnected", "EVDeparted"),
    "DeAuthorized": ("DeAuthorized", "DeAuthorized", "Deauthorized"),
    "SoftReset": ("SoftReset", "ImmediateReset", "ResetCommand"),
    "HardReset": ("HardReset", "ImmediateReset", "ResetCommand"),
    "ImmediateReset": ("HardReset", "ImmediateReset", "ResetCommand"),
    "Reboot": ("Reboot", "Reboot", "ResetCommand"),
    "UnlockCommand": ("UnlockCommand", "Other", "UnlockCommand"),
    "EmergencyStop": ("EmergencyStop", "EmergencyStop", "AbnormalCondition"),
    "PowerLoss": ("PowerLoss", "PowerLoss", "AbnormalCondition"),
    "Other": ("Other", "Other", "AbnormalCondition"),
}
"""Reasons ``stop_transaction`` takes, and how each version spells them."""

_TOKEN_TRIGGERS = ("Authorized", "RemoteStart", "StopAuthorized")
"""TransactionEvents that carry the idToken: the ones an authorization caused."""

_UNITS = {"Energy.Active.Import.Register": "Wh", "Power.Active.Import": "W", "SoC": "Percent"}


def is_v16(protocol: str | None) -> bool:
    return protocol == OCPP16


def timestamp() -> str:
    """Now, UTC, RFC 3339 with milliseconds: ``2024-01-01T00:00:00.000Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def id_token(tag: str) -> Payload:
    """A 2.x idToken for an RFID tag."""
    return {"idToken": tag, "type": "ISO14443"}


def token_of(payload: Payload) -> str | None:
    """The idTag (1.6) or idToken (2.x) a payload carries, if any."""
    tag = payload.get("idTag")
    if isinstance(tag, str):
        return tag
    token = payload.get("idToken")
    if isinstance(token, dict) and isinstance(token.get("idToken"), str):
        return str(token["idToken"])
    return None


def is_accepted(response: Payload) -> bool:
    """Whether an Authorize/StartTransaction/TransactionEvent response accepts the
    token; a response without idTagInfo/idTokenInfo (optional in 2.x) accepts."""
    info = response.get("idTagInfo", response.get("idTokenInfo"))
    return info is None or info.get("status") == "Accepted"


def boot_notification(protocol: str | None, config: StationConfig, reason: str) -> Payload:
    if is_v16(protocol):
        return {
            "chargePointVendor": config.vendor[:20],
            "chargePointModel": config.model[:20],
            "chargePointSerialNumber": config.serial[:25],
            "firmwareVersion": config.firmware[:50],
        }
    return {
        "chargingStation": {
            "vendorName": config.vendor[:50],
            "model": config.model[:20],
            "serialNumber": config.serial[:25],
            "firmwareVersion": config.firmware[:50],
        },
        "reason": reason,
    }


def status_notification(
    protocol: str | None, connector_id: int, status: ConnectorStatus
) -> Payload:
    """StatusNotification of connector ``connector_id`` (1.6 also takes 0, the station)."""
    if is_v16(protocol):
        faulted = status is ConnectorStatus.FAULTED
        payload: Payload = {
            "connectorId": connector_id,
            "errorCode": "OtherError" if faulted else "NoError",
            "status": status.value,
            "timestamp": timestamp(),
        }
        if faulted:
            payload["info"] = "Emulated fault"
        return payload
    return {
        "timestamp": timestamp(),
        "connectorStatus": v2_status(status),
        "evseId": connector_id,
        "connectorId": 1,
    }


def authorize(protocol: str | None, token: Payload) -> Payload:
    if is_v16(protocol):
        return {"idTag": str(token["idToken"])}
    return {"idToken": token}


def _number(value: float) -> str:
    """A decimal text without exponent: ``1234.5``, ``0.153``."""
    text = f"{round(value, 3):.3f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _sample(
    protocol: str | None, connector: Connector, context: str, measurands: Iterable[str]
) -> Payload:
    """One meterValue entry: the wanted measurands this meter can give."""
    readings = {
        "Energy.Active.Import.Register": connector.energy_wh,
        "Power.Active.Import": connector.power_w,
        "SoC": connector.soc,
    }
    wanted = [m for m in measurands if m in MEASURANDS and readings[m] is not None]
    if not wanted:
        wanted = ["Energy.Active.Import.Register"]
    values: list[Payload] = []
    for measurand in wanted:
        reading = float(readings[measurand] or 0.0)
        value: Payload = {"context": context, "measurand": measurand}
        if is_v16(protocol):
            value.update(value=_number(reading), unit=_UNITS[measurand])
        else:
            value.update(value=round(reading, 3), unitOfMeasure={"unit": _UNITS[measurand]})
        if measurand == "SoC":
            value["location"] = "EV"
        values.append(value)
    return {"timestamp": timestamp(), "sampledValue": values}


def meter_values(
    protocol: str | None, connector: Connector, context: str, measurands: Iterable[str]
) -> Payload:
    """MeterValues of a connector (in 1.6, one of a transaction gets its
    ``transactionId`` from the transaction queue when it is sent)."""
    sample = _sample(protocol, connector, context, measurands)
    if is_v16(protocol):
        return {"connectorId": connector.id, "meterValue": [sample]}
    return {"evseId": connector.id, "meterValue": [sample]}


def start_transaction(connector: Connector, id_tag: str) -> Payload:
    """1.6 StartTransaction."""
    return {
        "connectorId": connector.id,
        "idTag": id_tag,
        "meterStart": connector.meter_start_wh,
        "timestamp": timestamp(),
    }


def stop_transaction(connector: Connector, reason: str, measurands: Iterable[str]) -> Payload:
    """1.6 StopTransaction, with the closing meter sample as transactionData (its
    ``transactionId`` is written in by the transaction queue when it is sent)."""
    payload: Payload = {
        "meterStop": int(connector.energy_wh),
        "timestamp": timestamp(),
        "reason": STOP_REASONS[reason][0],
        "transactionData": [_sample(OCPP16, connector, "Transaction.End", measurands)],
    }
    if connector.id_tag is not None:
        payload["idTag"] = connector.id_tag
    return payload


def transaction_event(
    protocol: str | None,
    connector: Connector,
    transaction_id: str,
    event_type: str,
    trigger: str,
    measurands: Iterable[str],
    *,
    context: str | None = None,
    stopped_reason: str | None = None,
    offline: bool = False,
) -> Payload:
    """2.x TransactionEvent; takes the connector's next seqNo.  ``offline``: the event
    happened while the station could not reach the CSMS."""
    info: Payload = {"transactionId": transaction_id, "chargingState": charging_state(connector)}
    if stopped_reason is not None:
        info["stoppedReason"] = stopped_reason
    if event_type == "Started" and connector.remote_start_id is not None:
        info["remoteStartId"] = connector.remote_start_id
    payload: Payload = {
        "eventType": event_type,
        "timestamp": timestamp(),
        "triggerReason": trigger,
        "seqNo": connector.seq_no,
        "transactionInfo": info,
        "evse": {"id": connector.id, "connectorId": 1},
    }
    connector.seq_no += 1
    if offline:
        payload["offline"] = True
    if context is not None:
        payload["meterValue"] = [_sample(protocol, connector, context, measurands)]
    if connector.id_token is not None and trigger in _TOKEN_TRIGGERS:
        payload["idToken"] = connector.id_token
    return payload
