"""Strict-mode schema validation: shipped schemas, keyword -> error mapping, formats."""

from __future__ import annotations

import importlib.util
import json
import sys
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema.exceptions import best_match

from browser_ocpp.rpc import validation
from browser_ocpp.rpc.errors import (
    MAX_DESCRIPTION_LENGTH,
    RPCError,
    RPCFormationViolationError,
    RPCNotImplementedError,
    RPCOccurrenceConstraintViolationError,
    RPCPropertyConstraintViolationError,
    RPCTypeConstraintViolationError,
)
from browser_ocpp.rpc.validation import SchemaValidator, validator_for
from browser_ocpp.rpc.versions import OCPP16, OCPP21, OCPP201, SUPPORTED_PROTOCOLS, known_actions

SCHEMAS = resources.files("browser_ocpp.rpc") / "schemas"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _schema_files() -> list[tuple[str, str]]:
    return [
        (protocol, entry.name)
        for protocol in SUPPORTED_PROTOCOLS
        for entry in sorted((SCHEMAS / protocol).iterdir(), key=lambda e: e.name)
    ]


def _load(protocol: str, name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / protocol / name).read_text(encoding="utf-8"))
    return schema


def _fetch_script() -> ModuleType:
    path = REPO_ROOT / "scripts" / "fetch_schemas.py"
    spec = importlib.util.spec_from_file_location("fetch_schemas_under_test", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --- the shipped schemas ------------------------------------------------------------


@pytest.mark.parametrize(("protocol", "name"), _schema_files())
def test_every_shipped_schema_is_valid_for_its_draft(protocol: str, name: str) -> None:
    assert name.endswith(("Request.json", "Response.json"))
    schema = _load(protocol, name)
    draft_class = jsonschema.validators.validator_for(schema)
    draft_class.check_schema(schema)
    # Our (extended) class validates against the same draft's meta-schema.
    ours = validation._validator_class(schema, protocol)
    assert ours.META_SCHEMA == draft_class.META_SCHEMA


def test_schema_counts_and_drafts() -> None:
    drafts: dict[str, set[str]] = {}
    for protocol, name in _schema_files():
        drafts.setdefault(protocol, set()).add(_load(protocol, name)["$schema"])
    assert drafts == {
        # 1.6: the original files are draft-04, the security whitepaper's are draft-06.
        OCPP16: {
            "http://json-schema.org/draft-04/schema#",
            "http://json-schema.org/draft-06/schema#",
        },
        OCPP201: {"http://json-schema.org/draft-06/schema#"},
        OCPP21: {"http://json-schema.org/draft-06/schema#"},
    }
    counts = {p: sum(1 for q, _ in _schema_files() if q == p) for p in SUPPORTED_PROTOCOLS}
    assert counts == {OCPP16: 78, OCPP201: 128, OCPP21: 181}


def test_schemas_folder_is_package_data_with_license() -> None:
    assert not (SCHEMAS / "__init__.py").is_file()
    text = (SCHEMAS / "LICENSE").read_text(encoding="utf-8")
    first_line = text.splitlines()[0]
    for words in ("`ocpp` package 2.1.0", "The Mobility House", "MIT"):
        assert words in first_line
    assert "MIT License" in text
    assert "Copyright (c) 2019 The Mobility House" in text


def test_shipped_bytes_match_the_ocpp_dev_dependency() -> None:
    spec = importlib.util.find_spec("ocpp")  # locate without importing it
    assert spec is not None, "install the dev extra (ocpp==2.1.0)"
    assert spec.origin is not None
    package = Path(spec.origin).parent
    normalized_name = _fetch_script().normalized_name
    folders = {"v16": OCPP16, "v201": OCPP201, "v21": OCPP21}
    for source, protocol in folders.items():
        originals = {
            normalized_name(path.name): path.read_bytes()
            for path in (package / source / "schemas").glob("*.json")
        }
        shipped = {entry.name: entry.read_bytes() for entry in (SCHEMAS / protocol).iterdir()}
        assert shipped == originals, protocol


def test_fetch_script_name_normalization() -> None:
    normalized_name = _fetch_script().normalized_name
    assert normalized_name("Heartbeat.json") == "HeartbeatRequest.json"
    assert normalized_name("HeartbeatResponse.json") == "HeartbeatResponse.json"
    assert normalized_name("HeartbeatRequest.json") == "HeartbeatRequest.json"
    assert normalized_name("NotifyPeriodicEventStream.json") == (
        "NotifyPeriodicEventStreamRequest.json"
    )
    with pytest.raises(ValueError, match="not a JSON file"):
        normalized_name("LICENSE")


# --- known actions ------------------------------------------------------------------

OCPP16_ACTIONS = frozenset(
    {
        # OCPP 1.6 edition 2
        "Authorize",
        "BootNotification",
        "CancelReservation",
        "ChangeAvailability",
        "ChangeConfiguration",
        "ClearCache",
        "ClearChargingProfile",
        "DataTransfer",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "GetCompositeSchedule",
        "GetConfiguration",
        "GetDiagnostics",
        "GetLocalListVersion",
        "Heartbeat",
        "MeterValues",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "ReserveNow",
        "Reset",
        "SendLocalList",
        "SetChargingProfile",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
        "TriggerMessage",
        "UnlockConnector",
        "UpdateFirmware",
        # Improved security for OCPP 1.6-J
        "CertificateSigned",
        "DeleteCertificate",
        "ExtendedTriggerMessage",
        "GetInstalledCertificateIds",
        "GetLog",
        "InstallCertificate",
        "LogStatusNotification",
        "SecurityEventNotification",
        "SignCertificate",
        "SignedFirmwareStatusNotification",
        "SignedUpdateFirmware",
    }
)


def _request_names(protocol: str) -> frozenset[str]:
    suffix = "Request.json"
    return frozenset(
        n[: -len(suffix)] for p, n in _schema_files() if p == protocol and n.endswith(suffix)
    )


def test_known_actions_match_request_schemas() -> None:
    for protocol in SUPPORTED_PROTOCOLS:
        assert known_actions(protocol) == _request_names(protocol)
    assert known_actions(OCPP16) == OCPP16_ACTIONS
    assert {"TransactionEvent", "RequestStartTransaction", "BootNotification"} <= known_actions(
        OCPP201
    )
    assert len(known_actions(OCPP201)) == 64
    # 2.1 removes no 2.0.1 action and adds 27, among them the SEND-only stream.
    assert known_actions(OCPP201) <= known_actions(OCPP21)
    assert "NotifyPeriodicEventStream" in known_actions(OCPP21)
    assert len(known_actions(OCPP21) - known_actions(OCPP201)) == 27


@pytest.mark.parametrize("protocol", SUPPORTED_PROTOCOLS)
def test_every_action_has_a_response_schema_except_send_messages(protocol: str) -> None:
    validator = validator_for(protocol)
    assert validator is not None
    without_response = {
        a for a in known_actions(protocol) if not validator.has_schema(a, "response")
    }
    assert without_response == ({"NotifyPeriodicEventStream"} if protocol == OCPP21 else set())
    responses = {
        n[: -len("Response.json")]
        for p, n in _schema_files()
        if p == protocol and n.endswith("Response.json")
    }
    assert responses <= known_actions(protocol)


# --- valid payloads -----------------------------------------------------------------

BOOT_2X_REQUEST = {
    "reason": "PowerUp",
    "chargingStation": {"model": "M1", "vendorName": "V", "serialNumber": "S-1"},
}
BOOT_RESPONSE = {"currentTime": "2024-01-02T03:04:05Z", "interval": 300, "status": "Accepted"}

VALID_BOOT = {
    OCPP16: (
        {"chargePointVendor": "V", "chargePointModel": "M1", "firmwareVersion": "1.0"},
        BOOT_RESPONSE,
    ),
    OCPP201: (BOOT_2X_REQUEST, BOOT_RESPONSE),
    OCPP21: (BOOT_2X_REQUEST, {**BOOT_RESPONSE, "customData": {"vendorId": "x", "any": [1]}}),
}


@pytest.mark.parametrize("protocol", SUPPORTED_PROTOCOLS)
def test_valid_boot_notification(protocol: str) -> None:
    validator = validator_for(protocol)
    assert validator is not None
    assert validator.protocol == protocol
    request, response = VALID_BOOT[protocol]
    assert validator.validate_request("BootNotification", request) is None
    assert validator.validate_response("BootNotification", response) is None


def test_other_valid_payloads() -> None:
    v16, v201, v21 = (validator_for(p) for p in SUPPORTED_PROTOCOLS)
    assert v16 is not None
    assert v201 is not None
    assert v21 is not None
    v16.validate_request("Heartbeat", {})
    v16.validate_response("Authorize", {"idTagInfo": {"status": "Accepted"}})
    v16.validate_request("RemoteStartTransaction", {"idTag": "ABC"})
    v201.validate_request(
        "RequestStartTransaction",
        {"idToken": {"idToken": "A", "type": "Central"}, "remoteStartId": 1},
    )
    v21.validate_request(
        "NotifyPeriodicEventStream",
        {"id": 1, "pending": 0, "basetime": "2024-01-02T03:04:05Z", "data": [{"t": 0.5, "v": "1"}]},
    )


def test_draft_04_and_draft_06_integers() -> None:
    """1.6's draft-04 files reject 300.0 as an integer; draft-06 files accept it."""
    v16, v201 = validator_for(OCPP16), validator_for(OCPP201)
    assert v16 is not None
    assert v201 is not None
    with pytest.raises(RPCTypeConstraintViolationError):
        v16.validate_response("BootNotification", {**BOOT_RESPONSE, "interval": 300.0})
    v201.validate_response("BootNotification", {**BOOT_RESPONSE, "interval": 300.0})
    # GetLog is one of 1.6's draft-06 (security whitepaper) schemas.
    log = {"logType": "DiagnosticsLog", "log": {"remoteLocation": "ftp://x/"}}
    v16.validate_request("GetLog", {**log, "requestId": 7.0})


def _full_instance(schema: dict[str, Any], node: dict[str, Any], depth: int = 0) -> Any:
    """An instance with every property present, so that every $ref gets followed."""
    assert depth < 30, "recursive schema?"
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/definitions/")
        return _full_instance(schema, schema["definitions"][name], depth + 1)
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "object":
        properties = node.get("properties", {})
        return {key: _full_instance(schema, sub, depth + 1) for key, sub in properties.items()}
    if kind == "array":
        return [_full_instance(schema, node["items"], depth + 1)]
    if kind == "string":
        return "2024-01-02T03:04:05Z" if node.get("format") == "date-time" else "x"
    if kind in ("integer", "number"):
        return node.get("minimum", 0) if kind == "number" else int(node.get("minimum", 0))
    if kind == "boolean":
        return True
    if kind is None:  # DataTransfer's data: any JSON
        return {"any": [1, None]}
    raise AssertionError(f"unhandled schema node {node}")


@pytest.mark.parametrize(("protocol", "name"), _schema_files())
def test_fully_populated_payload_is_valid(protocol: str, name: str) -> None:
    """Follows every (nested) $ref: jsonschema 4.17 fails on nested refs under a URN $id
    unless the validator handles it."""
    schema = _load(protocol, name)
    payload = _full_instance(schema, schema)
    validator = validator_for(protocol)
    assert validator is not None
    if name.endswith("Request.json"):
        validator.validate_request(name.removesuffix("Request.json"), payload)
    else:
        validator.validate_response(name.removesuffix("Response.json"), payload)


# --- keyword -> error class, per version --------------------------------------------


def _charging_profile_16(limit: object) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
            },
        },
    }


