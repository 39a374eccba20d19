"""MessageLog: frames classified as the engine's parser classifies them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from browser_ocpp.console.model.message_log import MessageLog, matches, strict_response_check


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_log(protocol: str = "ocpp1.6", strict: bool = True) -> tuple[MessageLog, Clock]:
    clock = Clock()
    log = MessageLog(perf=clock, wall=lambda: 1_700_000_000.0)
    log.connected(protocol, strict_response_check(protocol, lambda _action: strict))
    return log, clock


def frame(*items: Any) -> str:
    return json.dumps(list(items))


def test_a_call_and_its_result_are_matched_with_the_round_trip() -> None:
    log, clock = make_log()
    call = log.add(frame(2, "a1", "Heartbeat", {}), outbound=True)
    clock.now += 0.25
    result = log.add(frame(3, "a1", {"currentTime": "2024-01-01T00:00:00Z"}), outbound=False)
    assert (call.kind, call.label, call.action) == ("call", "CALL", "Heartbeat")
    assert (result.kind, result.label, result.action) == ("result", "RESULT", "Heartbeat")
    assert result.rtt_ms == pytest.approx(250)
    assert result.problem is None


@pytest.mark.parametrize(
    ("protocol", "code"),
    [("ocpp1.6", "PropertyConstraintViolation"), ("ocpp2.0.1", "PropertyConstraintViolation")],
)
def test_a_result_strict_mode_refuses_is_an_invalid_row_with_the_reason(
    protocol: str, code: str
) -> None:
    log, _ = make_log(protocol)
    payload: dict[str, Any] = {"status": "Bogus", "currentTime": "2024-01-01T00:00:00Z"}
    payload["interval"] = 300
    if protocol == "ocpp1.6":
        request = {"chargePointVendor": "V", "chargePointModel": "M"}
    else:
        request = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}
    log.add(frame(2, "b1", "BootNotification", request), outbound=True)
    entry = log.add(frame(3, "b1", payload), outbound=False)
    assert entry.kind == "invalid"
    assert entry.label == "RESULT"
    assert entry.problem is not None and code in entry.problem and "status" in entry.problem
    assert entry.problem in entry.summary()
    assert entry.to_json()["kind"] == "invalid"


def test_a_missing_field_uses_the_versions_own_error_name() -> None:
    log, _ = make_log("ocpp1.6")
    log.add(frame(2, "h1", "Heartbeat", {}), outbound=True)
    entry = log.add(frame(3, "h1", {}), outbound=False)
    assert entry.kind == "invalid"
    assert entry.problem is not None and "OccurenceConstraintViolation" in entry.problem


def test_with_strict_off_the_same_result_is_a_result() -> None:
    log, _ = make_log(strict=False)
    log.add(frame(2, "h1", "Heartbeat", {}), outbound=True)
    assert log.add(frame(3, "h1", {}), outbound=False).kind == "result"


def test_our_own_results_are_not_checked_as_the_csmss() -> None:
    log, _ = make_log()
    log.add(frame(2, "c1", "Reset", {"type": "Soft"}), outbound=False)
    assert log.add(frame(3, "c1", {}), outbound=True).kind == "result"


@pytest.mark.parametrize(
    ("protocol", "text", "code"),
    [
        ("ocpp1.6", '[2,"x","Heartbeat",{', "FormationViolation"),
        ("ocpp2.0.1", '[2,"x","Heartbeat",{', "RpcFrameworkError"),
        ("ocpp1.6", '{"not": "an array"}', "FormationViolation"),
        ("ocpp2.0.1", '[7,"x","Heartbeat",{}]', "MessageTypeNotSupported"),
        ("ocpp1.6", '[7,"x","Heartbeat",{}]', "GenericError"),
        ("ocpp2.0.1", '[2,"x","Heartbeat",[]]', "FormatViolation"),
    ],
)
def test_frames_the_engine_refuses_are_bad_with_its_verdict(
    protocol: str, text: str, code: str
) -> None:
    log, _ = make_log(protocol)
    entry = log.add(text, outbound=True)
    assert (entry.kind, entry.label) == ("bad", "BAD")
    assert entry.problem is not None and entry.problem.startswith(code)


def test_an_unreadable_frame_keeps_its_text_and_an_action_where_one_can_be_read() -> None:
    log, _ = make_log()
    entry = log.add('[2,"x","Heartbeat",{', outbound=True)
    assert entry.frame is None and entry.pretty() == '[2,"x","Heartbeat",{'
    assert log.add('[2,"y","Heartbeat",7]', outbound=True).action == "Heartbeat"


def test_a_second_call_with_an_open_id_is_flagged_as_a_duplicate() -> None:
    log, _ = make_log()
    first = log.add(frame(2, "dup", "Heartbeat", {}), outbound=True)
    second = log.add(frame(2, "dup", "Heartbeat", {}), outbound=True)
    assert first.kind == "call"
    assert second.kind == "bad" and "duplicate message id" in (second.problem or "")


def test_an_answer_to_an_unknown_id_is_bad() -> None:
    log, _ = make_log()
    entry = log.add(frame(3, "nobody", {}), outbound=False)
    assert entry.kind == "bad"
    assert entry.problem == "response to unknown message id 'nobody'"


def test_a_callerror_is_an_error_row_with_code_and_description() -> None:
    log, _ = make_log()
    log.add(frame(2, "e1", "DataTransfer", {"vendorId": "X"}), outbound=True)
    entry = log.add(frame(4, "e1", "NotImplemented", "no such thing", {}), outbound=False)
    assert (entry.kind, entry.label, entry.action) == ("error", "ERROR", "DataTransfer")
    assert entry.problem == "NotImplemented: no such thing"


def test_mark_bad_flags_the_received_row() -> None:
    log, _ = make_log()
    log.add(frame(2, "k", "Reset", {"type": "Soft"}), outbound=False)
    entry = log.mark_bad(frame(2, "k", "Reset", {"type": "Soft"}), "FormationViolation: x")
    assert entry is not None and entry.kind == "bad" and entry.problem == "FormationViolation: x"
    assert log.mark_bad("never seen", "x") is None


def test_a_send_on_21_is_never_waited_for() -> None:
    log, _ = make_log("ocpp2.1")
    payload = {"id": 1, "pending": 0, "basetime": "2024-01-01T00:00:00Z", "data": []}
    entry = log.add(frame(6, "s1", "NotifyPeriodicEventStream", payload), outbound=True)
    assert (entry.kind, entry.label) == ("call", "SEND")
    assert log.add(frame(3, "s1", {}), outbound=False).kind == "bad"


def test_bounded_filtered_and_exported() -> None:
    log, _ = make_log()
    log.max_entries = 3
    for i in range(5):
        log.add(frame(2, f"m{i}", "Heartbeat" if i % 2 else "Authorize", {}), outbound=i % 2 == 0)
    assert [e.message_id for e in log.entries] == ["m2", "m3", "m4"] and log.dropped == 2
    assert [e.message_id for e in log.matching("heart", "all")] == ["m3"]
    assert [e.message_id for e in log.matching("", "out")] == ["m2", "m4"]
    assert not matches(log.entries[0], "", "in")
    exported = json.loads(log.export({"identity": "CP"}))
    assert exported["identity"] == "CP" and len(exported["messages"]) == 3
    assert exported["messages"][0]["time"] == "2023-11-14T22:13:20.000Z"
    log.clear()
    assert log.entries == [] and log.dropped == 0


def test_a_new_connection_forgets_open_calls() -> None:
    log, _ = make_log()
    log.add(frame(2, "o1", "Heartbeat", {}), outbound=True)
    log.connected("ocpp1.6", None)
    assert log.add(frame(3, "o1", {}), outbound=False).kind == "bad"
