"""The JSON codec of frames: the standard library's ``json``, or orjson where it is
installed (``pip install 'browser-ocpp[speed]'``), with the same results either way.

orjson is tried on first use, never at import (Pyodide has none). Where it would
differ from ``json`` it is not asked, or its answer is not kept:

* decoding: whatever orjson refuses is decoded again by ``json``, whose verdict
  stands (it reads lone surrogates, ``1e400``, and nesting beyond 1,024 levels;
  NaN and Infinity both refuse). orjson reads integers beyond 64 bits as floats:
  a result holding a float that large is decoded again by ``json``.
* encoding: orjson is asked only for values made of exactly dict (with str keys),
  list, tuple, str, int, bool and None; floats (formatted otherwise, NaN written as
  null), subclasses, enums, dataclasses and the like go to ``json``, and so does
  whatever orjson refuses (integers beyond 64 bits, lone surrogates, deep nesting).

``tests/rpc/test_codec.py`` checks both give the same bytes and the same verdicts.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["decode", "encode", "name", "use"]


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


# NaN and Infinity are Python extensions, not JSON: refuse them.
_json_decode = json.JSONDecoder(parse_constant=_reject_constant).decode
_json_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
"""Compact JSON; built once, since json.dumps builds an encoder per call for these options."""
_json_dumps_ascii = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
"""The same with every non-ASCII character escaped: for text holding a lone surrogate,
which JSON can carry escaped (``"\\ud800"``) but UTF-8 cannot carry at all."""
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_decode(text: str) -> Any:
    """``json``'s reading: raises ValueError (or RecursionError) for invalid JSON."""
    return _json_decode(text)


def json_encode(value: Any) -> str:
    """``json``'s compact text, always encodable as UTF-8."""
    text: str = _json_dumps(value)
    if not text.isascii() and _SURROGATE.search(text) is not None:
        return _json_dumps_ascii(value)
    return text


_BIG = 9.2e18
"""Below 2**63 (9.22e18): a float orjson read at or beyond this may have been an integer."""
_ENCODE_NODES = 65_536
"""Values with more nodes than this go to ``json`` (a bound for cyclic values too)."""
_MAX_DEPTH = 200
"""Values nested deeper than this go to ``json`` (orjson refuses beyond 255 anyway)."""
_PLAIN = frozenset((str, int, bool, type(None)))


def _has_big_float(items: Any, depth: int = 0) -> bool:
    """Whether decoded ``items`` hold a float orjson may have read from an integer
    (or nest too deep to tell)."""
    if depth > _MAX_DEPTH:
        return True
    for item in items:
        kind = type(item)
        if kind is dict:
            if item and _has_big_float(item.values(), depth + 1):
                return True
        elif kind is list:
            if item and _has_big_float(item, depth + 1):
                return True
        elif kind is float and not -_BIG < item < _BIG:
            return True
    return False


def _plain(items: Any, budget: int = _ENCODE_NODES, depth: int = 0) -> int:
    """What is left of ``budget`` once ``items`` were found made of exactly the types
    orjson writes as ``json`` does; -1 if not (or too many, or too deep)."""
    budget -= len(items)
    if budget < 0 or depth > _MAX_DEPTH:
        return -1
    plain = _PLAIN
    for item in items:
        kind = type(item)
        if kind in plain:
            continue
        if kind is dict:
            for key in item:
                if type(key) is not str:
                    return -1
            budget = _plain(item.values(), budget, depth + 1)
        elif kind is list or kind is tuple:
            budget = _plain(item, budget, depth + 1)
        else:
            return -1
        if budget < 0:
            return -1
    return budget


def _orjson_codec() -> tuple[Callable[[str], Any], Callable[[Any], str]]:
    import orjson

    loads, dumps, refused = orjson.loads, orjson.dumps, orjson.JSONDecodeError

    def orjson_decode(text: str) -> Any:
        try:
            value = loads(text)
        except refused:
            return _json_decode(text)
        if _has_big_float((value,)):
            return _json_decode(text)
        return value

    def orjson_encode(value: Any) -> str:
        if _plain((value,)) >= 0:
            try:
                return dumps(value).decode()
            except TypeError:  # beyond 64 bits, lone surrogates, too deep
                pass
        return json_encode(value)

    return orjson_decode, orjson_encode


name = ""
"""The codec in use, ``"orjson"`` or ``"json"``; empty until the first use."""


def use(codec: str | None = None) -> str:
    """Choose the codec: ``"json"``, ``"orjson"`` (ImportError if it is not installed),
    or None for orjson where installed, else ``json``. Returns the name chosen."""
    global decode, encode, name
    if codec not in (None, "json", "orjson"):
        raise ValueError(f"unknown JSON codec {codec!r}: choose 'json' or 'orjson'")
    if codec is None:
        codec = "json"
        if sys.platform != "emscripten":
            try:
                decode, encode = _orjson_codec()
                codec = "orjson"
            except ImportError:
                pass
    elif codec == "orjson":
        decode, encode = _orjson_codec()
    if codec == "json":
        decode, encode = json_decode, json_encode
    name = codec
    return codec


def _decode_first(text: str) -> Any:
    use()
    return decode(text)


def _encode_first(value: Any) -> str:
    use()
    return encode(value)


decode: Callable[[str], Any] = _decode_first
"""Read JSON text: raises ValueError (or RecursionError) where ``json`` would."""
encode: Callable[[Any], str] = _encode_first
"""Compact JSON text, always encodable as UTF-8: raises TypeError or ValueError (or
RecursionError) where ``json`` would."""
