"""The RPC framework as the CSMS keeps it: errors for unknown actions, malformed
payloads and unknown message types, one outstanding CALL, answers in time."""

from __future__ import annotations

import json
import statistics
import uuid
from typing import Any

from ..api import Bench, scenario
from ..verdicts import FrameRecord
from .common import V2, accepted_station, code

__all__ = [
    "malformed_payload",
    "not_json",
    "one_outstanding_call",
    "response_times",
    "unknown_action",
    "unknown_message_type",
    "wrong_type",
]


@scenario(
    "RPC-UNKNOWN-ACTION",
    title="An unknown action is answered CALLERROR NotImplemented",
    clause="OCPP-J 1.6 4.2.3 Table 7, 2.0.1 Part 4 4.1.7 and 4.3 (NotImplemented: "
    "action not known)",
)
async def unknown_action(bench: Bench) -> None:
    station = await accepted_station(bench)
    async with bench.step("CALL FooBarUnknownAction"):
        reply = await station.send_call("FooBarUnknownAction", {})
        bench.expect_error(reply, ["NotImplemented"], "an unknown action")


@scenario(
    "RPC-MISSING-FIELD",
    title="A payload missing required fields is answered with a CALLERROR",
    clause="OCPP-J 1.6 4.2.3 (OccurenceConstraintViolation, FormationViolation, "
    "ProtocolError), 2.0.1 Part 4 4.1.7 (server SHALL respond with a CALLERROR) and 4.3",
)
async def malformed_payload(bench: Bench) -> None:
    station = await accepted_station(bench)
    async with bench.step("StatusNotification without its required fields"):
        reply = await station.send_call("StatusNotification", {})
        codes = ["OccurrenceConstraintViolation", "FormatViolation", "ProtocolError"]
        bench.expect_error(reply, [code(bench, c) for c in codes], "a payload missing fields")


@scenario(
    "RPC-WRONG-TYPE",
    title="A field of the wrong type is answered with a CALLERROR",
    clause="OCPP-J 1.6 4.2.3 (TypeConstraintViolation), 2.0.1 Part 4 4.1.7 (data of the "
    "correct type) and 4.3",
)
async def wrong_type(bench: Bench) -> None:
    station = await accepted_station(bench)
    async with bench.step("BootNotification with a number for a string"):
        payload = bench.boot_payload()
        if bench.v16:
            payload["chargePointVendor"] = 12
        else:
            payload["chargingStation"]["vendorName"] = 12
        reply = await station.send_call("BootNotification", payload)
        codes = ["TypeConstraintViolation", "FormatViolation", "PropertyConstraintViolation"]
        bench.expect_error(reply, [code(bench, c) for c in codes], "a field of the wrong type")


@scenario(
    "RPC-NOT-JSON",
    title='A frame that is not JSON: no echo; a CALLERROR carries id "-1"',
    clause='2.0.1 Part 4 4.2.3 (MessageId unreadable: "-1"; no invalid JSON echoed; '
    "dropping allowed), 4.3 RpcFrameworkError",
    protocols=V2,
)
async def not_json(bench: Bench) -> None:
    station = await accepted_station(bench)
    async with bench.step("A CALL cut short"):
        start = len(bench.log.records)
        await station.station.faults.send_malformed()
        heartbeat = await station.call("Heartbeat", {})  # answered after any error reply
        bench.expect_result("Heartbeat", heartbeat)
        errors = [
            r
            for r in bench.log.since(start)
            if r.direction == "in" and isinstance(r.message, list) and r.message[:1] == [4]
        ]
        if not errors:
            bench.inconclusive("the CSMS dropped the frame (allowed by 4.2.3)", heartbeat.frames)
        bench.expect(
            errors[0].message[1] == "-1",
            f'the CALLERROR carries id {errors[0].message[1]!r}, not "-1"',
            errors,
        )


