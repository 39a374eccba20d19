"""Every conformance case against a scripted CSMS: it passes when the CSMS behaves,
and fails when the CSMS has the fault the case is there to catch (a case that cannot
fail proves nothing)."""

from __future__ import annotations

import pytest

from browser_ocpp.scenario import Scenario, Verdict, run_case
from browser_ocpp.scenario.conformance import PACK

from .conftest import PROTOCOLS, Make

FAULTS = {
    "BOOT-ACCEPTED": "boot-no-interval",
    "BOOT-PENDING": "pending-error",
    "BOOT-REJECTED": "rejected-call",
    "HEARTBEAT": "heartbeat-no-time",
    "STATUS": "status-error",
    "AUTHORIZE": "authorize-bad",
    "TX-START-STOP": "start-no-id",
    "TX-EVENTS": "tx-event-error",
    "RECONNECT": "no-resume",
    "OFFLINE-REPLAY": "offline-refused",
    "RPC-UNKNOWN-ACTION": "unknown-action-ok",
    "RPC-MISSING-FIELD": "lenient",
    "RPC-WRONG-TYPE": "lenient",
    "RPC-NOT-JSON": "not-json-wrong-id",
    "RPC-UNKNOWN-TYPE": "type7-answered",
    "RPC-ONE-CALL": "two-calls",
    "RPC-RESPONSE-TIME": "slow",
}
"""The fault that must make each case fail (CMD-* cases: ``bad-commands``)."""
GOOD = {"BOOT-PENDING": "pending-ok", "BOOT-REJECTED": "rejected-ok"}
"""A CSMS that behaves, but takes the branch the case checks."""

COMMAND_ACTIONS = {
    "CMD-RESET": ("Reset", "Reset"),
    "CMD-REMOTE-START": ("RemoteStartTransaction", "RequestStartTransaction"),
    "CMD-REMOTE-STOP": ("RemoteStopTransaction", "RequestStopTransaction"),
    "CMD-TRIGGER": ("TriggerMessage", "TriggerMessage"),
    "CMD-GET-CONFIG": ("GetConfiguration", "GetVariables"),
    "CMD-SET-CONFIG": ("ChangeConfiguration", "SetVariables"),
    "CMD-AVAILABILITY": ("ChangeAvailability", "ChangeAvailability"),
    "CMD-UNLOCK": ("UnlockConnector", "UnlockConnector"),
}


def commands_for(case: Scenario, protocol: str) -> list[str]:
    if case.id == "RPC-ONE-CALL":
        return ["two"]  # two calls, one after the other
    actions = COMMAND_ACTIONS.get(case.id)
    if actions is None:
        return []
    return [actions[0] if protocol == "ocpp1.6" else actions[1]]


def cases(protocols: list[str]) -> list[object]:
    return [
        pytest.param(protocol, case, id=f"{protocol}-{case.id}")
        for protocol in protocols
        for case in PACK
        if case.applies_to(protocol)
    ]


def test_every_case_has_a_fault_and_a_clause() -> None:
    for case in PACK:
        assert case.id in FAULTS or case.id in COMMAND_ACTIONS, case.id
        assert case.clause and case.title


@pytest.mark.parametrize(("protocol", "case"), cases(PROTOCOLS))
async def test_a_case_passes_against_a_csms_that_behaves(
    scripted: Make, protocol: str, case: Scenario
) -> None:
    _, settings = await scripted(protocol, GOOD.get(case.id), commands_for(case, protocol))
    result = await run_case(case, settings)
    assert result.verdict is Verdict.PASS, (result.reason, [str(f) for f in result.log])


@pytest.mark.parametrize(("protocol", "case"), cases(PROTOCOLS))
async def test_a_case_fails_against_a_csms_with_its_fault(
    scripted: Make, protocol: str, case: Scenario
) -> None:
    fault = FAULTS.get(case.id, "bad-commands")
    _, settings = await scripted(protocol, fault, commands_for(case, protocol))
    result = await run_case(case, settings)
    assert result.verdict is Verdict.FAIL, (result.reason, [str(f) for f in result.log])
    assert result.reason and result.frames  # says why, and shows the frames