OCSP = {
    "hashAlgorithm": "SHA256",
    "issuerNameHash": "a",
    "issuerKeyHash": "b",
    "serialNumber": "c",
    "responderURL": "http://ocsp/",
}


def _ev_needs(state_of_charge: object) -> dict[str, Any]:
    dc = {"evMaxCurrent": 1, "evMaxVoltage": 1, "stateOfCharge": state_of_charge}
    return {
        "evseId": 1,
        "chargingNeeds": {"requestedEnergyTransfer": "DC", "dcChargingParameters": dc},
    }


DC_PARAMETERS = "$.chargingNeeds.dcChargingParameters"

# (action, kind, payload, error class, keyword, path)
Case = tuple[str, str, Any, type[RPCError], str, str]

COMMON_2X: list[Case] = [
    ("BootNotification", "request", {**BOOT_2X_REQUEST, "reason": 5},
     RPCTypeConstraintViolationError, "type", "$.reason"),
    ("BootNotification", "request", {"reason": "PowerUp"},
     RPCOccurrenceConstraintViolationError, "required", "$"),
    ("BootNotification", "request", {**BOOT_2X_REQUEST, "reason": "Nope"},
     RPCPropertyConstraintViolationError, "enum", "$.reason"),
    ("BootNotification", "request",
     {**BOOT_2X_REQUEST, "chargingStation": {"model": "M" * 21, "vendorName": "V"}},
     RPCPropertyConstraintViolationError, "maxLength", "$.chargingStation.model"),
    ("BootNotification", "request", {**BOOT_2X_REQUEST, "extra": 1},
     RPCFormationViolationError, "additionalProperties", "$"),
    ("BootNotification", "response", {**BOOT_RESPONSE, "currentTime": "2024-02-30T00:00:00Z"},
     RPCPropertyConstraintViolationError, "format", "$.currentTime"),
    ("GetVariables", "request", {"getVariableData": []},
     RPCOccurrenceConstraintViolationError, "minItems", "$.getVariableData"),
    ("Authorize", "request",
     {"idToken": {"idToken": "A", "type": "Central"}, "iso15118CertificateHashData": [OCSP] * 5},
     RPCOccurrenceConstraintViolationError, "maxItems", "$.iso15118CertificateHashData"),
    ("NotifyEVChargingNeeds", "request", _ev_needs(-1),
     RPCPropertyConstraintViolationError, "minimum", f"{DC_PARAMETERS}.stateOfCharge"),
    ("NotifyEVChargingNeeds", "request", _ev_needs(101),
     RPCPropertyConstraintViolationError, "maximum", f"{DC_PARAMETERS}.stateOfCharge"),
    ("Heartbeat", "request", {"customData": {"vendorId": 5}},
     RPCTypeConstraintViolationError, "type", "$.customData.vendorId"),
]  # fmt: skip

