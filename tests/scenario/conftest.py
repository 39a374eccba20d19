"""CSMSs for the scenario tests, on loopback sockets: our demo CSMS, and a scripted
one (``ScriptedCSMS``) that answers every station message validly, can send commands,
and misbehaves in one named way at a time (``fault``), so each conformance case can
be seen to fail."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from browser_ocpp import (
    NOREPLY,
    OCPPServer,
    RPCInternalError,
    RPCNotImplementedError,
    RPCSecurityError,
)
from browser_ocpp.peer import HandlerContext
from browser_ocpp.rpc.versions import known_actions
from browser_ocpp.scenario import Settings

PROTOCOLS = ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]
TIMEOUT_S = 1.0
"""The pack's wait for answers and commands in these tests."""
Payload = dict[str, Any]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


COMMANDS_16: dict[str, Payload] = {
    "Reset": {"type": "Soft"},
    "RemoteStartTransaction": {"idTag": "TAG-0001", "connectorId": 1},
    "TriggerMessage": {"requestedMessage": "Heartbeat"},
    "GetConfiguration": {"key": ["HeartbeatInterval"]},
    "ChangeConfiguration": {"key": "HeartbeatInterval", "value": "300"},
    "ChangeAvailability": {"connectorId": 1, "type": "Inoperative"},
    "UnlockConnector": {"connectorId": 1},
}
COMMANDS_2: dict[str, Payload] = {
    "Reset": {"type": "OnIdle"},
    "RequestStartTransaction": {
        "idToken": {"idToken": "TAG-0001", "type": "ISO14443"},
        "remoteStartId": 1,
        "evseId": 1,
    },
    "TriggerMessage": {"requestedMessage": "Heartbeat"},
    "GetVariables": {
        "getVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
        ]
    },
    "SetVariables": {
        "setVariableData": [
            {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
                "attributeValue": "300",
            }
        ]
    },
    "ChangeAvailability": {"operationalStatus": "Inoperative", "evse": {"id": 1}},
    "UnlockConnector": {"evseId": 1, "connectorId": 1},
}
TRANSACTION_ACTIONS = {"StartTransaction", "StopTransaction", "TransactionEvent"}
STOP_COMMANDS = {"RemoteStopTransaction", "RequestStopTransaction"}


def command_payload(protocol: str, action: str, transaction_id: Any = None) -> Payload:
    """A valid ``action`` request (a stop names ``transaction_id``)."""
    if action == "RemoteStopTransaction":
        return {"transactionId": transaction_id}
    if action == "RequestStopTransaction":
        return {"transactionId": transaction_id}
    return (COMMANDS_16 if protocol == "ocpp1.6" else COMMANDS_2)[action]


def started_transaction(action: str, params: Payload, answer: Payload) -> Any:
    """The CSMS's id of the transaction a message started, if it started one."""
    if action == "StartTransaction":
        return answer.get("transactionId")
    if action == "TransactionEvent" and params.get("eventType") == "Started":
        return params["transactionInfo"]["transactionId"]
    return None


