"""The sans-I/O session: each row is a state and a frame received, and the event, the
reply and the decision it gives; then random and mutated frames in random order."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from browser_ocpp.rpc import (
    Call,
    CallError,
    CallResult,
    CallResultError,
    RPCFormatViolationError,
    RPCGenericError,
    Send,
)
from browser_ocpp.rpc.session import (
    CLOSE_TOO_MANY_BAD_MESSAGES,
    LATE_IDS_REMEMBERED,
    Answered,
    Late,
    Refused,
    Reply,
    Session,
)

V16, V201, V21 = "ocpp1.6", "ocpp2.0.1", "ocpp2.1"


@dataclass(frozen=True)
class Entry:
    """A stand-in for the peer's pending entry (future and timer): opaque to the session."""

    name: str


P1 = Entry("p1")


def session_in(
    protocol: str,
    *,
    pending: tuple[str, ...] = ("p1",),
    late: tuple[str, ...] = ("old",),
    inbound: tuple[str, ...] = ("busy",),
    bad: int = 0,
    limit: float = math.inf,
) -> Session[Entry]:
    """A session open on ``protocol`` with calls awaiting answers, ids that timed out,
    calls being handled and bad messages already counted."""
    session: Session[Entry] = Session(limit)
    session.open(protocol)
    for message_id in pending:
        session.track(message_id, P1 if message_id == "p1" else Entry(message_id))
    for message_id in late:
        session.timed_out(message_id)
    for message_id in inbound:
        session.begin(message_id, object())
    session.bad_messages = bad
    return session


def describe(event: Any) -> tuple[str, str | None, str | None, bool]:
    """(event kind, reply text, pending entry's name, close) of an event."""
    if isinstance(event, Refused):
        reply = event.reply.text if event.reply is not None else None
        pending = event.pending.name if event.pending is not None else None
        return "Refused", reply, pending, event.close
    if isinstance(event, Answered):
        return "Answered", None, event.pending.name, False
    return type(event).__name__, None, None, False


DUPLICATE = "a call with message id 'busy' is already being handled"
NOT_JSON = "message is not valid JSON"