CASES: dict[str, list[Case]] = {
    OCPP16: [
        ("BootNotification", "request", {"chargePointVendor": 5, "chargePointModel": "M"},
         RPCTypeConstraintViolationError, "type", "$.chargePointVendor"),
        ("BootNotification", "request", {"chargePointVendor": "V"},
         RPCOccurrenceConstraintViolationError, "required", "$"),
        ("GetInstalledCertificateIds", "response",
         {"status": "Accepted", "certificateHashData": []},
         RPCOccurrenceConstraintViolationError, "minItems", "$.certificateHashData"),
        ("Authorize", "response", {"idTagInfo": {"status": "Nope"}},
         RPCPropertyConstraintViolationError, "enum", "$.idTagInfo.status"),
        ("BootNotification", "request", {"chargePointVendor": "V" * 21, "chargePointModel": "M"},
         RPCPropertyConstraintViolationError, "maxLength", "$.chargePointVendor"),
        ("SetChargingProfile", "request", _charging_profile_16(0.35),
         RPCPropertyConstraintViolationError, "multipleOf",
         "$.csChargingProfiles.chargingSchedule.chargingSchedulePeriod[0].limit"),
        ("BootNotification", "response", {**BOOT_RESPONSE, "currentTime": "2024-01-02 03:04:05"},
         RPCPropertyConstraintViolationError, "format", "$.currentTime"),
        ("BootNotification", "request", {"chargePointVendor": "V", "chargePointModel": "M", "x": 1},
         RPCFormationViolationError, "additionalProperties", "$"),
        ("Heartbeat", "request", [],
         RPCTypeConstraintViolationError, "type", "$"),
    ],
    OCPP201: COMMON_2X,
    OCPP21: [
        *COMMON_2X,
        ("Reset", "request", {"type": "Immediate", "evseId": -1},
         RPCPropertyConstraintViolationError, "minimum", "$.evseId"),
        ("NotifyPeriodicEventStream", "request",
         {"id": 1, "pending": 0, "basetime": "2024-01-02T03:04:05Z", "data": []},
         RPCOccurrenceConstraintViolationError, "minItems", "$.data"),
    ],
}  # fmt: skip

