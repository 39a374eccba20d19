"""The compiled fast path of strict mode never accepts what jsonschema refuses.

Strict mode asks fastjsonschema first and jsonschema only when the fast check
refuses, so verdicts stay jsonschema's as long as the fast check has no false
"valid". Each shipped schema gets fully populated payloads mutated at random
with values picked to find the edges (bools as numbers, 1.0 as an integer, float
multipleOf, bad dates, extra and missing keys, long strings).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from browser_ocpp.rpc import validation
from browser_ocpp.rpc.validation import validator_for

from .test_validation import _full_instance, _load, _schema_files

TRICKY: list[Any] = [
    True, False, None, 0, 1, -1, 7, 1.0, 0.3, 0.35, 7.7, -0.0, 1e300, 2**63, 2**31, -(2**31) - 1,
    "", "x", "x" * 51, "x" * 600, "ü" * 20, "Accepted", "Charging", "2024-01-01T00:00:00Z",
    "2024-02-30T00:00:00Z", "2024-01-01 00:00:00", "2024-01-01T00:00:00", "yesterday",
    [], [1], ["x"], {}, {"a": 1}, {"vendorId": "x"},
]  # fmt: skip


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _mutate(payload: Any, data: st.DataObject) -> Any:
    payload = copy.deepcopy(payload)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(payload)))
        if not path:
            return copy.deepcopy(data.draw(st.sampled_from(TRICKY)))
        *parents, last = path
        holder = payload
        for step in parents:
            holder = holder[step]
        action = data.draw(st.sampled_from(["replace", "delete", "extra"]))
        if action == "delete" and isinstance(holder, dict):
            del holder[last]
        elif action == "extra" and isinstance(holder, dict):
            key = data.draw(st.sampled_from(["extra", "customData", "id"]))
            holder[key] = copy.deepcopy(data.draw(st.sampled_from(TRICKY)))
        else:
            holder[last] = copy.deepcopy(data.draw(st.sampled_from(TRICKY)))
    return payload


def _checker(protocol: str, name: str) -> Any:
    validator = validator_for(protocol)
    assert validator is not None
    kind = "request" if name.endswith("Request.json") else "response"
    action = name.removesuffix("Request.json").removesuffix("Response.json")
    checker = validator._checker(action, kind)
    assert isinstance(checker, validation._FastThenFull)
    assert checker.fast is not None, "every shipped schema compiles"
    return checker


@pytest.mark.parametrize(("protocol", "name"), _schema_files())
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fast_check_never_accepts_what_jsonschema_refuses(
    protocol: str, name: str, data: st.DataObject
) -> None:
    schema = _load(protocol, name)
    checker = _checker(protocol, name)
    payload = _mutate(_full_instance(schema, schema), data)
    before = copy.deepcopy(payload)
    try:
        checker.fast(payload)
    except Exception:
        return  # refused: jsonschema decides, nothing to compare
    finally:
        assert payload == before, "the fast check must not touch the payload (defaults)"
    assert checker.full.is_valid(payload), f"fast check accepted {payload!r}"


@pytest.mark.parametrize(("protocol", "name"), _schema_files())
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_fast_refusal_names_jsonschemas_first_error(
    protocol: str, name: str, data: st.DataObject
) -> None:
    """A refusal is decided from the fast check alone (no jsonschema pass), so it must
    be jsonschema's verdict and its first error: same class, keyword and path."""
    schema = _load(protocol, name)
    checker = _checker(protocol, name)
    payload = _mutate(_full_instance(schema, schema), data)
    try:
        checker.fast(payload)
    except Exception as refusal:
        error = checker.first_error(payload, refusal)
        first = next(iter(checker.full.iter_errors(payload)), None)
        if getattr(refusal, "rule", None) in validation._FAST_MAY_REFUSE_WRONGLY:
            assert (error is None) is (first is None)
            if first is None:
                return
        assert error is not None and first is not None, f"only one refused {payload!r}"
        expected = validation._to_rpc_error(first)
        assert (type(error), error.details) == (type(expected), expected.details), payload


def test_schema_defaults_are_not_written_into_payloads() -> None:
    v201 = validator_for("ocpp2.0.1")
    assert v201 is not None
    event = {
        "eventType": "Started",
        "timestamp": "2024-01-01T00:00:00Z",
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "TX-1"},
    }
    v201.validate_request("TransactionEvent", event)
    assert "offline" not in event  # the schema's default (false) stays out


@pytest.mark.parametrize(("protocol", "name"), _schema_files())
def test_fast_check_accepts_fully_populated_payloads(protocol: str, name: str) -> None:
    """The fast path really is taken for valid traffic (else strict mode stays slow)."""
    schema = _load(protocol, name)
    checker = _checker(protocol, name)
    checker.fast(_full_instance(schema, schema))


@pytest.mark.parametrize("limit", [0.3, 7.7, 16.1, 22.2, 99999.9, 1e20, 0.35, 0.01, 1e-9, 7.75])
def test_multiple_of_verdicts_agree(limit: float) -> None:
    v16 = validator_for("ocpp1.6")
    assert v16 is not None
    checker = v16._checker("SetChargingProfile", "request")
    period = {"startPeriod": 0, "limit": limit}
    schedule = {"chargingRateUnit": "A", "chargingSchedulePeriod": [period]}
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": schedule,
    }
    payload = {"connectorId": 1, "csChargingProfiles": profile}
    try:
        checker.fast(payload)
        fast = True
    except Exception:
        fast = False
    assert checker.full.is_valid(payload) is (limit in (0.3, 7.7, 16.1, 22.2, 99999.9, 1e20))
    assert not fast or checker.full.is_valid(payload)
