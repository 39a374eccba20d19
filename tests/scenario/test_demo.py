"""The conformance pack against our demo CSMS (browser_ocpp.demo.csms, on a strict
server): every case passes, or is inconclusive where the demo takes no part (it
accepts every boot; it sends commands only when its operator does): told to send
them, as its operator view does, the command cases pass too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from browser_ocpp import OCPPServer
from browser_ocpp.demo.csms import DemoCSMS
from browser_ocpp.scenario import Scenario, Settings, Verdict, run_case
from browser_ocpp.scenario.conformance import PACK

from .conftest import PROTOCOLS, TIMEOUT_S, command_payload, started_transaction
from .test_conformance import COMMAND_ACTIONS

NOT_FOR_THE_DEMO = {"BOOT-PENDING", "BOOT-REJECTED", "RPC-ONE-CALL"}
"""It accepts every boot and sends no calls of its own."""


class Demo:
    def __init__(self, protocol: str) -> None:
        self.server = OCPPServer(protocols=[protocol], strict_mode=True)
        self.csms = DemoCSMS(self.server)
        self.protocol = protocol
        self.command: str | None = None  # sent, as an operator would, once it fits
        self.tasks: set[asyncio.Task[Any]] = set()
        self.server.on("client", self._watch)

    def _watch(self, client: Any) -> None:
        requests: dict[str, Any] = {}  # the station's calls' payloads, by message id
        client.on(
            "call",
            lambda event: event.outbound or requests.update({event.frame.message_id: event}),
        )

        def sent(event: Any) -> None:  # the demo answered: boot, or a transaction's start
            if self.command is None or not event.outbound:
                return
            action = event.action
            stop = self.command in ("RemoteStopTransaction", "RequestStopTransaction")
            transaction_id = None
            if stop and action in ("StartTransaction", "TransactionEvent"):
                request = requests.get(event.frame.message_id)
                params = request.frame.payload if request is not None else {}
                transaction_id = started_transaction(action, params, event.frame.payload)
            if (action == "BootNotification" and not stop) or transaction_id is not None:
                payload = command_payload(self.protocol, self.command, transaction_id)
                task = asyncio.ensure_future(
                    self.csms.command(client.identity, self.command, payload)
                )
                self.tasks.add(task)

        client.on("call_result", sent)


@pytest.fixture
async def demo() -> AsyncIterator[Any]:
    made: list[Demo] = []

    async def make(protocol: str) -> tuple[Demo, Settings]:
        demo = Demo(protocol)
        made.append(demo)
        port = await demo.server.listen(0, "127.0.0.1")
        return demo, Settings(
            csms=f"ws://127.0.0.1:{port}/ocpp", protocol=protocol, timeout_s=TIMEOUT_S
        )

    yield make
    for demo in made:
        await asyncio.gather(*demo.tasks, return_exceptions=True)
        await demo.server.close()


def cases() -> list[object]:
    return [
        pytest.param(protocol, case, id=f"{protocol}-{case.id}")
        for protocol in PROTOCOLS
        for case in PACK
        if case.applies_to(protocol)
    ]


@pytest.mark.parametrize(("protocol", "case"), cases())
async def test_the_demo_passes_each_case_it_takes_part_in(
    demo: Any, protocol: str, case: Scenario
) -> None:
    _, settings = await demo(protocol)
    result = await run_case(case, settings)
    if case.id in NOT_FOR_THE_DEMO or case.id in COMMAND_ACTIONS:
        assert result.verdict is Verdict.INCONCLUSIVE, result.reason
        assert result.reason
    else:
        assert result.verdict is Verdict.PASS, (result.reason, [str(f) for f in result.log])


@pytest.mark.parametrize(
    ("protocol", "case_id"),
    [pytest.param(p, c, id=f"{p}-{c}") for p in PROTOCOLS for c in COMMAND_ACTIONS],
)
async def test_told_to_send_a_command_the_demo_passes_its_case(
    demo: Any, protocol: str, case_id: str
) -> None:
    csms, settings = await demo(protocol)
    csms.command = COMMAND_ACTIONS[case_id][0 if protocol == "ocpp1.6" else 1]
    case = next(case for case in PACK if case.id == case_id)
    result = await run_case(case, settings)
    assert result.verdict is Verdict.PASS, (result.reason, [str(f) for f in result.log])