WIRE_CODES = {
    OCPP16: {
        RPCTypeConstraintViolationError: "TypeConstraintViolation",
        RPCOccurrenceConstraintViolationError: "OccurenceConstraintViolation",
        RPCPropertyConstraintViolationError: "PropertyConstraintViolation",
        RPCFormationViolationError: "FormationViolation",
    },
    **{
        protocol: {
            RPCTypeConstraintViolationError: "TypeConstraintViolation",
            RPCOccurrenceConstraintViolationError: "OccurrenceConstraintViolation",
            RPCPropertyConstraintViolationError: "PropertyConstraintViolation",
            RPCFormationViolationError: "FormatViolation",
        }
        for protocol in (OCPP201, OCPP21)
    },
}


def _cases() -> list[Any]:
    return [
        pytest.param(protocol, *case, id=f"{protocol}-{case[0]}-{case[4]}")
        for protocol, cases in CASES.items()
        for case in cases
    ]


@pytest.mark.parametrize(
    ("protocol", "action", "kind", "payload", "cls", "keyword", "path"), _cases()
)
def test_keyword_maps_to_error_class(
    protocol: str,
    action: str,
    kind: str,
    payload: Any,
    cls: type[RPCError],
    keyword: str,
    path: str,
) -> None:
    validator = validator_for(protocol)
    assert validator is not None
    method = validator.validate_request if kind == "request" else validator.validate_response
    with pytest.raises(RPCError) as caught:
        method(action, payload)
    error = caught.value
    assert type(error) is cls
    assert error.details == {"keyword": keyword, "path": path}
    assert error.message.startswith(f"{path}: ")
    assert type(error).wire_code(protocol) == WIRE_CODES[protocol][cls]
    # Deterministic: the same payload gives the same error.
    with pytest.raises(RPCError) as again:
        method(action, payload)
    assert (type(again.value), again.value.message) == (cls, error.message)


