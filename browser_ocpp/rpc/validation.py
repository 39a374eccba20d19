"""Strict-mode validation of OCPP payloads against the shipped JSON schemas.

Schemas live in ``browser_ocpp/rpc/schemas/<protocol>/<Action>Request.json`` and
``<Action>Response.json`` (see ``scripts/fetch_schemas.py``).  Works with jsonschema
4.17 (the Pyodide line) and later: the error class, keyword and path picked for an
invalid payload are the same with both (jsonschema's message wording may differ).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from decimal import MAX_EMAX, MIN_EMIN, Context, Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any, Literal, Protocol

from jsonschema import Draft4Validator, Draft6Validator, Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend

from .errors import (
    MAX_DESCRIPTION_LENGTH,
    RPCError,
    RPCFormationViolationError,
    RPCNotImplementedError,
    RPCOccurrenceConstraintViolationError,
    RPCPropertyConstraintViolationError,
    RPCTypeConstraintViolationError,
)

__all__ = ["SchemaValidator", "validator_for"]

Kind = Literal["request", "response"]

_SUFFIX: dict[str, str] = {"request": "Request.json", "response": "Response.json"}

_ERROR_BY_KEYWORD: dict[str, type[RPCError]] = {
    "type": RPCTypeConstraintViolationError,
    "required": RPCOccurrenceConstraintViolationError,
    "minItems": RPCOccurrenceConstraintViolationError,
    "maxItems": RPCOccurrenceConstraintViolationError,
    **{
        keyword: RPCPropertyConstraintViolationError
        for keyword in (
            "enum",
            "const",
            "pattern",
            "minLength",
            "maxLength",
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "multipleOf",
            "format",
        )
    },
}
"""Keyword -> error class; anything else (``additionalProperties``...) is a
Format/FormationViolation."""


class _Checker(Protocol):
    """The part of a jsonschema validator we use."""

    def is_valid(self, instance: Any) -> bool: ...

    def iter_errors(self, instance: Any) -> Iterator[Any]: ...


# --- multipleOf: exact decimal arithmetic -------------------------------------------


def _is_multiple(value: Any, step: Any) -> bool:
    """Whether ``value`` is a multiple of ``step``, computed on their decimal texts.

    Floats are compared as the decimals they print as, so 7.7 is a multiple of 0.1.
    """
    try:
        dividend = Decimal(str(value))
        divisor = Decimal(str(step))
    except (InvalidOperation, ValueError):
        return False
    if not (dividend.is_finite() and divisor.is_finite()) or divisor <= 0:
        return False
    # Enough precision that the integer quotient fits and the remainder is exact.
    digits = len(dividend.as_tuple().digits) + len(divisor.as_tuple().digits)
    spread = max(0, dividend.adjusted() - divisor.adjusted())
    context = Context(prec=28 + digits + spread, Emax=MAX_EMAX, Emin=MIN_EMIN)
    return context.remainder(dividend, divisor).is_zero()


def _multiple_of(validator: Any, step: Any, instance: Any, schema: Any) -> Iterator[Any]:
    """``multipleOf`` keyword that never rejects a valid decimal through float error."""
    if not validator.is_type(instance, "number"):  # bool is not a number here
        return
    if not _is_multiple(instance, step):
        yield ValidationError(f"{instance!r} is not a multiple of {step}")


# --- format: only date-time ---------------------------------------------------------

_DATE_TIME = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)


_DATE_TIMES: dict[str, bool] = {}
"""Verdicts on strings already checked: a CSMS answers many calls in a row with the
same ``currentTime``, stations send the same timestamps. Emptied when full."""
_DATE_TIMES_MAX = 512
_DATE_TIME_LONGEST = 40
"""Longer strings are checked every time (not kept)."""


def _is_date_time(instance: object) -> bool:
    """RFC 3339 ``date-time``: the grammar, then a real calendar date and time."""
    if not isinstance(instance, str):
        return True
    verdict = _DATE_TIMES.get(instance)
    if verdict is None:
        verdict = _check_date_time(instance)
        if len(instance) <= _DATE_TIME_LONGEST:
            if len(_DATE_TIMES) >= _DATE_TIMES_MAX:
                _DATE_TIMES.clear()
            _DATE_TIMES[instance] = verdict
    return verdict


def _check_date_time(instance: str) -> bool:
    match = _DATE_TIME.fullmatch(instance)
    if match is None:
        return False
    day, hour_minute, second, sign, offset_hour, offset_minute = match.groups()
    offset = "+00:00"
    if sign is not None:
        if int(offset_hour) > 23 or int(offset_minute) > 59:
            return False
        offset = f"{sign}{offset_hour}:{offset_minute}"
    try:
        # A leap second (:60) is checked as :59; it must fall at 23:59 UTC.
        parsed = datetime.fromisoformat(
            f"{day}T{hour_minute}:{'59' if second == '60' else second}{offset}"
        )
        if second == "60":
            utc = parsed.astimezone(UTC)
            return (utc.hour, utc.minute) == (23, 59)
    except (ValueError, OverflowError):
        return False
    return True


_FORMAT_CHECKER = FormatChecker(formats=())
# Only date-time is checked.  Other formats (1.6 uses "uri") are not: checking them
# well needs optional packages that Pyodide does not ship.
_FORMAT_CHECKER.checks("date-time")(_is_date_time)
_FAST_FORMATS: dict[str, Callable[[Any], bool]] = {
    "date-time": _is_date_time,
    "uri": lambda value: True,  # unchecked, as above
}


# --- validator classes --------------------------------------------------------------

_OVERRIDES = {"multipleOf": _multiple_of}
_DRAFT4 = extend(Draft4Validator, validators=_OVERRIDES)
_DRAFT6 = extend(Draft6Validator, validators=_OVERRIDES)
_DRAFT7 = extend(Draft7Validator, validators=_OVERRIDES)
_CLASS_BY_DRAFT: dict[str, Any] = {"draft-04": _DRAFT4, "draft-06": _DRAFT6, "draft-07": _DRAFT7}


def _validator_class(schema: dict[str, Any], protocol: str) -> Any:
    """The validator class for a schema's ``$schema`` (default by protocol)."""
    declared = schema.get("$schema")
    if isinstance(declared, str):
        for draft, cls in _CLASS_BY_DRAFT.items():
            if draft in declared:
                return cls
    return _DRAFT4 if protocol == "ocpp1.6" else _DRAFT6