# (protocol, state, text received) -> (event, reply sent, pending entry given back, close)
ROWS: list[tuple[str, dict[str, Any], str, tuple[str, str | None, str | None, bool]]] = [
    # CALL: to a handler, unless its id is still being handled.
    (V16, {}, '[2,"new","Heartbeat",{}]', ("Call", None, None, False)),
    (V21, {}, '[2,"new","Heartbeat",{}]', ("Call", None, None, False)),
    (
        V16,
        {},
        '[2,"busy","Heartbeat",{}]',
        ("Refused", f'[4,"busy","GenericError","{DUPLICATE}",{{}}]', None, False),
    ),
    (
        V201,
        {},
        '[2,"busy","Heartbeat",{}]',
        ("Refused", f'[4,"busy","RpcFrameworkError","{DUPLICATE}",{{}}]', None, False),
    ),
    # Answers: to the pending call; late ones ignored; others bad, never answered.
    (V201, {}, '[3,"p1",{}]', ("Answered", None, "p1", False)),
    (V201, {}, '[4,"p1","NotSupported","",{}]', ("Answered", None, "p1", False)),
    (V21, {}, '[4,"p1","NotSupported","",{}]', ("Answered", None, "p1", False)),
    (V201, {}, '[3,"old",{}]', ("Late", None, None, False)),
    (V16, {}, '[4,"old","GenericError","",{}]', ("Late", None, None, False)),
    (V201, {}, '[3,"nobody",{}]', ("Refused", None, None, False)),
    (V16, {}, '[4,"nobody","GenericError","",{}]', ("Refused", None, None, False)),
    # A bad answer to a pending call fails it now; 2.1 answers a bad CALLRESULT.
    (V201, {}, '[3,"p1",7]', ("Refused", None, "p1", False)),
    (
        V21,
        {},
        '[3,"p1",7]',
        (
            "Refused",
            '[5,"p1","FormatViolation","CALLRESULT payload must be a JSON object",{}]',
            "p1",
            False,
        ),
    ),
    (V201, {}, '[4,"p1",7,"",{}]', ("Refused", None, "p1", False)),
    # Unreadable frames: answered with id "-1" in the version's spelling.
    (V16, {}, "nope", ("Refused", f'[4,"-1","FormationViolation","{NOT_JSON}",{{}}]', None, False)),
    (V201, {}, "nope", ("Refused", f'[4,"-1","RpcFrameworkError","{NOT_JSON}",{{}}]', None, False)),
    # Unknown message types: 1.6 GenericError, 2.0.1 MessageTypeNotSupported, 2.1 ignored.
    (
        V16,
        {},
        '[7,"x"]',
        (
            "Refused",
            '[4,"x","GenericError","message type 7 is not supported by ocpp1.6",{}]',
            None,
            False,
        ),
    ),
    (
        V201,
        {},
        '[7,"x"]',
        (
            "Refused",
            '[4,"x","MessageTypeNotSupported","message type 7 is not supported by ocpp2.0.1",{}]',
            None,
            False,
        ),
    ),
    (V21, {}, '[7,"x"]', ("Refused", None, None, False)),
    # 2.1's own types; SEND and CALLRESULTERROR are bad elsewhere.
    (V21, {}, '[6,"s","NotifyPeriodicEventStream",{}]', ("Send", None, None, False)),
    (V21, {}, '[5,"r","FormatViolation","",{}]', ("CallResultError", None, None, False)),
    (V21, {}, '[6,"s","NotifyPeriodicEventStream",7]', ("Refused", None, None, False)),
    # The limit: the bad message reaching it closes; one past it does not close again.
    (V201, {"bad": 2, "limit": 3}, '[3,"nobody",{}]', ("Refused", None, None, True)),
    (V201, {"bad": 0, "limit": 1}, '[3,"nobody",{}]', ("Refused", None, None, True)),
    (V201, {"bad": 1, "limit": 3}, '[3,"nobody",{}]', ("Refused", None, None, False)),
    (V201, {"bad": 2, "limit": 3}, '[3,"p1",{}]', ("Answered", None, "p1", False)),
]


@pytest.mark.parametrize(("protocol", "state", "text", "expected"), ROWS)
def test_each_frame_in_each_state(
    protocol: str, state: dict[str, Any], text: str, expected: tuple[Any, ...]
) -> None:
    session = session_in(protocol, **state)
    before = session.bad_messages
    event = session.receive(text)
    kind, reply, pending, close = describe(event)
    assert (kind, reply, pending, close) == expected
    assert session.bad_messages == before + (kind == "Refused")
    if pending is not None:
        assert "p1" not in session.pending  # given back once: it left the table


def test_the_close_decision_is_1002_and_comes_once_per_connection() -> None:
    assert CLOSE_TOO_MANY_BAD_MESSAGES == (1002, "too many bad messages")
    session = session_in(V201, limit=2)
    closes = [session.receive("nope").close for _ in range(4)]  # type: ignore[union-attr]
    assert closes == [False, True, False, False]
    session.lost()
    session.open(V201)  # a new connection counts from 0 again
    closes = [session.receive("nope").close for _ in range(2)]  # type: ignore[union-attr]
    assert closes == [False, True]


def test_a_lower_limit_closes_at_the_next_bad_message() -> None:
    session = session_in(V201, bad=5)
    session.max_bad_messages = 3  # reconfigured below the count
    assert session.receive("nope").close is True  # type: ignore[union-attr]


def test_a_call_being_handled_is_refused_until_it_ends_under_its_own_token() -> None:
    session = session_in(V201, inbound=())
    first, second = object(), object()
    session.begin("a", first)
    assert isinstance(session.receive('[2,"a","Heartbeat",{}]'), Refused)
    session.end("a", second)  # not its token: still being handled
    assert isinstance(session.receive('[2,"a","Heartbeat",{}]'), Refused)
    session.end("a", first)
    assert session.receive('[2,"a","Heartbeat",{}]') == Call("a", "Heartbeat", {})


