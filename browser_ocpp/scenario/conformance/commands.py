"""Commands the CSMS sends (reset, remote start/stop, trigger, configuration or
variables, availability, unlock): each waits for the CSMS to send it, checks the
request and answers it as a station does; ``inconclusive`` when the CSMS never
sends it within the time limit (send it from the CSMS during the check)."""

from __future__ import annotations

from ..api import Bench, Scenario, scenario
from .common import accepted_station

__all__ = ["COMMANDS"]


def _command(
    case_id: str, title: str, clause: str, action_16: str, action_2: str, charging: bool = False
) -> Scenario:
    """A case that waits for the CSMS's ``action_16`` (1.6) or ``action_2`` (2.x)."""

    async def case(bench: Bench) -> None:
        action = action_16 if bench.v16 else action_2
        station = await accepted_station(bench)
        if charging:  # something for the CSMS to stop
            async with bench.step("A transaction runs"):
                await station.plug(1)
                bench.expect(
                    await station.start_transaction(1, bench.settings.id_tag),
                    "the transaction did not start",
                )
        async with bench.step(f"The CSMS sends {action}"):
            call = await station.wait_for_call(action, bench.timeout_s)
            if call is None:
                bench.inconclusive(
                    f"the CSMS sent no {action} within {bench.timeout_s:g} s "
                    f"(send one during the check, or raise --timeout)"
                )
            assert call is not None
            bench.expect_valid_request(action, call.payload, [call.frame])
            answer = await station.answer_of(call)
            bench.passed(f"{action} valid; the station answered", [call.frame, *answer.frames[1:]])

    case.__name__ = case_id.lower().replace("-", "_")
    return scenario(case_id, title=title, clause=clause)(case).__scenario__  # type: ignore[attr-defined,no-any-return]


_CORE_16 = "1.6 Core"
COMMANDS = [
    _command(
        "CMD-RESET",
        "The CSMS's Reset is a valid request",
        f"{_CORE_16} 5.14 Reset / 2.0.1 B11-B12; OCPP-J 4.2.1 (CALL)",
        "Reset",
        "Reset",
    ),
    _command(
        "CMD-REMOTE-START",
        "The CSMS's RemoteStart / RequestStartTransaction is a valid request",
        f"{_CORE_16} 5.11 RemoteStartTransaction / 2.0.1 F01; OCPP-J 4.2.1",
        "RemoteStartTransaction",
        "RequestStartTransaction",
    ),
    _command(
        "CMD-REMOTE-STOP",
        "The CSMS's RemoteStop / RequestStopTransaction of a running transaction",
        f"{_CORE_16} 5.12 RemoteStopTransaction / 2.0.1 F03; OCPP-J 4.2.1",
        "RemoteStopTransaction",
        "RequestStopTransaction",
        charging=True,
    ),
    _command(
        "CMD-TRIGGER",
        "The CSMS's TriggerMessage is a valid request",
        "1.6 Core 5.17 TriggerMessage / 2.0.1 F06; OCPP-J 4.2.1",
        "TriggerMessage",
        "TriggerMessage",
    ),
    _command(
        "CMD-GET-CONFIG",
        "The CSMS's GetConfiguration / GetVariables is a valid request",
        f"{_CORE_16} 5.8 GetConfiguration / 2.0.1 B06; OCPP-J 4.2.1",
        "GetConfiguration",
        "GetVariables",
    ),
    _command(
        "CMD-SET-CONFIG",
        "The CSMS's ChangeConfiguration / SetVariables is a valid request",
        f"{_CORE_16} 5.3 ChangeConfiguration / 2.0.1 B05; OCPP-J 4.2.1",
        "ChangeConfiguration",
        "SetVariables",
    ),
    _command(
        "CMD-AVAILABILITY",
        "The CSMS's ChangeAvailability is a valid request",
        f"{_CORE_16} 5.2 ChangeAvailability / 2.0.1 G03; OCPP-J 4.2.1",
        "ChangeAvailability",
        "ChangeAvailability",
    ),
    _command(
        "CMD-UNLOCK",
        "The CSMS's UnlockConnector is a valid request",
        f"{_CORE_16} 5.18 UnlockConnector / 2.0.1 F05; OCPP-J 4.2.1",
        "UnlockConnector",
        "UnlockConnector",
    ),
]
