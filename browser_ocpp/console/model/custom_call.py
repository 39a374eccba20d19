"""The custom call without the DOM: which actions to offer and how, templates, and
what to say about a payload before it goes out.

A station sends station-to-CSMS actions; the others are what a CSMS sends, offered
only for raw frames (to see how a CSMS copes with a command the wrong way round).
With strict validation on, a payload the schema refuses is not sent; with it off it
is sent as written and the violation is only reported.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from ...rpc.errors import RPCError
from ...rpc.skeleton import skeleton
from ...rpc.validation import validator_for
from ...rpc.versions import known_actions, station_actions
from .json_text import error_line

__all__ = [
    "COMMON_STATION_ACTIONS",
    "ActionGroup",
    "Checked",
    "Problem",
    "action_groups",
    "check_payload",
    "raw_template",
    "template",
]

# Actions a station sends on its own, offered first in the list.
COMMON_STATION_ACTIONS = (
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "Authorize",
    "StartTransaction",
    "StopTransaction",
    "TransactionEvent",
    "MeterValues",
    "DataTransfer",
    "NotifyEvent",
    "NotifyReport",
    "SecurityEventNotification",
    "FirmwareStatusNotification",
    "DiagnosticsStatusNotification",
    "LogStatusNotification",
    "SignCertificate",
)


@dataclass(frozen=True)
class ActionGroup:
    label: str
    actions: tuple[str, ...]
    raw_only: bool  # what a CSMS sends: only as a raw frame


def action_groups(protocol: str) -> list[ActionGroup]:
    """Station-to-CSMS actions first (the common ones leading), then the CSMS's."""
    names = sorted(known_actions(protocol))
    sent = station_actions(protocol)
    common = [name for name in COMMON_STATION_ACTIONS if name in sent]
    station = common + [n for n in names if n in sent and n not in common]
    csms = [n for n in names if n not in sent]
    groups = [ActionGroup("Station → CSMS", tuple(station), raw_only=False)]
    if csms:
        label = "CSMS → station (what a CSMS sends: raw frame only)"
        groups.append(ActionGroup(label, tuple(csms), raw_only=True))
    return groups


# -- templates ------------------------------------------------------------------------

# The first of these an enum allows is taken (else the schema's first value).
_PREFERRED = (
    "PowerUp",
    "Available",
    "NoError",
    "Accepted",
    "Operative",
    "Started",
    "Authorized",
    "ISO14443",
    "Energy.Active.Import.Register",
    "Sample.Periodic",
    "Installed",
    "Uploaded",
    "Idle",
    "Wh",
)
_BY_NAME: dict[str, Any] = {
    "connectorId": 1,
    "evseId": 1,
    "transactionId": 1,
    "idTag": "TAG-0001",
    "idToken": "TAG-0001",
    "chargePointVendor": "BrowserOCPP",
    "chargePointModel": "Emulator",
    "vendorName": "BrowserOCPP",
    "model": "Emulator",
    "vendorId": "BrowserOCPP",
    "type": "StartupOfTheDevice",  # SecurityEventNotification's free-text type
}


def _choose(name: str, schema: dict[str, Any], placeholder: Any) -> Any:
    enum = schema.get("enum")
    if isinstance(enum, list):
        return next((value for value in _PREFERRED if value in enum), placeholder)
    wanted = _BY_NAME.get(name)
    if name == "id" and schema.get("type") == "integer":
        wanted = 1  # an EVSE's id
    if name == "transactionId" and schema.get("type") == "string":
        wanted = "TX-0001"
    if wanted is None or type(wanted) is not type(placeholder):
        return placeholder
    if isinstance(wanted, str) and len(wanted) > schema.get("maxLength", len(wanted)):
        return placeholder
    return wanted


def template(protocol: str, action: str) -> dict[str, Any]:
    """A valid, realistic payload: every required field, connector and EVSE 1, a
    plausible enum value; any choice the schema refuses falls back to the skeleton's."""
    payload = skeleton(protocol, action, choose=_choose)
    validator = validator_for(protocol)
    if validator is not None and validator.has_schema(action, "request"):
        try:
            validator.validate_request(action, payload)
        except RPCError:
            return skeleton(protocol, action)
    return payload


def raw_template(action: str, payload: dict[str, Any]) -> str:
    """A whole CALL frame to edit and send as it is."""
    return json.dumps([2, str(uuid.uuid4()), action, payload], indent=2, ensure_ascii=False)


# -- checking a payload ---------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    title: str
    path: str | None = None
    message: str = ""
    line: int | None = None


@dataclass(frozen=True)
class Checked:
    """``payload`` is what to send (None: nothing can be sent); ``problem`` what to say."""

    payload: dict[str, Any] | None
    problem: Problem | None = None


def check_payload(protocol: str, action: str, text: str, *, strict: bool) -> Checked:
    """The payload in the editor, checked as the engine would before sending it."""
    if not action:
        return Checked(None, Problem("Choose an action"))
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"{exc.msg} at column {exc.colno}"
        return Checked(None, Problem("Not valid JSON", None, where, exc.lineno))
    if not isinstance(payload, dict):
        return Checked(None, Problem("The payload must be a JSON object", "$", "{ … }", 1))
    validator = validator_for(protocol)
    if validator is None or not validator.has_schema(action, "request"):
        return Checked(payload)
    try:
        validator.validate_request(action, payload)
    except RPCError as exc:
        details = exc.details or {}
        path = str(details.get("path") or "$")
        message = exc.message
        if message.startswith(path + ": "):
            message = message[len(path) + 2 :]
        line = error_line(text, path, details.get("keyword"), message)
        title = f"Schema violation · {exc.wire_code(protocol)}"
        if strict:
            return Checked(None, Problem(title, path, message, line))
        return Checked(
            payload, Problem(title + " (strict off: sent as written)", path, message, line)
        )
    return Checked(payload)
