"""The message log: every frame in and out, classified by the engine's own parser.

``rpc.parse`` decides what a frame is (CALL, CALLRESULT, CALLERROR, a frame no peer
may accept, and why), so the log says what the engine says.  On top of it the log
matches answers to their CALLs (action, round trip), flags answers to ids nobody
asked, CALLs that reuse an open id, and (through ``check_response``, strict mode's
check) CALLRESULTs the engine refused.  Pure: no ``js``, no clock of its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ...rpc.errors import RPCError
from ...rpc.frames import (
    UNREADABLE_ID,
    BadMessage,
    Call,
    CallError,
    CallResult,
    CallResultError,
    Send,
    parse,
)
from ...rpc.validation import validator_for
from .formatting import iso_utc

__all__ = ["LogEntry", "MessageLog", "ResponseCheck", "matches", "strict_response_check"]

ResponseCheck = Callable[[str, dict[str, Any]], str | None]
"""``(action, payload)`` -> why the engine refuses that CALLRESULT, or None."""

MAX_OPEN = 2000  # CALLs never answered are forgotten, oldest first, past this many


@dataclass
class LogEntry:
    """One frame in or out, as shown in the log and exported.

    ``kind`` is ``call``, ``result``, ``error`` (a CALLERROR or CALLRESULTERROR),
    ``invalid`` (a readable answer the engine refused) or ``bad`` (a frame no peer
    may accept, a duplicate id, an answer to an unknown id); ``problem`` says why.
    """

    seq: int
    time: float  # epoch seconds
    outbound: bool
    raw: str
    kind: str
    label: str  # CALL / RESULT / ERROR / RESULTERROR / SEND / BAD
    message_id: str | None = None
    action: str | None = None
    rtt_ms: float | None = None
    problem: str | None = None
    frame: Any = None  # the JSON value, or None when the text is not JSON

    @property
    def direction(self) -> str:
        return "out" if self.outbound else "in"

    def pretty(self) -> str:
        if self.frame is None:
            return self.raw
        return json.dumps(self.frame, indent=2, ensure_ascii=False)

    def payload(self) -> Any:
        frame = self.frame
        if not isinstance(frame, list) or not frame:
            return None
        if frame[0] in (2, 6) and len(frame) > 3:
            return frame[3]
        if frame[0] == 3 and len(frame) > 2:
            return frame[2]
        return None

    def summary(self, limit: int = 140) -> str:
        """One line to show next to the action."""
        if self.kind in ("error", "invalid", "bad") and self.problem:
            text = self.problem
        else:
            payload = self.payload()
            text = (
                json.dumps(payload, ensure_ascii=False, separators=(", ", ": "))
                if payload is not None
                else self.raw
            )
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": iso_utc(self.time),
            "direction": self.direction,
            "kind": self.kind,
            "type": self.label,
            "messageId": self.message_id,
            "action": self.action,
            "rttMs": None if self.rtt_ms is None else round(self.rtt_ms, 1),
            "problem": self.problem,
            "frame": self.frame,
            "raw": self.raw if self.frame is None else None,
        }


@dataclass
class _Open:
    action: str
    started: float  # perf counter, seconds


def _json_or_none(raw: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def _action_of(value: Any) -> str | None:
    """The action of a frame the parser refused, where one can be read (for filtering)."""
    if isinstance(value, list) and len(value) > 2 and value[0] in (2, 6):
        return value[2] if isinstance(value[2], str) and value[2] else None
    return None


def _error_text(code: str, description: str) -> str:
    return f"{code}: {description}" if description else code


def strict_response_check(protocol: str, strict: Callable[[str], bool]) -> ResponseCheck:
    """The check strict mode makes on a CALLRESULT (``strict(action)``: is it on for
    that action), giving the refusal as ``code: reason`` in ``protocol``'s spelling."""

    def check(action: str, payload: dict[str, Any]) -> str | None:
        validator = validator_for(protocol)
        if validator is None or not strict(action):
            return None
        try:
            validator.validate_response(action, payload)
        except RPCError as exc:
            return _error_text(exc.wire_code(protocol), exc.message)
        return None

    return check