class ScriptedCSMS:
    """A CSMS on loopback: valid answers to everything a station sends, ``commands``
    sent after each accepted boot (a stop command once a transaction started), and one
    ``fault`` (see :data:`FAULTS`)."""

    def __init__(self, protocol: str, fault: str | None = None) -> None:
        self.protocol = protocol
        self.fault = fault
        self.boot_status = {"pending": "Pending", "rejected": "Rejected"}.get(
            (fault or "").split("-")[0], "Accepted"
        )
        if fault in ("pending-ok", "rejected-ok"):
            self.fault = None
        self.commands: list[str] = []
        lenient = fault == "lenient"
        self.server = OCPPServer(
            protocols=[protocol],
            strict_mode=not lenient,
            call_concurrency=2 if fault == "two-calls" else 1,
        )
        self.ids = itertools.count(101)
        self.seen: dict[str, int] = {}  # connections per identity
        self.tasks: set[asyncio.Task[Any]] = set()
        self.server.on("client", self._attach)

    @property
    def v16(self) -> bool:
        return self.protocol == "ocpp1.6"

    async def start(self) -> str:
        port = await self.server.listen(0, "127.0.0.1")
        return f"ws://127.0.0.1:{port}/ocpp"

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.close()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _attach(self, client: Any) -> None:
        identity = client.identity
        self.seen[identity] = self.seen.get(identity, 0) + 1
        state = {"booted": False, "reconnected": self.seen[identity] > 1}
        if self.fault in ("not-json-wrong-id", "type7-answered"):
            client.on("bad_message", lambda event: self._bad(client, event))

        def handler(action: str, ctx: HandlerContext) -> Any:
            return self._answer(client, state, action, ctx)

        client.handle(handler)

    def _bad(self, client: Any, event: Any) -> None:
        """Answer a bad frame wrongly, before the library's own answer."""
        try:
            frame = json.loads(event.message)
        except ValueError:
            frame = None
        if self.fault == "not-json-wrong-id" and frame is None:
            text = json.dumps([4, "not-minus-one", "RpcFrameworkError", "", {}])
        elif self.fault == "type7-answered" and isinstance(frame, list) and frame[:1] == [7]:
            kind = 4 if self.protocol == "ocpp2.1" else 3
            extra = ["MessageTypeNotSupported", "", {}] if kind == 4 else [{}]
            text = json.dumps([kind, frame[1], *extra])
        else:
            return
        client._transport.send_now(text)  # at once: ahead of the library's reply

    def _raw(self, client: Any, ctx: HandlerContext, payload: Any) -> Any:
        """Answer with ``payload`` as written (no strict check on the way out)."""
        self._spawn(client.send_raw(json.dumps([3, ctx.message_id, payload])))
        return NOREPLY

    def _answer(self, client: Any, state: dict[str, Any], action: str, ctx: HandlerContext) -> Any:
        fault, params = self.fault, ctx.params
        if action == "BootNotification":
            return self._boot(client, state, ctx)
        if fault == "no-resume" and not state["booted"]:
            raise RPCSecurityError("boot first")
        if fault == "unknown-action-ok" and action == "FooBarUnknownAction":
            return {}
        replayed = params.get("offline") or (self.v16 and state["reconnected"])
        if fault == "offline-refused" and action in TRANSACTION_ACTIONS and replayed:
            raise RPCInternalError("no offline transactions here")
        if action == "Heartbeat":
            if fault == "heartbeat-no-time":
                return self._raw(client, ctx, {})
            if fault == "slow":
                return self._later({"currentTime": now()}, 1.0)
            return {"currentTime": now()}
        if action == "StatusNotification":
            if fault == "status-error":
                raise RPCInternalError("cannot store statuses")
            return {}
        if action == "Authorize":
            if fault == "authorize-bad":
                key = "idTagInfo" if self.v16 else "idTokenInfo"
                return self._raw(client, ctx, {key: {"status": "Yes"}})
            return {"idTagInfo" if self.v16 else "idTokenInfo": {"status": "Accepted"}}
        if action == "StartTransaction":
            if fault == "start-no-id":
                return self._raw(client, ctx, {"idTagInfo": {"status": "Accepted"}})
            answer = {"transactionId": next(self.ids), "idTagInfo": {"status": "Accepted"}}
            self._after_start(client, action, params, answer)
            return answer
        if action == "StopTransaction":
            return {"idTagInfo": {"status": "Accepted"}}
        if action == "TransactionEvent":
            if fault == "tx-event-error":
                raise RPCInternalError("cannot store transactions")
            self._after_start(client, action, params, {})
            return {"idTokenInfo": {"status": "Accepted"}} if "idToken" in params else {}
        if action not in known_actions(self.protocol):
            raise RPCNotImplementedError(f"{action} is not an action of {self.protocol}")
        return {}  # MeterValues, notifications

    async def _later(self, answer: Payload, seconds: float) -> Payload:
        await asyncio.sleep(seconds)
        return answer

    def _boot(self, client: Any, state: dict[str, Any], ctx: HandlerContext) -> Any:
        fault = self.fault
        boots = state["boots"] = state.get("boots", 0) + 1
        status = self.boot_status
        if fault == "pending-error" and boots > 1:
            raise RPCInternalError("not now")
        answer = {
            "status": status,
            "currentTime": now(),
            "interval": 1 if status != "Accepted" else 300,
        }
        if fault == "boot-no-interval":
            return self._raw(client, ctx, {"status": "Accepted", "currentTime": now()})
        if status == "Accepted":
            state["booted"] = True
            self._spawn(self._send_commands(client))
        elif fault == "rejected-call":
            action = "GetConfiguration" if self.v16 else "GetVariables"
            self._spawn(self._send(client, action, command_payload(self.protocol, action)))
        return answer

    async def _send_commands(self, client: Any) -> None:
        actions = [a for a in self.commands if a not in STOP_COMMANDS]
        if self.fault == "two-calls" or (self.fault is None and self.commands == ["two"]):
            action = "TriggerMessage"
            payload = command_payload(self.protocol, action)
            first = self._send(client, action, payload)
            if self.fault == "two-calls":  # both at once
                await asyncio.gather(first, self._send(client, action, payload))
            else:
                await first
                await self._send(client, action, payload)
            return
        for action in actions:
            await self._send(client, action, command_payload(self.protocol, action))

    def _after_start(self, client: Any, action: str, params: Payload, answer: Payload) -> None:
        transaction_id = started_transaction(action, params, answer)
        stops = [a for a in self.commands if a in STOP_COMMANDS]
        if transaction_id is not None and stops:
            self._spawn(
                self._send(
                    client, stops[0], command_payload(self.protocol, stops[0], transaction_id)
                )
            )

    async def _send(self, client: Any, action: str, payload: Payload) -> None:
        if self.fault == "bad-commands":
            await client.send_raw(json.dumps([2, f"bad-{action}", action, {"bogus": True}]))
            return
        with contextlib.suppress(Exception):  # the station's answer is the case's business
            await client.call(action, payload, timeout_ms=5000)


Make = Callable[..., Awaitable[tuple[ScriptedCSMS, Settings]]]


@pytest.fixture
async def scripted() -> AsyncIterator[Make]:
    """``await scripted(protocol, fault=None, commands=[])``: a ScriptedCSMS listening,
    and pack settings pointing at it."""
    made: list[ScriptedCSMS] = []

    async def make(
        protocol: str, fault: str | None = None, commands: list[str] | None = None, **settings: Any
    ) -> tuple[ScriptedCSMS, Settings]:
        csms = ScriptedCSMS(protocol, fault)
        csms.commands = commands or []
        made.append(csms)
        url = await csms.start()
        options: dict[str, Any] = {"timeout_s": TIMEOUT_S, "response_limit_s": 0.5, **settings}
        return csms, Settings(csms=url, protocol=protocol, **options)

    yield make
    for csms in made:
        await csms.close()
