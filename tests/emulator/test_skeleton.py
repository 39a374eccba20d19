"""skeleton(): a schema-valid payload for every action of every version."""

from __future__ import annotations

import re

import pytest

from browser_ocpp.rpc.errors import RPCPropertyConstraintViolationError
from browser_ocpp.rpc.skeleton import skeleton
from browser_ocpp.rpc.validation import validator_for
from browser_ocpp.rpc.versions import SUPPORTED_PROTOCOLS, known_actions


def _has_schema(protocol: str, action: str, kind: str) -> bool:
    validator = validator_for(protocol)
    return validator is not None and validator.has_schema(action, kind)  # type: ignore[arg-type]


CASES = [
    (protocol, action, kind)
    for protocol in SUPPORTED_PROTOCOLS
    for action in sorted(known_actions(protocol))
    for kind in ("request", "response")
    if kind == "request" or _has_schema(protocol, action, kind)  # 2.1 SEND-only: no response
]
UNSATISFIABLE: list[tuple[str, str, str]] = []
"""Skeletons a placeholder cannot make valid (a pattern on a required string): none
with the shipped schemas."""


@pytest.mark.parametrize(("protocol", "action", "kind"), CASES)
def test_every_skeleton_is_valid(protocol: str, action: str, kind: str) -> None:
    validator = validator_for(protocol)
    assert validator is not None
    payload = skeleton(protocol, action, kind)  # type: ignore[arg-type]
    validate = validator.validate_request if kind == "request" else validator.validate_response
    if (protocol, action, kind) in UNSATISFIABLE:
        with pytest.raises(RPCPropertyConstraintViolationError) as raised:
            validate(action, payload)
        assert raised.value.details["keyword"] in ("pattern", "minLength")
        return
    validate(action, payload)


def test_the_suite_covers_every_request_action() -> None:
    requests = [case for case in CASES if case[2] == "request"]
    assert len(requests) == sum(len(known_actions(p)) for p in SUPPORTED_PROTOCOLS)
    assert len(requests) > 150


def test_skeleton_fills_required_fields_only() -> None:
    boot = skeleton("ocpp1.6", "BootNotification")
    assert boot == {"chargePointVendor": "", "chargePointModel": ""}
    event = skeleton("ocpp2.0.1", "TransactionEvent")
    assert set(event) == {"eventType", "timestamp", "triggerReason", "seqNo", "transactionInfo"}
    assert event["eventType"] == "Ended"  # the first enum value
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["timestamp"])
    assert event["transactionInfo"] == {"transactionId": ""}
    variables = skeleton("ocpp2.1", "GetVariables")
    assert variables == {"getVariableData": [{"component": {"name": ""}, "variable": {"name": ""}}]}
    assert skeleton("ocpp2.1", "Heartbeat", "response")["currentTime"].endswith("Z")


def test_minimums_are_respected() -> None:
    needs = skeleton("ocpp2.1", "NotifyEVChargingNeeds")
    assert needs["evseId"] == 1 and isinstance(needs["evseId"], int)  # minimum 1.0
    schedule = skeleton("ocpp2.1", "SetChargingProfile")["chargingProfile"]["chargingSchedule"]
    assert len(schedule) == 1 and len(schedule[0]["chargingSchedulePeriod"]) == 1


@pytest.mark.parametrize(
    ("protocol", "action", "kind"),
    [
        ("ocpp1.6", "Nope", "request"),
        ("ocpp9", "Heartbeat", "request"),
        ("ocpp1.6", "../ocpp2.1/Heartbeat", "request"),
        ("ocpp1.6", "Heartbeat", "reply"),
    ],
)
def test_unknown_actions_raise_value_error(protocol: str, action: str, kind: str) -> None:
    with pytest.raises(ValueError, match=r"no request schema|kind must be"):
        skeleton(protocol, action, kind)  # type: ignore[arg-type]
