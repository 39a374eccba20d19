"""Strict mode in the peer: requests and responses checked both ways."""

from __future__ import annotations

import json
from typing import Any

import pytest

from browser_ocpp import (
    HandlerContext,
    RPCError,
    RPCFormationViolationError,
    RPCInternalError,
    RPCOccurrenceConstraintViolationError,
    RPCPropertyConstraintViolationError,
    RPCTypeConstraintViolationError,
)
from browser_ocpp.rpc import CallResultError

from .conftest import PairFactory, collect, wait

BOOT16 = {"chargePointVendor": "V", "chargePointModel": "M"}
BOOT_OK16 = {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 300}
BOOT2 = {"chargingStation": {"vendorName": "V", "model": "M"}, "reason": "PowerUp"}
BOOT_OK2 = {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 300}


async def test_outbound_request_is_checked_before_sending(pair: PairFactory) -> None:
    station, csms = await pair("ocpp1.6", a={"strict_mode": True})
    seen = collect(csms, "message")
    with pytest.raises(RPCOccurrenceConstraintViolationError, match="chargePointModel") as caught:
        await station.call("BootNotification", {"chargePointVendor": "V"})
    assert caught.value.wire_code("ocpp1.6") == "OccurenceConstraintViolation"
    assert seen == []


@pytest.mark.parametrize(
    ("protocol", "params", "code"),
    [
        ("ocpp1.6", {"chargePointVendor": "V"}, "OccurenceConstraintViolation"),
        ("ocpp1.6", {**BOOT16, "chargePointModel": 5}, "TypeConstraintViolation"),
        ("ocpp1.6", {**BOOT16, "chargePointModel": "M" * 21}, "PropertyConstraintViolation"),
        ("ocpp1.6", {**BOOT16, "extra": 1}, "FormationViolation"),
        ("ocpp2.0.1", {"reason": "PowerUp"}, "OccurrenceConstraintViolation"),
        ("ocpp2.0.1", {**BOOT2, "reason": "Bored"}, "PropertyConstraintViolation"),
        ("ocpp2.0.1", {**BOOT2, "extra": 1}, "FormatViolation"),
        ("ocpp2.1", {**BOOT2, "reason": 1}, "TypeConstraintViolation"),
    ],
)
async def test_inbound_request_is_refused_with_the_mapped_code(
    pair: PairFactory, protocol: str, params: dict[str, Any], code: str
) -> None:
    station, csms = await pair(protocol, b={"strict_mode": True})
    ran: list[Any] = []
    csms.handle("BootNotification", lambda ctx: ran.append(ctx) or BOOT_OK2)
    replies = collect(station, "message")
    with pytest.raises(RPCError) as caught:
        await wait(station.call("BootNotification", params))
    wire = json.loads(next(m.message for m in replies if not m.outbound))
    assert wire[0] == 4 and wire[2] == code
    assert type(caught.value).wire_code(protocol) == code
    assert ran == []


async def test_inbound_response_is_checked(pair: PairFactory) -> None:
    station, csms = await pair("ocpp1.6", a={"strict_mode": True})
    csms.handle("BootNotification", lambda ctx: {**BOOT_OK16, "status": "Maybe"})
    with pytest.raises(RPCPropertyConstraintViolationError, match="status"):
        await wait(station.call("BootNotification", BOOT16))


async def test_bad_response_on_21_is_answered_with_callresulterror(pair: PairFactory) -> None:
    station, csms = await pair("ocpp2.1", a={"strict_mode": True})
    csms.handle("BootNotification", lambda ctx: {**BOOT_OK2, "interval": "soon"})
    refused = collect(csms, "call_error")
    with pytest.raises(RPCTypeConstraintViolationError):
        await wait(station.call("BootNotification", BOOT2))
    await refused.wait_len(1)
    frame = refused[0].frame
    assert isinstance(frame, CallResultError) and frame.error_code == "TypeConstraintViolation"