def test_all_keyword_classes_are_covered_per_version() -> None:
    for protocol, cases in CASES.items():
        assert {case[3] for case in cases} == set(WIRE_CODES[protocol]), protocol


KEYWORD_SCHEMAS: list[tuple[dict[str, Any], Any, type[RPCError]]] = [
    ({"type": "string"}, 1, RPCTypeConstraintViolationError),
    ({"required": ["a"]}, {}, RPCOccurrenceConstraintViolationError),
    ({"minItems": 1}, [], RPCOccurrenceConstraintViolationError),
    ({"maxItems": 1}, [1, 2], RPCOccurrenceConstraintViolationError),
    ({"enum": ["a"]}, "b", RPCPropertyConstraintViolationError),
    ({"const": "a"}, "b", RPCPropertyConstraintViolationError),
    ({"pattern": "^a$"}, "b", RPCPropertyConstraintViolationError),
    ({"minLength": 2}, "b", RPCPropertyConstraintViolationError),
    ({"maxLength": 1}, "bb", RPCPropertyConstraintViolationError),
    ({"minimum": 1}, 0, RPCPropertyConstraintViolationError),
    ({"maximum": 1}, 2, RPCPropertyConstraintViolationError),
    ({"exclusiveMinimum": 1}, 1, RPCPropertyConstraintViolationError),
    ({"exclusiveMaximum": 1}, 1, RPCPropertyConstraintViolationError),
    ({"multipleOf": 0.1}, 0.35, RPCPropertyConstraintViolationError),
    ({"format": "date-time"}, "yesterday", RPCPropertyConstraintViolationError),
    ({"additionalProperties": False}, {"a": 1}, RPCFormationViolationError),
    ({"uniqueItems": True}, [1, 1], RPCFormationViolationError),
    ({"not": {}}, 1, RPCFormationViolationError),
]