@dataclass
class MessageLog:
    """Every frame in memory (for export); CALLs matched to their answers.

    ``protocol`` is the connection's (it decides which message types exist);
    ``check_response`` is strict mode's check on the CSMS's answers, if any.
    """

    protocol: str | None = None
    check_response: ResponseCheck | None = None
    max_entries: int = 200_000
    perf: Callable[[], float] = time.perf_counter
    wall: Callable[[], float] = time.time
    entries: list[LogEntry] = field(default_factory=list)
    dropped: int = 0
    _open: dict[tuple[bool, str], _Open] = field(default_factory=dict)
    _seq: int = 0

    def connected(self, protocol: str, check_response: ResponseCheck | None) -> None:
        """A connection opened: frames now follow ``protocol``; no CALL is open."""
        self.protocol, self.check_response = protocol, check_response
        self._open.clear()

    def add(self, raw: str, outbound: bool) -> LogEntry:
        now = self.perf()
        self._seq += 1
        value = _json_or_none(raw)
        entry = LogEntry(self._seq, self.wall(), outbound, raw, "bad", "BAD", frame=value)
        verdict = parse(raw, self.protocol)
        if isinstance(verdict, BadMessage):
            entry.problem = _error_text(verdict.error_code, verdict.error.message)
            if verdict.message_id != UNREADABLE_ID:
                entry.message_id = verdict.message_id
            entry.action = _action_of(value)
        elif isinstance(verdict, Call | Send):
            self._request(entry, verdict, now)
        else:
            self._answer(entry, verdict, now)
        return self._keep(entry)

    def _request(self, entry: LogEntry, frame: Call | Send, now: float) -> None:
        entry.message_id, entry.action = frame.message_id, frame.action
        entry.kind, entry.label = "call", "CALL" if isinstance(frame, Call) else "SEND"
        if isinstance(frame, Send):
            return
        key = (entry.outbound, frame.message_id)
        if key in self._open:
            entry.kind = "bad"
            entry.problem = f"duplicate message id: a CALL with id {frame.message_id} is open"
            return
        self._open[key] = _Open(frame.action, now)
        if len(self._open) > MAX_OPEN:
            self._open.pop(next(iter(self._open)))

    def _answer(
        self, entry: LogEntry, frame: CallResult | CallError | CallResultError, now: float
    ) -> None:
        entry.message_id = frame.message_id
        if isinstance(frame, CallResultError):  # about one of our results: no CALL to close
            entry.kind, entry.label = "error", "RESULTERROR"
            entry.problem = _error_text(frame.error_code, frame.error_description)
            return
        opened = self._open.pop((not entry.outbound, frame.message_id), None)
        if opened is None:
            entry.problem = f"response to unknown message id {frame.message_id!r}"
            return
        entry.action = opened.action
        entry.rtt_ms = (now - opened.started) * 1000
        if isinstance(frame, CallError):
            entry.kind, entry.label = "error", "ERROR"
            entry.problem = _error_text(frame.error_code, frame.error_description)
            return
        entry.kind, entry.label = "result", "RESULT"
        if not entry.outbound and self.check_response is not None:
            problem = self.check_response(opened.action, frame.payload)
            if problem is not None:
                entry.kind, entry.problem = "invalid", f"invalid response: {problem}"

    def mark_bad(self, raw: str, reason: str) -> LogEntry | None:
        """A received frame the peer refused (``bad_message``): flag its row."""
        for entry in reversed(self.entries[-50:]):
            if not entry.outbound and entry.raw == raw:
                entry.kind, entry.label, entry.problem = "bad", "BAD", reason
                if entry.message_id is not None:
                    self._open.pop((False, entry.message_id), None)
                return entry
        return None

    def _keep(self, entry: LogEntry) -> LogEntry:
        self.entries.append(entry)
        if len(self.entries) > self.max_entries:
            cut = len(self.entries) - self.max_entries
            del self.entries[:cut]
            self.dropped += cut
        return entry

    def clear(self) -> None:
        self.entries.clear()
        self.dropped = 0

    def matching(self, action_filter: str, direction: str) -> Iterator[LogEntry]:
        needle = action_filter.strip().lower()
        for entry in self.entries:
            if matches(entry, needle, direction):
                yield entry

    def export(self, meta: dict[str, Any]) -> str:
        return json.dumps(
            {**meta, "messages": [entry.to_json() for entry in self.entries]},
            indent=2,
            ensure_ascii=False,
        )


def matches(entry: LogEntry, needle: str, direction: str) -> bool:
    if direction in ("in", "out") and entry.direction != direction:
        return False
    if needle:
        haystack = (entry.action or entry.label).lower()
        return needle in haystack
    return True
