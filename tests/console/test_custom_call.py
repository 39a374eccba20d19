"""The custom call's model: the action list, templates, and checks before sending."""

from __future__ import annotations

import json

import pytest

from browser_ocpp.console.model.custom_call import (
    action_groups,
    check_payload,
    raw_template,
    template,
)
from browser_ocpp.rpc.validation import validator_for
from browser_ocpp.rpc.versions import SUPPORTED_PROTOCOLS, known_actions

STATION_CASES = [
    (protocol, action)
    for protocol in SUPPORTED_PROTOCOLS
    for group in action_groups(protocol)
    if not group.raw_only
    for action in group.actions
]


@pytest.mark.parametrize("protocol", SUPPORTED_PROTOCOLS)
def test_station_actions_come_first_and_the_csmss_are_labelled_raw_only(protocol: str) -> None:
    station, csms = action_groups(protocol)
    assert not station.raw_only and station.label == "Station → CSMS"
    assert csms.raw_only and "CSMS" in csms.label and "raw" in csms.label
    assert station.actions[0] == "BootNotification" and "Heartbeat" in station.actions
    reset = {"ocpp1.6": "RemoteStartTransaction"}.get(protocol, "RequestStartTransaction")
    assert "Reset" in csms.actions and reset in csms.actions
    assert "Reset" not in station.actions
    assert set(station.actions) | set(csms.actions) == known_actions(protocol)
    assert not set(station.actions) & set(csms.actions)


@pytest.mark.parametrize(("protocol", "action"), STATION_CASES)
def test_every_station_template_is_valid_with_connector_and_evse_1(
    protocol: str, action: str
) -> None:
    payload = template(protocol, action)
    validator = validator_for(protocol)
    assert validator is not None
    validator.validate_request(action, payload)
    text = json.dumps(payload)
    assert '"connectorId": 0' not in text and '"evseId": 0' not in text


def test_templates_take_realistic_values() -> None:
    assert template("ocpp1.6", "StatusNotification") == {
        "connectorId": 1,
        "errorCode": "NoError",
        "status": "Available",
    }
    boot = template("ocpp2.0.1", "BootNotification")
    assert boot["reason"] == "PowerUp"
    assert boot["chargingStation"] == {"model": "Emulator", "vendorName": "BrowserOCPP"}
    status = template("ocpp2.0.1", "StatusNotification")
    assert (status["evseId"], status["connectorId"], status["connectorStatus"]) == (
        1,
        1,
        "Available",
    )
    assert template("ocpp2.0.1", "TransactionEvent")["eventType"] == "Started"
    assert template("ocpp1.6", "Authorize") == {"idTag": "TAG-0001"}


def test_a_raw_template_is_a_whole_call_frame() -> None:
    frame = json.loads(raw_template("Reset", {"type": "Soft"}))
    assert frame[0] == 2 and frame[2:] == ["Reset", {"type": "Soft"}]
    assert isinstance(frame[1], str) and 0 < len(frame[1]) <= 36


@pytest.mark.parametrize(
    ("protocol", "name"),
    [("ocpp1.6", "OccurenceConstraintViolation"), ("ocpp2.0.1", "OccurrenceConstraintViolation")],
)
def test_strict_on_blocks_a_schema_violation_named_in_the_versions_spelling(
    protocol: str, name: str
) -> None:
    checked = check_payload(protocol, "Heartbeat", "{}", strict=True)
    assert checked.payload == {}
    text = '{\n  "reason": "PowerUp"\n}'
    checked = check_payload(protocol, "BootNotification", text, strict=True)
    assert checked.payload is None
    assert checked.problem is not None and checked.problem.title == f"Schema violation · {name}"
    assert checked.problem.line == 1


def test_strict_off_sends_a_schema_violation_as_written_and_says_so() -> None:
    text = '{\n  "type": "Bogus"\n}'
    checked = check_payload("ocpp1.6", "StatusNotification", text, strict=False)
    assert checked.payload == {"type": "Bogus"}
    assert checked.problem is not None and "strict off: sent as written" in checked.problem.title


def test_property_errors_point_at_their_line() -> None:
    text = '{\n  "connectorId": 1,\n  "errorCode": "NoError",\n  "status": "Bogus"\n}'
    checked = check_payload("ocpp1.6", "StatusNotification", text, strict=True)
    assert checked.problem is not None
    assert checked.problem.title == "Schema violation · PropertyConstraintViolation"
    assert checked.problem.path == "$.status" and checked.problem.line == 4


@pytest.mark.parametrize("strict", [True, False])
def test_what_cannot_be_a_payload_is_never_sent(strict: bool) -> None:
    not_json = check_payload("ocpp1.6", "Heartbeat", '{"a": ', strict=strict)
    assert not_json.payload is None and not_json.problem is not None
    assert not_json.problem.title == "Not valid JSON"
    array = check_payload("ocpp1.6", "Heartbeat", "[]", strict=strict)
    assert array.payload is None and array.problem is not None
    nothing = check_payload("ocpp1.6", "", "{}", strict=strict)
    assert nothing.payload is None
