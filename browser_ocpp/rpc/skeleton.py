"""Payload skeletons: the smallest payload an action's schema accepts, pre-filled.

``skeleton("ocpp1.6", "BootNotification")`` gives every required field with a
placeholder (``""`` strings, the first enum value, ``0``, ``0.0``, ``False``, the
current UTC time for ``date-time`` strings, ``minItems`` array items), following
``$ref``s into ``definitions``.  Schemas are read as JSON: jsonschema is not loaded.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any, Literal

__all__ = ["Chooser", "skeleton"]

Kind = Literal["request", "response"]

Chooser = Callable[[str, dict[str, Any], Any], Any]
"""``(property name, its schema, the placeholder)`` -> the value to use instead."""

_SUFFIX: dict[str, str] = {"request": "Request.json", "response": "Response.json"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@cache
def _schema_text(protocol: str, file_name: str) -> str | None:
    """The schema file's text, or None when it does not ship."""
    entry = resources.files("browser_ocpp.rpc") / "schemas" / protocol / file_name
    if not entry.is_file():
        return None
    return entry.read_text(encoding="utf-8")


def _now() -> str:
    """The current UTC time as RFC 3339 with a ``Z`` (``2024-01-01T00:00:00Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Filler:
    """Builds a value for a (sub)schema, resolving ``#/definitions/...`` references."""

    def __init__(self, root: dict[str, Any], choose: Chooser | None = None) -> None:
        self.root = root
        self.choose = choose

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        seen: set[str] = set()
        while "$ref" in schema:
            ref = schema["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/") or ref in seen:
                raise ValueError(f"cannot follow $ref {ref!r}")
            seen.add(ref)
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = target[part]
            schema = target
        return schema

    def value(self, schema: dict[str, Any], depth: int = 0) -> Any:
        if depth > 32:
            raise ValueError("schema nests too deep for a skeleton")
        schema = self.resolve(schema)
        if "enum" in schema:
            return schema["enum"][0]
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object" or (kind is None and "properties" in schema):
            properties: dict[str, Any] = schema.get("properties", {})
            return {
                name: self.member(name, properties.get(name, {}), depth + 1)
                for name in schema.get("required", [])
            }
        if kind == "array":
            count = int(schema.get("minItems", 0))
            items = schema.get("items", {})
            return [self.value(items, depth + 1) for _ in range(count)]
        if kind == "integer":
            return _bounded(schema, integer=True)
        if kind == "number":
            return _bounded(schema, integer=False)
        if kind == "boolean":
            return False
        if kind == "null":
            return None
        return _string(schema)

    def member(self, name: str, schema: dict[str, Any], depth: int) -> Any:
        placeholder = self.value(schema, depth)
        if self.choose is None:
            return placeholder
        return self.choose(name, self.resolve(schema), placeholder)


def _bounded(schema: dict[str, Any], integer: bool) -> int | float:
    """0 (or 0.0), moved inside ``minimum``/``maximum`` when they exclude it."""
    value: float = 0
    minimum, maximum = schema.get("minimum"), schema.get("maximum")
    if isinstance(minimum, int | float) and value < minimum:
        value = math.ceil(minimum) if integer else minimum
    if isinstance(maximum, int | float) and value > maximum:
        value = math.floor(maximum) if integer else maximum
    return int(value) if integer else float(value)


def _string(schema: dict[str, Any]) -> str:
    """A date-time string for ``format: date-time``, else ``"x" * minLength``."""
    if schema.get("format") == "date-time":
        return _now()
    return "x" * int(schema.get("minLength", 0))


def skeleton(
    protocol: str, action: str, kind: Kind = "request", *, choose: Chooser | None = None
) -> dict[str, Any]:
    """A ``kind`` payload of ``action`` in ``protocol`` with every required field filled.

    ``choose`` may replace the placeholder of each required member (a realistic value
    instead of the first enum value, say).  Raises ValueError for an unknown kind,
    protocol or action.
    """
    if kind not in _SUFFIX:
        raise ValueError(f"kind must be 'request' or 'response', not {kind!r}")
    names_ok = all(isinstance(n, str) and _NAME.fullmatch(n) for n in (protocol, action))
    text = _schema_text(protocol, f"{action}{_SUFFIX[kind]}") if names_ok else None
    if text is None:
        raise ValueError(f"no {kind} schema for {action!r} in {protocol!r}")
    root = json.loads(text)
    payload = _Filler(root, choose).value(root)
    if not isinstance(payload, dict):
        raise ValueError(f"the {kind} schema of {action} in {protocol} is not an object")
    return payload