def test_a_lost_connection_gives_back_every_pending_call_and_forgets_inbound_ones() -> None:
    session = session_in(V201, pending=("p1", "p2"))
    assert sorted(entry.name for entry in session.lost()) == ["p1", "p2"]
    assert session.pending == {}
    assert session.lost() == []
    session.open(V201)
    assert session.receive('[2,"busy","Heartbeat",{}]') == Call("busy", "Heartbeat", {})


def test_forget_removes_only_its_own_entry() -> None:
    session = session_in(V201, pending=())
    first, second = Entry("first"), Entry("second")
    session.track("a", first)
    session.forget("a", second)
    assert session.pending == {"a": first}
    session.forget("a", first)
    assert session.pending == {}


def test_timed_out_ids_are_remembered_up_to_a_bound() -> None:
    session = session_in(V201, pending=(), late=())
    for index in range(LATE_IDS_REMEMBERED + 1):
        session.timed_out(str(index))
    assert isinstance(session.receive(f'[3,"{LATE_IDS_REMEMBERED}",{{}}]'), Late)
    assert isinstance(session.receive('[3,"0",{}]'), Refused)  # the oldest is forgotten


def test_expire_gives_the_entry_back_once() -> None:
    session = session_in(V201)
    assert session.expire("p1") is P1
    assert session.expire("p1") is None


def test_encode_call_refuses_an_id_in_flight_and_payloads_json_cannot_hold() -> None:
    session = session_in(V201)
    assert session.encode_call(Call("new", "Heartbeat", {})) == '[2,"new","Heartbeat",{}]'
    with pytest.raises(ValueError, match="already in flight"):
        session.encode_call(Call("p1", "Heartbeat", {}))
    with pytest.raises(TypeError, match="not JSON-serializable"):
        session.encode_call(Call("new", "Heartbeat", {"x": object()}))


# -- answers: which reply each handler outcome gets -------------------------------------------


class Refusing:
    """A strict-mode validator that refuses every response."""

    def validate_response(self, action: str, payload: dict[str, Any]) -> None:
        raise RPCFormatViolationError("no good")


class Accepting:
    def validate_response(self, action: str, payload: dict[str, Any]) -> None:
        pass


CALL = Call("a", "Heartbeat", {})
INTERNAL = "InternalError"

# (handler's result, validator) -> (frame sent, log line or None)
REPLIES: list[tuple[Any, Any, Any, str | None]] = [
    ({"currentTime": "now"}, None, CallResult("a", {"currentTime": "now"}), None),
    ({"currentTime": "now"}, Accepting(), CallResult("a", {"currentTime": "now"}), None),
    (None, None, CallResult("a", {}), None),
    (
        [1],
        None,
        CallError("a", INTERNAL, "handler returned no object"),
        "handler returned a non-dict",
    ),
    (
        {"x": math.nan},
        None,
        CallError("a", INTERNAL, "response is not JSON"),
        "handler response is not JSON",
    ),
    (
        {},
        Refusing(),
        CallError("a", INTERNAL, "response failed validation: no good"),
        "handler response failed strict validation",
    ),
]


@pytest.mark.parametrize(("result", "validator", "frame", "problem"), REPLIES)
def test_the_reply_to_a_handlers_result(
    result: Any, validator: Any, frame: Any, problem: str | None
) -> None:
    reply = session_in(V201).reply(CALL, result, validator)
    assert reply.frame == frame
    assert json.loads(reply.text)[:4] == json.loads(json.dumps(_wire(frame)))[:4]
    assert (reply.problem[0] if reply.problem else None) == problem


def _wire(frame: Any) -> list[Any]:
    if isinstance(frame, CallResult):
        return [3, frame.message_id, frame.payload]
    return [4, frame.message_id, frame.error_code, frame.error_description, {}]


