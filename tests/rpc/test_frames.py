"""Frames: encoding, and a verdict for every way a frame can be bad."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from browser_ocpp.rpc import (
    BadMessage,
    Call,
    CallError,
    CallResult,
    CallResultError,
    MessageType,
    RPCFormationViolationError,
    RPCFrameworkError,
    RPCGenericError,
    RPCMessageTypeNotSupportedError,
    Send,
    encode,
    parse,
)

pytestmark = pytest.mark.usefixtures("json_codec")  # every test with each JSON codec

V16, V201, V21 = "ocpp1.6", "ocpp2.0.1", "ocpp2.1"
ALL = (V16, V201, V21)


@pytest.mark.parametrize("protocol", ALL)
@pytest.mark.parametrize(
    ("text", "frame"),
    [
        ('[2,"a","Heartbeat",{}]', Call("a", "Heartbeat", {})),
        ('[2,"a","Heartbeat",null]', Call("a", "Heartbeat", {})),
        ('[3,"a",{"x":1}]', CallResult("a", {"x": 1})),
        ('[4,"a","NotSupported","no",{}]', CallError("a", "NotSupported", "no", {})),
        ('[4,"-1","RpcFrameworkError","",null]', CallError("-1", "RpcFrameworkError", "", {})),
        ('[2,"' + "x" * 36 + '","A",{}]', Call("x" * 36, "A", {})),
    ],
)
def test_well_formed_frames(protocol: str, text: str, frame: Any) -> None:
    assert parse(text, protocol) == frame


def test_21_message_types() -> None:
    assert parse('[5,"a","FormatViolation","bad",{}]', V21) == CallResultError(
        "a", "FormatViolation", "bad", {}
    )
    assert parse('[6,"a","NotifyPeriodicEventStream",{"id":1}]', V21) == Send(
        "a", "NotifyPeriodicEventStream", {"id": 1}
    )


# (protocol, text, error class, wire code, message id, reply type)
VERDICTS: list[tuple[str, Any, type[Exception], str, str, MessageType | None]] = [
    # Unreadable: not JSON, not an array, no integer type, no readable id.
    (V16, "{", RPCFrameworkError, "FormationViolation", "-1", MessageType.CALLERROR),
    (V201, "{", RPCFrameworkError, "RpcFrameworkError", "-1", MessageType.CALLERROR),
    (V21, "{", RPCFrameworkError, "RpcFrameworkError", "-1", MessageType.CALLERROR),
    (V201, "NaN", RPCFrameworkError, "RpcFrameworkError", "-1", MessageType.CALLERROR),
    (
        V201,
        '[2,"a","X",{"v":Infinity}]',
        RPCFrameworkError,
        "RpcFrameworkError",
        "-1",
        MessageType.CALLERROR,
    ),
    (V201, '{"a":1}', RPCFrameworkError, "RpcFrameworkError", "-1", MessageType.CALLERROR),
    (V201, "[]", RPCFrameworkError, "RpcFrameworkError", "-1", MessageType.CALLERROR),
    (V201, '"text"', RPCFrameworkError, "RpcFrameworkError", "-1", MessageType.CALLERROR),
    (V201, '["2","a","X",{}]', RPCFrameworkError, "RpcFrameworkError", "-1", MessageType.CALLERROR),
    (
        V201,
        '[true,"a","X",{}]',
        RPCFrameworkError,
        "RpcFrameworkError",
        "-1",
        MessageType.CALLERROR,
    ),
    (V201, '[2.0,"a","X",{}]', RPCFrameworkError, "RpcFrameworkError", "-1", MessageType.CALLERROR),
    (V201, '[2,1,"X",{}]', RPCFrameworkError, "RpcFrameworkError", "-1", MessageType.CALLERROR),
    (V201, '[2,"","X",{}]', RPCFrameworkError, "RpcFrameworkError", "-1", MessageType.CALLERROR),
    (
        V201,
        '[2,"' + "x" * 37 + '","X",{}]',
        RPCFrameworkError,
        "RpcFrameworkError",
        "-1",
        MessageType.CALLERROR,
    ),
    (V16, "[2]", RPCFrameworkError, "FormationViolation", "-1", MessageType.CALLERROR),
    (V201, b"[2]", RPCFrameworkError, "RpcFrameworkError", "-1", MessageType.CALLERROR),
    # A response or error with an unreadable id is never answered.
    (V201, "[3,7,{}]", RPCFrameworkError, "RpcFrameworkError", "-1", None),
    (V201, '[4,null,"X","",{}]', RPCFrameworkError, "RpcFrameworkError", "-1", None),
    # Unknown message types, per version.
    (V16, '[5,"a","X","",{}]', RPCGenericError, "GenericError", "a", MessageType.CALLERROR),
    (V16, '[6,"a","X",{}]', RPCGenericError, "GenericError", "a", MessageType.CALLERROR),
    (
        V201,
        '[5,"a","X","",{}]',
        RPCMessageTypeNotSupportedError,
        "MessageTypeNotSupported",
        "a",
        MessageType.CALLERROR,
    ),
    (
        V201,
        "[8,7]",
        RPCMessageTypeNotSupportedError,
        "MessageTypeNotSupported",
        "-1",
        MessageType.CALLERROR,
    ),
    (V21, '[7,"a",{}]', RPCMessageTypeNotSupportedError, "MessageTypeNotSupported", "a", None),
    (V21, "[0]", RPCMessageTypeNotSupportedError, "MessageTypeNotSupported", "-1", None),
    # Malformed CALL: answered with the readable id.
    (V201, '[2,"a","X"]', RPCFrameworkError, "RpcFrameworkError", "a", MessageType.CALLERROR),
    (V201, '[2,"a","X",{},1]', RPCFrameworkError, "RpcFrameworkError", "a", MessageType.CALLERROR),
    (V201, '[2,"a",5,{}]', RPCFrameworkError, "RpcFrameworkError", "a", MessageType.CALLERROR),
    (V201, '[2,"a","",{}]', RPCFrameworkError, "RpcFrameworkError", "a", MessageType.CALLERROR),
    (
        V201,
        '[2,"a","X",[]]',
        RPCFormationViolationError,
        "FormatViolation",
        "a",
        MessageType.CALLERROR,
    ),
    (
        V16,
        '[2,"a","X",[]]',
        RPCFormationViolationError,
        "FormationViolation",
        "a",
        MessageType.CALLERROR,
    ),
    (V16, '[2,"a","X"]', RPCFrameworkError, "FormationViolation", "a", MessageType.CALLERROR),
    # Malformed CALLRESULT: only 2.1 answers, with CALLRESULTERROR.
    (V16, '[3,"a"]', RPCFrameworkError, "FormationViolation", "a", None),
    (V201, '[3,"a",[]]', RPCFormationViolationError, "FormatViolation", "a", None),
    (
        V21,
        '[3,"a",[]]',
        RPCFormationViolationError,
        "FormatViolation",
        "a",
        MessageType.CALLRESULTERROR,
    ),
    (
        V21,
        '[3,"a",{},{}]',
        RPCFrameworkError,
        "RpcFrameworkError",
        "a",
        MessageType.CALLRESULTERROR,
    ),
    # Malformed CALLERROR / CALLRESULTERROR / SEND: never answered.
    (V201, '[4,"a","X",""]', RPCFrameworkError, "RpcFrameworkError", "a", None),
    (V201, '[4,"a",1,"",{}]', RPCFrameworkError, "RpcFrameworkError", "a", None),
    (V201, '[4,"a","X","",[]]', RPCFormationViolationError, "FormatViolation", "a", None),
    (V21, '[5,"a","X",""]', RPCFrameworkError, "RpcFrameworkError", "a", None),
    (V21, '[6,"a","X"]', RPCFrameworkError, "RpcFrameworkError", "a", None),
    (V21, '[6,"a","X",7]', RPCFormationViolationError, "FormatViolation", "a", None),
]


@pytest.mark.parametrize(("protocol", "text", "error", "code", "message_id", "reply"), VERDICTS)
def test_bad_message_verdicts(
    protocol: str,
    text: Any,
    error: type[Exception],
    code: str,
    message_id: str,
    reply: MessageType | None,
) -> None:
    verdict = parse(text, protocol)
    assert isinstance(verdict, BadMessage)
    assert type(verdict.error) is error
    assert (verdict.error_code, verdict.message_id, verdict.reply_type) == (code, message_id, reply)
    assert verdict.reply is (reply is not None)
    frame = verdict.reply_frame()
    if reply is None:
        assert frame is None
    else:
        wire = json.loads(encode(frame))  # type: ignore[arg-type]
        assert wire[:3] == [int(reply), message_id, code]
        assert isinstance(wire[3], str) and wire[4] == {}
        if isinstance(text, str):
            assert text not in wire[3]  # the bad frame is never echoed back


def test_encode_frames() -> None:
    assert encode(Call("a", "Heartbeat", {})) == '[2,"a","Heartbeat",{}]'
    assert encode(CallResult("a", {"k": "é"})) == '[3,"a",{"k":"é"}]'
    assert encode(CallError("a", "GenericError")) == '[4,"a","GenericError","",{}]'
    assert encode(CallResultError("a", "FormatViolation", "x", {"d": 1})) == (
        '[5,"a","FormatViolation","x",{"d":1}]'
    )
    assert encode(Send("a", "N", {})) == '[6,"a","N",{}]'


def test_encode_truncates_description_to_255() -> None:
    wire = json.loads(encode(CallError("a", "GenericError", "x" * 400)))
    assert len(wire[3]) == 255


def test_encode_refuses_nan() -> None:
    with pytest.raises(ValueError, match="JSON"):
        encode(Call("a", "X", {"v": float("nan")}))


def test_unknown_subprotocol_uses_201_framing() -> None:
    verdict = parse('[5,"a","X","",{}]', "ocpp9")
    assert isinstance(verdict, BadMessage)
    assert verdict.error_code == "MessageTypeNotSupported"
    assert parse('[2,"a","X",{}]', None) == Call("a", "X", {})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=20,
)
frame_like = st.tuples(
    st.integers(min_value=-1, max_value=9) | json_values,
    st.text(max_size=40) | json_values,
).flatmap(lambda head: st.lists(json_values, max_size=4).map(lambda tail: [*head, *tail]))


def _check(result: object, protocol: str) -> None:
    if isinstance(result, BadMessage):
        assert result.message_id == "-1" or 0 < len(result.message_id) <= 36
        frame = result.reply_frame()
        if frame is not None:
            wire = json.loads(encode(frame))
            assert wire[0] in (4, 5) and len(wire) == 5
            assert isinstance(wire[2], str) and isinstance(wire[3], str) and len(wire[3]) <= 255
            assert isinstance(wire[4], dict)
    else:
        assert isinstance(result, Call | CallResult | CallError | CallResultError | Send)
        assert 0 < len(result.message_id) <= 36
        json.loads(encode(result))  # a parsed frame encodes again


@pytest.mark.parametrize("protocol", ALL)
@given(text=st.text(max_size=200))
def test_fuzz_any_text_gives_a_frame_or_a_verdict(protocol: str, text: str) -> None:
    _check(parse(text, protocol), protocol)


@pytest.mark.parametrize("protocol", ALL)
@given(message=frame_like)
def test_fuzz_frame_shaped_json_gives_a_frame_or_a_verdict(protocol: str, message: Any) -> None:
    _check(parse(json.dumps(message), protocol), protocol)


@given(depth=st.integers(min_value=1, max_value=200_000))
def test_deep_nesting_does_not_escape(depth: int) -> None:
    _check(parse("[" * depth + "]" * depth, V201), V201)