@pytest.mark.parametrize(("schema", "instance", "cls"), KEYWORD_SCHEMAS)
def test_keyword_table(schema: dict[str, Any], instance: Any, cls: type[RPCError]) -> None:
    """Every keyword of the mapping, including ones no shipped schema uses."""
    full = {"$schema": "http://json-schema.org/draft-07/schema#", **schema}
    checker = validation._validator_class(full, OCPP201)(
        full, format_checker=validation._FORMAT_CHECKER
    )
    error = validation._to_rpc_error(best_match(checker.iter_errors(instance)))
    assert type(error) is cls
    assert error.details["keyword"] == next(iter(schema))


def test_first_error_in_check_order_wins() -> None:
    """An object's own checks (type, required) come before its properties, in schema
    order, and those before additionalProperties."""
    validator = validator_for(OCPP16)
    assert validator is not None
    cases: list[tuple[dict[str, Any], type[RPCError], str]] = [
        ({"chargePointVendor": 5, "extra": 1}, RPCOccurrenceConstraintViolationError, "$"),
        (
            {"chargePointVendor": 5, "chargePointModel": 6, "extra": 1},
            RPCTypeConstraintViolationError,
            "$.chargePointVendor",
        ),
        (
            {"chargePointVendor": "V", "chargePointModel": "M", "x": 1},
            RPCFormationViolationError,
            "$",
        ),
    ]
    for payload, cls, path in cases:
        with pytest.raises(RPCError) as caught:
            validator.validate_request("BootNotification", payload)
        assert (type(caught.value), caught.value.details["path"]) == (cls, path)