async def test_own_bad_response_becomes_internal_error(pair: PairFactory) -> None:
    station, csms = await pair("ocpp2.0.1", b={"strict_mode": True})
    csms.handle("BootNotification", lambda ctx: {"status": "Accepted"})
    with pytest.raises(RPCInternalError, match=r"response failed validation.*currentTime"):
        await wait(station.call("BootNotification", BOOT2))


async def test_strict_mode_limited_to_protocols(pair: PairFactory) -> None:
    station, csms = await pair("ocpp1.6", a={"strict_mode": ["ocpp2.0.1"]})
    csms.handle("BootNotification", lambda ctx: {"anything": True})
    assert await wait(station.call("BootNotification", {"wrong": 1})) == {"anything": True}
    strict, _ = await pair("ocpp2.0.1", a={"strict_mode": ["ocpp2.0.1"]})
    with pytest.raises(RPCOccurrenceConstraintViolationError):
        await strict.call("BootNotification", {"reason": "PowerUp"})


async def test_strict_mode_methods_limit_what_is_checked(pair: PairFactory) -> None:
    station, csms = await pair(
        "ocpp1.6", a={"strict_mode": True, "strict_mode_methods": ["BootNotification"]}
    )
    csms.handle("Heartbeat", lambda ctx: {"odd": 1})
    assert await wait(station.call("Heartbeat", {"unexpected": 1})) == {"odd": 1}
    with pytest.raises(RPCFormationViolationError):
        await station.call("BootNotification", {**BOOT16, "x": 1})


async def test_decimal_multiple_of_is_not_refused_by_float_error(pair: PairFactory) -> None:
    station, csms = await pair("ocpp1.6", a={"strict_mode": True}, b={"strict_mode": True})
    csms.handle("SetChargingProfile", lambda ctx: {"status": "Accepted"})
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [
                {"startPeriod": 0, "limit": 0.3},
                {"startPeriod": 60, "limit": 16.1},
            ],
        },
    }
    params = {"connectorId": 1, "csChargingProfiles": profile}
    assert await wait(station.call("SetChargingProfile", params)) == {"status": "Accepted"}
    profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] = 0.35  # type: ignore[index]
    with pytest.raises(RPCPropertyConstraintViolationError, match="multiple"):
        await station.call("SetChargingProfile", params)


async def test_strict_inbound_handler_sees_valid_params(pair: PairFactory) -> None:
    station, csms = await pair("ocpp2.0.1", b={"strict_mode": True})
    seen: list[HandlerContext] = []
    csms.handle("BootNotification", lambda ctx: seen.append(ctx) or BOOT_OK2)
    assert await wait(station.call("BootNotification", BOOT2)) == BOOT_OK2
    assert seen[0].params == BOOT2


async def test_strict_mode_option_is_checked() -> None:
    from browser_ocpp import RPCPeer

    with pytest.raises(TypeError, match="strict_mode"):
        RPCPeer(strict_mode="yes")
    with pytest.raises(TypeError, match="strict_mode_methods"):
        RPCPeer(strict_mode=True, strict_mode_methods=[1])


async def test_wildcard_gets_vendor_actions_in_strict_mode(pair: PairFactory) -> None:
    station, csms = await pair("ocpp1.6", b={"strict_mode": True})
    csms.handle(lambda method, ctx: {"vendor": method})
    assert await wait(station.call("AcmeDiagnostics", {"x": 1})) == {"vendor": "AcmeDiagnostics"}


async def test_missing_handler_wins_over_an_invalid_payload(pair: PairFactory) -> None:
    from browser_ocpp import RPCNotSupportedError

    station, _ = await pair("ocpp1.6", b={"strict_mode": True})
    with pytest.raises(RPCNotSupportedError):
        await wait(station.call("BootNotification", {"bad": 1}))


async def test_strict_outbound_refuses_actions_without_a_schema(pair: PairFactory) -> None:
    from browser_ocpp import RPCNotImplementedError

    station, csms = await pair("ocpp1.6", a={"strict_mode": True})
    seen = collect(csms, "message")
    with pytest.raises(RPCNotImplementedError, match="no request schema"):
        await station.call("BootNotifcation", {})  # a typo is caught before sending
    assert seen == []
