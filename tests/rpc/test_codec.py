"""The JSON codecs: orjson (the speed extra) gives the bytes and verdicts ``json`` gives.

Differential: each value or text goes through both codecs of the same run, and
through ``parse``/``encode`` with each chosen in turn.
"""

from __future__ import annotations

import datetime
import enum
import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from browser_ocpp.rpc import BadMessage, CallResult, codec, encode, parse

JSON_DECODE, JSON_ENCODE = codec.json_decode, codec.json_encode
ORJSON_DECODE, ORJSON_ENCODE = codec._orjson_codec()  # fails, not skips, without orjson
PROTOCOLS = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 2


class Name(str):
    pass


class Count(int):
    pass


class Ratio(float):
    pass


class Mapping(dict[str, Any]):
    pass


EDGE_INTS = [
    0,
    -1,
    2**53 + 1,
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    2**64 - 1,
    2**64,
    -(2**64),
    10**30,
    -(10**30),
]
EDGE_FLOATS = [0.0, -0.0, 1e-7, 1e16, 1e15, 1.5e300, 5e-324, 0.1, 1e22, 9.3e18, float("nan")]
EDGE_FLOATS += [float("inf"), float("-inf"), 123456789012345678.0, 2.5e-5, 100.0]
EDGE_TEXT = ["", "é", "\u2028\u2029", "\x00\x1f\x7f", '"\\/', "\ud800", "a\udc00b", "😀", "</"]
EDGE_OTHER = [Colour.RED, Level.HIGH, Name("x"), Count(3), Ratio(1.5), uuid.UUID(int=1)]
EDGE_OTHER += [datetime.date(2024, 1, 1), Mapping(a=1), (1, "a"), b"bytes", {1, 2}]

any_text = st.text(st.characters(exclude_categories=()), max_size=20)
"""Any code point, lone surrogates included."""
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(EDGE_INTS),
    st.floats(),
    st.sampled_from(EDGE_FLOATS),
    any_text,
    st.sampled_from(EDGE_TEXT),
)
keys = st.one_of(any_text, st.sampled_from([1, 1.5, True, None, Name("k")]))
values = st.recursive(
    st.one_of(scalars, st.sampled_from(EDGE_OTHER)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(keys, inner, max_size=5),
        st.tuples(inner, inner),
    ),
    max_leaves=30,
)
plain_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(any_text, inner, max_size=5)
    ),
    max_leaves=30,
)


def outcome(function: Callable[[Any], Any], argument: Any) -> tuple[str, str]:
    """What a codec gave: ("ok", repr of the result) or (exception type, message)."""
    try:
        return "ok", repr(function(argument))
    except (TypeError, ValueError, RecursionError) as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(value=values)
def test_encoding_gives_the_same_text(value: Any) -> None:
    assert outcome(ORJSON_ENCODE, value) == outcome(JSON_ENCODE, value)


no_float_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), any_text),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(any_text, inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=300)
@given(value=no_float_values)
def test_values_without_floats_are_given_to_orjson(value: Any) -> None:
    """The fast road is taken for values of exactly the plain JSON types."""
    assert codec._plain((value,)) >= 0


@pytest.mark.parametrize("value", [*EDGE_INTS, *EDGE_FLOATS, *EDGE_TEXT, *EDGE_OTHER])
def test_edge_values_encode_alike(value: Any) -> None:
    for wrapped in (value, [value], {"k": value}, [2, "id", "A", {"k": [value]}]):
        assert outcome(ORJSON_ENCODE, wrapped) == outcome(JSON_ENCODE, wrapped)


def test_odd_keys_and_cycles_encode_alike() -> None:
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    branching: list[Any] = []
    branching += [branching, branching]
    deep: Any = "x"
    for _ in range(300):  # beyond orjson's nesting limit, within json's
        deep = [deep]
    for value in (
        {2: "a", True: "b", None: "c", 1.5: "d"},
        {Name("k"): 1},
        cyclic,
        branching,
        deep,
        {"a": 1, "b": [{"c": None}] * 70_000},  # beyond the walk's budget: json writes it
    ):
        assert outcome(ORJSON_ENCODE, value) == outcome(JSON_ENCODE, value)