def test_a_refusal_costs_no_more_than_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many errors in one payload: the first decides, nothing collects the others."""
    validator = validator_for(OCPP16)
    assert validator is not None
    sampled = [{"value": "1", "unit": "bogus"} for _ in range(500)]
    meter_value = {"timestamp": "2024-01-01T00:00:00Z", "sampledValue": sampled}
    payload = {"connectorId": 1, "meterValue": [meter_value]}

    class NotCalled:
        def is_valid(self, instance: Any) -> bool:
            raise AssertionError("jsonschema ran")

        def iter_errors(self, instance: Any) -> Any:
            raise AssertionError("jsonschema ran")

    monkeypatch.setattr(validator._checker("MeterValues", "request"), "full", NotCalled())
    with pytest.raises(RPCPropertyConstraintViolationError) as caught:
        validator.validate_request("MeterValues", payload)
    assert caught.value.details["path"] == "$.meterValue[0].sampledValue[0].unit"


def test_description_is_truncated() -> None:
    validator = validator_for(OCPP16)
    assert validator is not None
    payload = {"chargePointVendor": "V", "chargePointModel": "M", "K" * 1000: 1}
    with pytest.raises(RPCFormationViolationError) as caught:
        validator.validate_request("BootNotification", payload)
    assert len(caught.value.message) == MAX_DESCRIPTION_LENGTH
    assert caught.value.message.startswith("$: ")


# --- multipleOf with decimals -------------------------------------------------------


@pytest.mark.parametrize("limit", [0, 0.0, 0.1, 0.3, 7.7, 16.1, 22.2, 32, 99999.9, 1e20, -0.3])
def test_multiple_of_accepts_decimals(limit: float) -> None:
    validator = validator_for(OCPP16)
    assert validator is not None
    validator.validate_request("SetChargingProfile", _charging_profile_16(limit))
    profile = {
        **_charging_profile_16(limit)["csChargingProfiles"],
        "chargingProfilePurpose": "TxProfile",
    }
    validator.validate_request("RemoteStartTransaction", {"idTag": "A", "chargingProfile": profile})


@pytest.mark.parametrize("limit", [0.35, 0.01, 7.75, 1e-9, float("nan"), float("inf")])
def test_multiple_of_rejects_non_multiples(limit: float) -> None:
    validator = validator_for(OCPP16)
    assert validator is not None
    with pytest.raises(RPCPropertyConstraintViolationError) as caught:
        validator.validate_request("SetChargingProfile", _charging_profile_16(limit))
    assert caught.value.details["keyword"] == "multipleOf"


def test_multiple_of_bool_is_not_a_number() -> None:
    validator = validator_for(OCPP16)
    assert validator is not None
    with pytest.raises(RPCTypeConstraintViolationError):
        validator.validate_request("SetChargingProfile", _charging_profile_16(True))
    assert not validation._is_multiple(float("nan"), 0.1)
    assert validation._is_multiple(10**40, 0.1)
    assert validation._is_multiple(1e308, 0.1)
    assert not validation._is_multiple(1e-300, 0.1)


# --- date-time ----------------------------------------------------------------------

VALID_DATE_TIMES = [
    "2024-01-02T03:04:05Z",
    "2024-01-02T03:04:05.123+02:00",
    "2024-01-02t03:04:05z",
    "2024-02-29T00:00:00-05:30",
    "2024-01-02T03:04:05.123456789Z",
    "2016-12-31T23:59:60Z",
    "2016-12-31T18:59:60-05:00",
]
INVALID_DATE_TIMES = [
    "2024-01-02 03:04:05",
    "2024-02-30T00:00:00Z",
    "2023-02-29T00:00:00Z",
    "2024-01-02T03:04:05",
    "2024-01-02T24:00:00Z",
    "2024-01-02T03:04:05+24:00",
    "2024-01-02T03:04:05+05:60",
    "2024-01-02T03:04:60Z",
    "2024-01-02T03:04Z",
    "2024-01-02",
    "2024-01-02T03:04:05.Z",
    "2024-01-02T03:04:05+0200",
    "\u0662024-01-02T03:04:05Z",
    "2024-01-02T03:04:05Z\n",
    "",
]


@pytest.mark.parametrize("protocol", SUPPORTED_PROTOCOLS)
@pytest.mark.parametrize("value", VALID_DATE_TIMES)
def test_date_time_valid(protocol: str, value: str) -> None:
    validator = validator_for(protocol)
    assert validator is not None
    validator.validate_response("BootNotification", {**BOOT_RESPONSE, "currentTime": value})


@pytest.mark.parametrize("protocol", SUPPORTED_PROTOCOLS)
@pytest.mark.parametrize("value", INVALID_DATE_TIMES)
def test_date_time_invalid(protocol: str, value: str) -> None:
    validator = validator_for(protocol)
    assert validator is not None
    with pytest.raises(RPCPropertyConstraintViolationError) as caught:
        validator.validate_response("BootNotification", {**BOOT_RESPONSE, "currentTime": value})
    assert caught.value.details == {"keyword": "format", "path": "$.currentTime"}


def test_date_time_verdicts_are_kept_and_stay_the_same() -> None:
    """Verdicts are kept for short strings (asked again: the same answer, not
    recomputed), the store is bounded, and long strings are checked every time."""
    validation._DATE_TIMES.clear()
    values = [*VALID_DATE_TIMES, *INVALID_DATE_TIMES]
    first = [validation._is_date_time(v) for v in values]
    assert first == [True] * len(VALID_DATE_TIMES) + [False] * len(INVALID_DATE_TIMES)
    assert first == [validation._check_date_time(v) for v in values]
    assert [validation._is_date_time(v) for v in values] == first
    assert set(validation._DATE_TIMES) == set(values)
    long = "2024-01-02T03:04:05." + "1" * 100 + "Z"
    assert validation._is_date_time(long)
    assert long not in validation._DATE_TIMES
    for second in range(2 * validation._DATE_TIMES_MAX):
        validation._is_date_time(f"2024-01-02T03:{second // 60 % 60:02}:{second % 60:02}Z")
    assert len(validation._DATE_TIMES) <= validation._DATE_TIMES_MAX


def test_uri_format_is_not_checked() -> None:
    validator = validator_for(OCPP16)
    assert validator is not None
    validator.validate_request("GetDiagnostics", {"location": "not a uri"})


# --- caching and unknown actions ----------------------------------------------------


def test_validator_for_is_cached_per_protocol() -> None:
    for protocol in SUPPORTED_PROTOCOLS:
        first = validator_for(protocol)
        assert isinstance(first, SchemaValidator)
        assert validator_for(protocol) is first
    assert validator_for(OCPP16) is not validator_for(OCPP201)
    assert validator_for("ocpp1.5") is None
    assert validator_for("") is None
    assert validator_for("..") is None


def test_checker_is_built_once_per_action_and_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[tuple[str, str]] = []
    original = validation._build_checker

    def counting(protocol: str, file_name: str) -> Any:
        built.append((protocol, file_name))
        return original(protocol, file_name)

    monkeypatch.setattr(validation, "_build_checker", counting)
    validator = SchemaValidator(OCPP16)
    request, response = VALID_BOOT[OCPP16]
    for _ in range(3):
        validator.validate_request("BootNotification", request)
        with pytest.raises(RPCOccurrenceConstraintViolationError):
            validator.validate_request("BootNotification", {})
    assert built == [(OCPP16, "BootNotificationRequest.json")]
    validator.validate_response("BootNotification", response)
    validator.validate_response("BootNotification", response)
    assert built == [
        (OCPP16, "BootNotificationRequest.json"),
        (OCPP16, "BootNotificationResponse.json"),
    ]
    assert validator._checker("BootNotification", "request") is validator._checker(
        "BootNotification", "request"
    )


@pytest.mark.parametrize("protocol", SUPPORTED_PROTOCOLS)
def test_unknown_action_is_not_implemented(protocol: str) -> None:
    validator = validator_for(protocol)
    assert validator is not None
    for action in ("NoSuchAction", "", "../errors", "BootNotificationRequest"):
        assert not validator.has_schema(action, "request")
        with pytest.raises(RPCNotImplementedError) as caught:
            validator.validate_request(action, {})
        assert caught.value.message == f"no request schema for {action} in {protocol}"
    with pytest.raises(RPCNotImplementedError, match="no response schema for Nope in"):
        validator.validate_response("Nope", {})


def test_send_message_has_no_response_schema() -> None:
    validator = validator_for(OCPP21)
    assert validator is not None
    assert validator.has_schema("NotifyPeriodicEventStream", "request")
    assert not validator.has_schema("NotifyPeriodicEventStream", "response")
    with pytest.raises(RPCNotImplementedError) as caught:
        validator.validate_response("NotifyPeriodicEventStream", {})
    assert caught.value.message == "no response schema for NotifyPeriodicEventStream in ocpp2.1"


# --- fuzz ---------------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=60)
    | st.sampled_from(["Accepted", "PowerUp", "2024-01-02T03:04:05Z", "V", ""])
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
BOOT_KEYS = [
    "chargePointVendor", "chargePointModel", "firmwareVersion", "reason", "chargingStation",
    "model", "vendorName", "modem", "customData", "vendorId", "status", "currentTime",
    "interval", "statusInfo", "reasonCode",
]  # fmt: skip


def _boot_like(depth: int) -> st.SearchStrategy[Any]:
    values = JSON_VALUES if depth == 0 else JSON_VALUES | _boot_like(depth - 1)
    return st.dictionaries(st.sampled_from(BOOT_KEYS) | st.text(max_size=5), values, max_size=6)


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    protocol=st.sampled_from(SUPPORTED_PROTOCOLS),
    kind=st.sampled_from(["request", "response"]),
    payload=JSON_VALUES | _boot_like(2),
)
def test_random_boot_notification_payloads_raise_only_rpc_errors(
    protocol: str, kind: str, payload: Any
) -> None:
    validator = validator_for(protocol)
    assert validator is not None
    method = validator.validate_request if kind == "request" else validator.validate_response
    error: RPCError | None = None
    try:
        method("BootNotification", payload)
    except RPCError as caught:  # anything else fails the test
        error = caught
    if error is not None:
        assert not isinstance(error, RPCNotImplementedError)
        assert len(error.message) <= MAX_DESCRIPTION_LENGTH
        assert set(error.details) == {"keyword", "path"}
        assert error.details["path"].startswith("$")