@pytest.mark.parametrize(
    ("protocol", "exc", "detailed", "code", "description", "details"),
    [
        (V201, RPCGenericError("own", {"a": 1}), False, "GenericError", "own", {"a": 1}),
        (V16, RPCFormatViolationError("bad"), False, "FormationViolation", "bad", {}),
        (V201, RPCFormatViolationError("bad"), False, "FormatViolation", "bad", {}),
        (V201, KeyError("k"), False, INTERNAL, "an internal error occurred", {}),
        (
            V201,
            KeyError("k"),
            True,
            INTERNAL,
            "KeyError: 'k'",
            {"name": "KeyError", "message": "'k'"},
        ),
    ],
)
def test_the_reply_to_a_handler_that_raised(
    protocol: str, exc: Exception, detailed: bool, code: str, description: str, details: Any
) -> None:
    reply = session_in(protocol).failure(CALL, exc, detailed)
    assert reply.frame == CallError("a", code, description, details)
    assert json.loads(reply.text) == [4, "a", code, description, details]
    assert (reply.problem is None) is isinstance(exc, RPCGenericError | RPCFormatViolationError)


@pytest.mark.parametrize(
    ("protocol", "action", "code"),
    [
        (V16, "Heartbeat", "NotSupported"),
        (V16, "RequestStartTransaction", "NotImplemented"),  # a 2.x action
        (V201, "RequestStartTransaction", "NotSupported"),
        (V201, "VendorThing", "NotImplemented"),
        (V21, "VendorThing", "NotImplemented"),
    ],
)
def test_a_call_no_handler_takes(protocol: str, action: str, code: str) -> None:
    assert session_in(protocol).unhandled(action).wire_code(protocol) == code


def test_a_refused_answer_is_answered_only_on_21() -> None:
    error = RPCFormatViolationError("bad answer")
    assert session_in(V201).refuse_answer("p1", error) is None
    reply = session_in(V21).refuse_answer("p1", error)
    assert reply is not None
    assert reply.frame == CallResultError("p1", "FormatViolation", "bad answer", {})


def test_error_details_json_cannot_hold_go_as_empty() -> None:
    reply = session_in(V201).error("a", RPCGenericError("odd", {"x": object()}))
    assert reply == Reply(
        CallError("a", "GenericError", "odd", {}), '[4,"a","GenericError","odd",{}]'
    )


# -- fuzz: random and mutated frames in random order ------------------------------------------

IDS = st.sampled_from(["a", "b", "p1", "p2", "old", "-1", "", "x" * 37])
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 9)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
ACTIONS = st.sampled_from(["Heartbeat", "BootNotification", "VendorThing", "", 7])


@st.composite
def frames(draw: st.DrawFn) -> str | bytes:
    """A frame as sent, as a careless or hostile peer might: well formed, mutated,
    cut short, or anything at all."""
    kind = draw(st.integers(1, 8))
    message_id = draw(IDS)
    shapes: dict[int, list[Any]] = {
        2: [2, message_id, draw(ACTIONS), {}],
        3: [3, message_id, {}],
        4: [4, message_id, "GenericError", "", {}],
        5: [5, message_id, "FormatViolation", "", {}],
        6: [6, message_id, draw(ACTIONS), {}],
    }
    message = shapes.get(kind, [kind, message_id])
    how = draw(st.sampled_from(["as is", "replace", "drop", "add", "cut", "junk", "bytes"]))
    if how == "replace":
        message[draw(st.integers(0, len(message) - 1))] = draw(JSON_VALUES)
    elif how == "drop":
        del message[draw(st.integers(0, len(message) - 1))]
    elif how == "add":
        message.append(draw(JSON_VALUES))
    text = json.dumps(message)
    if how == "cut":
        return text[: draw(st.integers(0, len(text)))]
    if how == "junk":
        return draw(st.text(max_size=30))
    if how == "bytes":
        return text.encode()
    return text