TOKENS = [
    "[", "]", "{", "}", ",", ":", '"', '"a"', '"id"', " ", "\t", "\n", "\r", "\x0c", "\ufeff",
    "0", "-0", "-", "1", "01", "1.", ".5", "1e5", "1E+2", "1e400", "-1e400", "1e-400",
    "123456789012345678", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
    "18446744073709551615", "18446744073709551616", "1" * 40, "1" * 4301, "0." + "3" * 40,
    "true", "false", "null", "nul", "NaN", "Infinity", "-Infinity", '"\\ud800"',
    '"\\udc00\\ud800"', '"\\ud83d\\ude00"', '"\\u0000"', '"\\x"', '"\x00"', '"\ud800"', "é",
    '"a","a"', '{"a":1,"b":2,"a":3}', "2", "3", "4", "5", "6", '"Heartbeat"', "{}", "[]",
]  # fmt: skip
token_texts = st.lists(st.sampled_from(TOKENS), max_size=25).map("".join)
frame_texts = st.tuples(
    st.sampled_from(
        ["[2,", "[3,", "[4,", "[5,", "[6,", "[", "[7,", "[2.0,", "[9223372036854775808,"]
    ),
    st.lists(st.sampled_from(TOKENS), max_size=15).map("".join),
    st.sampled_from(["]", "", "]]", "] "]),
).map("".join)
dumped = plain_values.map(lambda v: json.dumps([2, "id", "A", v], ensure_ascii=False))
texts = st.one_of(st.text(max_size=60), any_text, token_texts, frame_texts, dumped)


@settings(max_examples=1500)
@given(text=texts)
def test_decoding_gives_the_same_value_or_refusal(text: str) -> None:
    assert outcome(ORJSON_DECODE, text) == outcome(JSON_DECODE, text)


def verdict(result: Any) -> Any:
    """A comparable picture of what parse() returned."""
    if isinstance(result, BadMessage):
        return (result.message_id, result.error_code, result.error.message, result.reply_type)
    return repr(result)


def with_codec(name: str, function: Callable[[], Any]) -> Any:
    previous = codec.name or None
    codec.use(name)
    try:
        return function()
    finally:
        codec.use(previous)


@settings(max_examples=800)
@given(text=texts, protocol=st.sampled_from(PROTOCOLS))
def test_parse_verdicts_are_the_same_with_either_codec(text: str, protocol: str) -> None:
    fast = with_codec("orjson", lambda: verdict(parse(text, protocol)))
    assert fast == with_codec("json", lambda: verdict(parse(text, protocol)))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(value=values)
def test_frames_encode_to_the_same_bytes_with_either_codec(value: Any) -> None:
    frame = CallResult("id", {"v": value})
    fast = with_codec("orjson", lambda: outcome(encode, frame))
    assert fast == with_codec("json", lambda: outcome(encode, frame))
    if fast[0] == "ok":
        assert eval(fast[1]).encode()  # always encodable as UTF-8


def test_big_integers_are_read_exactly() -> None:
    """orjson reads integers beyond 64 bits as floats; the codec does not keep that."""
    for number in (2**64, -(2**63) - 1, 10**30):
        text = f'[2,"a","DataTransfer",{{"data":[{{"n":{number}}}]}}]'
        assert ORJSON_DECODE(text)[3]["data"][0]["n"] == number
        assert type(ORJSON_DECODE(f"[{number}]")[0]) is int


def test_use_chooses_and_refuses_unknown_names() -> None:
    previous = codec.name or None
    try:
        assert codec.use("json") == "json" and codec.decode is codec.json_decode
        assert codec.use("orjson") == "orjson" and codec.name == "orjson"
        assert codec.use(None) == "orjson"  # installed here (the dev extra)
        with pytest.raises(ValueError, match="unknown JSON codec 'ujson'"):
            codec.use("ujson")
    finally:
        codec.use(previous)


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_orjson_is_imported_on_first_use_only() -> None:
    code = (
        "import sys, browser_ocpp; from browser_ocpp.rpc import codec, parse; "
        "print('orjson' in sys.modules, repr(codec.name)); "
        "parse('[2,\"a\",\"Heartbeat\",{}]', 'ocpp1.6'); print('orjson' in sys.modules, codec.name)"
    )
    assert run_python(code).splitlines() == ["False ''", "True orjson"]


def test_without_orjson_the_standard_library_is_used() -> None:
    code = (
        "import sys; sys.modules['orjson'] = None; "  # as if not installed
        "from browser_ocpp.rpc import CallResult, codec, encode, parse; "
        "print(parse('[2,\"a\",\"Heartbeat\",{}]', 'ocpp1.6')); "
        "print(encode(CallResult('a', {'x': 1.5})), codec.name)"
    )
    assert run_python(code).splitlines() == [
        "Call(message_id='a', action='Heartbeat', payload={})",
        '[3,"a",{"x":1.5}] json',
    ]


@pytest.mark.parametrize("depth", [199, 201, 300, 1_000, 1_100, 100_000])
def test_deeply_nested_texts_decode_alike(depth: int) -> None:
    """Beyond the depth the codec checks, or orjson reads, json decides."""
    for inner in ("1", "1e19", "[]", "{}"):
        text = "[" * depth + inner + "]" * depth
        assert outcome(ORJSON_DECODE, text) == outcome(JSON_DECODE, text)
        text = '{"a":' * depth + inner + "}" * depth
        assert outcome(ORJSON_DECODE, text) == outcome(JSON_DECODE, text)