@scenario(
    "RPC-UNKNOWN-TYPE",
    title="A message type the version lacks: 2.0.1 MessageTypeNotSupported, 2.1 ignored",
    clause="2.0.1 Part 4 4.4 (CALLERROR MessageTypeNotSupported); 2.1 Part 4 4.1.3 and "
    "4.4 (SHALL ignore); 1.6 OCPP-J 4.1.3 (ignore the payload)",
)
async def unknown_message_type(bench: Bench) -> None:
    station = await accepted_station(bench)
    async with bench.step("Message type 7, then a Heartbeat"):
        message_id = str(uuid.uuid4())
        await station.send(json.dumps([7, message_id, "Heartbeat", {}]))
        heartbeat = await station.call("Heartbeat", {})
        bench.expect_result("Heartbeat", heartbeat)  # the connection is still good
        reply = await station.log.reply(station.identity, message_id, 0)
        if bench.protocol == "ocpp2.0.1":
            bench.expect_error(reply, ["MessageTypeNotSupported"], "message type 7")
        elif bench.protocol == "ocpp2.1":
            bench.expect(
                reply.kind == "none", f"2.1 ignores it, but got {reply.describe()}", reply.frames
            )
        else:
            bench.expect(reply.kind != "result", "answered with a CALLRESULT", reply.frames)


@scenario(
    "RPC-ONE-CALL",
    title="The CSMS keeps to one outstanding CALL per connection",
    clause="OCPP-J 1.6 4.1.1 (SHOULD NOT), 2.0.1/2.1 Part 4 4.1.1 Synchronicity (SHALL NOT)",
)
async def one_outstanding_call(bench: Bench) -> None:
    delay_s = min(1.0, bench.timeout_s / 2)  # well inside any CSMS's call timeout
    station = await accepted_station(bench, reply_delay_s=delay_s)
    calls: list[FrameRecord] = []
    async with bench.step(f"CSMS calls, each answered after {delay_s:g} s"):
        start = 0
        deadline = bench.log.now() + bench.timeout_s
        while len(calls) < 2 and (left := deadline - bench.log.now()) > 0:
            record = await bench.log.wait_for(_csms_call, left, start)
            if record is None:
                break
            start = bench.log.records.index(record) + 1
            for earlier in calls:  # still unanswered when this one came?
                answer = bench.log.find(_answer_to(earlier), 0)
                if answer is None or answer.t > record.t:
                    bench.fail(
                        "the CSMS sent a CALL while its previous CALL was unanswered",
                        [earlier, record],
                    )
            calls.append(record)
        if len(calls) < 2:
            bench.inconclusive(
                f"the CSMS sent {len(calls)} CALL(s) in {bench.timeout_s:g} s: "
                "two are needed to check (send commands from the CSMS during the check)",
                calls,
            )
        last = await station.log.wait_for(_answer_to(calls[-1]), delay_s + bench.timeout_s)
        frames = [*calls, *([last] if last is not None else [])]
        bench.passed("two CALLs, the second after the first was answered", frames)
    station.faults.clear()


def _csms_call(record: FrameRecord, frame: list[Any] | None) -> bool:
    return record.direction == "in" and frame is not None and len(frame) > 2 and frame[0] == 2


def _answer_to(call: FrameRecord) -> Any:
    message_id = call.message[1]

    def match(record: FrameRecord, frame: list[Any] | None) -> bool:
        return (
            record.direction == "out"
            and frame is not None
            and frame[0] in (3, 4)
            and len(frame) > 1
            and frame[1] == message_id
        )

    return match


@scenario(
    "RPC-RESPONSE-TIME",
    title="The CSMS answers each CALL within the response limit",
    clause="OCPP-J 1.6 4.1.1, 2.0.1/2.1 Part 4 4.1.1 (a CALL is answered or times out; "
    "the limit is --response-limit)",
)
async def response_times(bench: Bench) -> None:
    station = await accepted_station(bench)
    limit = bench.settings.response_limit_s
    async with bench.step(f"Five Heartbeats, each answered within {limit:g} s"):
        times = []
        for _ in range(5):
            reply = await station.call("Heartbeat", {}, within=limit)
            bench.expect(
                reply.kind != "none", f"a Heartbeat not answered within {limit:g} s", reply.frames
            )
            bench.expect_result("Heartbeat", reply)
            assert reply.round_trip_s is not None
            times.append(reply.round_trip_s)
        slowest = max(times)
        bench.passed(
            f"median {statistics.median(times) * 1000:.1f} ms, slowest {slowest * 1000:.1f} ms"
        )