@dataclass
class Model:
    """What the fuzz test checks the session against."""

    tracked: set[Entry] = field(default_factory=set)
    given_back: list[Entry] = field(default_factory=list)
    bad: int = 0

    def give_back(self, entries: list[Entry]) -> None:
        self.given_back.extend(entries)
        assert len(set(self.given_back)) == len(self.given_back), "an entry given back twice"


operations = st.one_of(
    st.tuples(st.just("receive"), frames()),
    st.tuples(st.just("call"), IDS),
    st.tuples(st.just("expire"), IDS),
    st.tuples(st.just("handle"), IDS),
    st.tuples(st.just("end"), IDS),
    st.tuples(st.just("reconnect"), st.none()),
)


@settings(max_examples=300, deadline=None)
@given(
    protocol=st.sampled_from([V16, V201, V21]),
    limit=st.integers(1, 6),
    script=st.lists(operations, max_size=40),
)
def test_random_frames_in_random_order_keep_every_promise(
    protocol: str, limit: int, script: list[tuple[str, Any]]
) -> None:
    session: Session[Entry] = Session(limit)
    session.open(protocol)
    model = Model()
    handling: dict[str, object] = {}
    counter = 0
    for operation, argument in script:
        if operation == "call":
            counter += 1
            entry = Entry(f"{argument}#{counter}")
            try:
                session.encode_call(Call(argument, "Heartbeat", {}))
            except ValueError:
                assert argument in session.pending  # refused only while in flight
                continue
            session.track(argument, entry)
            model.tracked.add(entry)
        elif operation == "expire":
            expired = session.expire(argument)
            if expired is not None:
                session.timed_out(argument)
                model.give_back([expired])
        elif operation == "handle":
            handling[argument] = token = object()
            session.begin(argument, token)
        elif operation == "end" and argument in handling:
            session.end(argument, handling.pop(argument))
        elif operation == "reconnect":
            model.give_back(session.lost())
            handling.clear()
            session.open(protocol)
            model.bad = 0  # a new connection counts from 0
        elif operation == "receive":
            check_event(session, model, argument, session.receive(argument), limit)
    model.give_back(session.lost())
    assert set(model.given_back) == model.tracked  # every call given back exactly once


def check_event(
    session: Session[Entry], model: Model, text: str | bytes, event: Any, limit: int
) -> None:
    try:
        message = json.loads(text) if isinstance(text, str) else None  # bytes: unreadable
    except ValueError:
        message = None
    first = message[0] if isinstance(message, list) and message else None
    kind = first if type(first) is int else None
    # Answers, and the types only 2.1 has, there: never answered with a CALLERROR.
    answers = (3, 4, 5, 6) if session.protocol == V21 else (3, 4)
    if isinstance(event, Refused):
        model.bad += 1
        assert session.bad_messages == model.bad
        assert event.close is (model.bad == limit)  # exactly at the limit, once
        if event.pending is not None:
            assert kind in (3, 4)
            model.give_back([event.pending])
        if event.reply is not None:
            assert isinstance(event.reply.frame, CallError | CallResultError)
            assert json.loads(event.reply.text)[0] in (4, 5)
            if isinstance(event.reply.frame, CallResultError):
                assert kind == 3 and session.protocol == V21
            else:
                assert kind not in answers
    elif isinstance(event, Answered):
        assert type(event.frame) is (CallResult if kind == 3 else CallError)
        assert event.frame.message_id not in session.pending
        model.give_back([event.pending])
    elif isinstance(event, Call):
        assert kind == 2
        assert session.inbound is None or event.message_id not in session.inbound
    elif isinstance(event, Send | CallResultError):
        assert session.protocol == V21 and kind in (5, 6)
    else:
        assert isinstance(event, Late) and kind in (3, 4)
    if kind == 2:  # every CALL: to a handler (which answers it), or a CALLERROR now
        assert isinstance(event, Call) or (
            isinstance(event, Refused)
            and event.reply is not None
            and isinstance(event.reply.frame, CallError)
        )