# The order in which fastjsonschema's generated code checks a schema's keywords: an
# object's own checks (type, enum, required...) come before its properties, and
# additionalProperties after them. jsonschema checks keywords in the schema's key
# order, so each schema is loaded with its keys in this order and both libraries
# meet a payload's errors in the same order: the first one found is the one
# reported, which is why no failure ever needs a second, complete pass.
_KEYWORD_ORDER = (
    "$ref", "type", "enum", "allOf", "anyOf", "oneOf", "not", "minLength", "maxLength",
    "pattern", "format", "minimum", "maximum", "multipleOf", "minItems", "maxItems",
    "uniqueItems", "items", "minProperties", "maxProperties", "required", "dependencies",
    "properties", "patternProperties", "additionalProperties", "exclusiveMinimum",
    "exclusiveMaximum", "propertyNames", "contains", "const",
)  # fmt: skip
_RANK = {keyword: rank for rank, keyword in enumerate(_KEYWORD_ORDER)}
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions", "dependencies")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "items")


def _in_check_order(schema: Any) -> Any:
    """``schema`` (and every subschema) with its keys in :data:`_KEYWORD_ORDER`."""
    if not isinstance(schema, dict):
        return schema
    ordered: dict[str, Any] = {}
    for key in sorted(schema, key=lambda k: _RANK.get(k, -1)):
        value = schema[key]
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            value = {name: _in_check_order(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            value = [_in_check_order(sub) for sub in value]
        elif key in {"items", "not", "additionalProperties", "propertyNames", "contains"}:
            value = _in_check_order(value)
        ordered[key] = value
    return ordered


def _schema_folder(protocol: str) -> Any:
    return resources.files("browser_ocpp.rpc") / "schemas" / protocol


def _build_checker(protocol: str, file_name: str) -> _FastThenFull:
    """Load one schema and build its validator (no ``check_schema`` at runtime)."""
    text = (_schema_folder(protocol) / file_name).read_text(encoding="utf-8")
    schema = json.loads(text)
    # jsonschema 4.17 cannot follow a $ref inside a $ref'd definition when the root
    # $id is a URN (urljoin does not join URNs), as in every 2.1 file.  Every $ref in
    # the shipped schemas is local ("#/definitions/..."), so the root id is not needed.
    for key in ("$id", "id"):
        if isinstance(schema.get(key), str):
            del schema[key]
    schema = _in_check_order(schema)
    full: _Checker = _validator_class(schema, protocol)(schema, format_checker=_FORMAT_CHECKER)
    return _FastThenFull(_compile_fast(schema), full)


def _compile_fast(schema: dict[str, Any]) -> Callable[[Any], Any] | None:
    """The schema compiled to Python by fastjsonschema, or None where it cannot be."""
    try:
        import fastjsonschema
    except ImportError:
        return None
    try:
        # use_default=False: it would otherwise write schema defaults into the payload.
        compiled: Callable[[Any], Any] = fastjsonschema.compile(
            schema, formats=_FAST_FORMATS, use_default=False
        )
    except Exception:  # a schema it cannot compile is still checked by jsonschema
        return None
    return compiled


class _FastThenFull:
    """A compiled fast check, with jsonschema deciding whatever it does not accept.

    The fast check only ever says "valid": any payload it refuses (or anything it
    gets wrong the safe way, such as float multipleOf) goes to jsonschema, whose
    verdict and error stand. So verdicts are jsonschema's, provided the fast check
    never accepts what jsonschema refuses (tests/rpc/test_fast_validation.py).
    """

    __slots__ = ("fast", "full")

    def __init__(self, fast: Callable[[Any], Any] | None, full: _Checker) -> None:
        self.fast = fast
        self.full = full

    def is_valid(self, instance: Any) -> bool:
        fast = self.fast
        if fast is not None:
            try:
                fast(instance)
                return True
            except Exception:
                pass
        return self.full.is_valid(instance)

    def iter_errors(self, instance: Any) -> Iterator[Any]:
        return self.full.iter_errors(instance)

    def first_error(self, instance: Any, refusal: Exception | None = None) -> RPCError | None:
        """The payload's first error in check order, or None if it is valid.

        ``refusal`` is what the fast check raised, if it ran. Its verdict stands
        unless its keyword is one it may get wrong the safe way (``multipleOf`` on
        floats): then jsonschema decides, stopping at its first error too. Either
        way a failure costs about one pass up to the error, like a success.
        """
        if refusal is None and self.fast is not None:
            try:
                self.fast(instance)
                return None
            except Exception as exc:
                refusal = exc
        rule = getattr(refusal, "rule", None)
        if isinstance(rule, str) and rule not in _FAST_MAY_REFUSE_WRONGLY:
            return _fast_to_rpc_error(refusal, instance)
        error = next(iter(self.full.iter_errors(instance)), None)
        return None if error is None else _to_rpc_error(error)


# --- errors -------------------------------------------------------------------------


_FAST_MAY_REFUSE_WRONGLY = frozenset({"multipleOf"})
"""Keywords whose fast refusals jsonschema re-checks (float arithmetic)."""


def _json_path(parts: Iterable[object]) -> str:
    """``$.idTagInfo.status`` / ``$.items[0]`` / ``$`` for a jsonschema error path."""
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _rpc_error(keyword: str, path: str, text: str) -> RPCError:
    cls = _ERROR_BY_KEYWORD.get(keyword, RPCFormationViolationError)
    return cls(f"{path}: {text}"[:MAX_DESCRIPTION_LENGTH], {"keyword": keyword, "path": path})


def _to_rpc_error(error: Any) -> RPCError:
    """A jsonschema ``ValidationError`` as the spec's error."""
    return _rpc_error(str(error.validator), _json_path(error.absolute_path), error.message)


def _fast_to_rpc_error(refusal: Any, instance: Any) -> RPCError:
    """A fastjsonschema refusal as the spec's error, with jsonschema's path spelling.

    Its path is a list of texts (``["data", "items", "0"]``); walking the payload
    tells an array index from a key that looks like one.
    """
    parts: list[object] = []
    node = instance
    for part in list(refusal.path)[1:]:
        if isinstance(node, list) and str(part).isdigit() and int(part) < len(node):
            parts.append(int(part))
            node = node[int(part)]
        else:
            parts.append(part)
            node = node.get(part) if isinstance(node, dict) else None
    text = str(refusal.message)
    name = str(getattr(refusal, "name", ""))
    if name and text.startswith(name):
        text = text[len(name) :].lstrip()
    return _rpc_error(str(refusal.rule), _json_path(parts), text)


# --- public API ---------------------------------------------------------------------


class SchemaValidator:
    """Validates the payloads of one protocol; validators are built lazily and kept."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        folder = _schema_folder(protocol)
        self._files: frozenset[str] = (
            frozenset(entry.name for entry in folder.iterdir()) if folder.is_dir() else frozenset()
        )
        self._checkers: dict[tuple[str, str], _FastThenFull] = {}
        # The compiled fast checks by action, called first without any indirection.
        self._fast_requests: dict[str, Callable[[Any], Any]] = {}
        self._fast_responses: dict[str, Callable[[Any], Any]] = {}

    def __repr__(self) -> str:
        return f"SchemaValidator({self.protocol!r})"

    def has_schema(self, action: str, kind: Kind) -> bool:
        """Whether a schema ships for ``action``'s request or response."""
        return f"{action}{_SUFFIX[kind]}" in self._files

    def validate_request(self, action: str, payload: object) -> None:
        """Raise an RPCError subclass unless ``payload`` is a valid ``action`` request."""
        fast = self._fast_requests.get(action)
        if fast is None:
            self._validate(action, "request", payload, None)
            return
        try:
            fast(payload)
        except Exception as refusal:
            self._validate(action, "request", payload, refusal)

    def validate_response(self, action: str, payload: object) -> None:
        """Raise an RPCError subclass unless ``payload`` is a valid ``action`` response."""
        fast = self._fast_responses.get(action)
        if fast is None:
            self._validate(action, "response", payload, None)
            return
        try:
            fast(payload)
        except Exception as refusal:
            self._validate(action, "response", payload, refusal)

    def _checker(self, action: str, kind: Kind) -> _FastThenFull:
        key = (action, kind)
        checker = self._checkers.get(key)
        if checker is None:
            if not self.has_schema(action, kind):
                raise RPCNotImplementedError(f"no {kind} schema for {action} in {self.protocol}")
            checker = self._checkers.setdefault(
                key, _build_checker(self.protocol, f"{action}{_SUFFIX[kind]}")
            )
            if checker.fast is not None:
                fast = self._fast_requests if kind == "request" else self._fast_responses
                fast[action] = checker.fast
        return checker

    def _validate(
        self, action: str, kind: Kind, payload: object, refusal: Exception | None
    ) -> None:
        error = self._checker(action, kind).first_error(payload, refusal)
        if error is not None:
            raise error


_VALIDATORS: dict[str, SchemaValidator] = {}


def validator_for(protocol: str) -> SchemaValidator | None:
    """The (cached) validator of ``protocol``; None when no schemas ship for it."""
    found = _VALIDATORS.get(protocol)
    if found is not None:
        return found
    if protocol not in _shipped_protocols():
        return None
    return _VALIDATORS.setdefault(protocol, SchemaValidator(protocol))


@cache
def _shipped_protocols() -> frozenset[str]:
    """Names of the protocol folders under ``schemas/``."""
    root = resources.files("browser_ocpp.rpc") / "schemas"
    if not root.is_dir():
        return frozenset()
    return frozenset(entry.name for entry in root.iterdir() if entry.is_dir())
