"""The console's state without the DOM: settings, the message log, JSON helpers.

Nothing here imports ``js``, so it runs (and is tested) under CPython as well as in
the page.  ``browser_ocpp.console.app`` binds it to the DOM.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "COMMON_STATION_ACTIONS",
    "DEFAULTS",
    "STORAGE_KEY",
    "VERSIONS",
    "LogEntry",
    "MessageLog",
    "SettingsError",
    "action_groups",
    "clock",
    "coerce_settings",
    "default_endpoint",
    "error_line",
    "format_energy_kwh",
    "format_power_kw",
    "format_soc",
    "json_lines",
    "random_identity",
]

STORAGE_KEY = "browser-ocpp.console.v1"
MAX_CONNECTORS = 8
VERSIONS = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")

DEFAULTS: dict[str, Any] = {
    "endpoint": "",  # empty: ws(s)://<page host>/ocpp, computed in the page
    "identity": "",  # empty: a random EMU-xxxx, chosen once and then kept
    "version": "ocpp1.6",
    "strict": True,
    "reconnect": True,
    "max_reconnects": None,  # None: unlimited
    "backoff_min": 1000,
    "backoff_max": 30000,
    "vendor": "BrowserOCPP",
    "model": "Emulator",
    "serial": "EMU-SN-0001",
    "firmware": "1.0.0",
    "connectors": 2,
    "meter_interval": 10.0,
    "power_kw": 11.0,
    "id_tag": "TAG-0001",
    "simulate_soc": True,
    "initial_soc": 20.0,
    "battery_kwh": 60.0,
    "custom_action": "",
}

# Actions a station sends on its own, offered first in the custom-call list.
COMMON_STATION_ACTIONS = (
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "Authorize",
    "StartTransaction",
    "StopTransaction",
    "TransactionEvent",
    "MeterValues",
    "DataTransfer",
    "NotifyEvent",
    "NotifyReport",
    "SecurityEventNotification",
    "FirmwareStatusNotification",
    "DiagnosticsStatusNotification",
    "LogStatusNotification",
    "SignCertificate",
)


class SettingsError(ValueError):
    """A setting the user typed cannot be used; ``field`` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


def random_identity() -> str:
    return "EMU-" + secrets.token_hex(2).upper()


def default_endpoint(protocol: str, host: str) -> str:
    """``ws://<host>/ocpp`` (``wss`` when the page came over https)."""
    scheme = "wss" if protocol == "https:" else "ws"
    return f"{scheme}://{host or '127.0.0.1'}/ocpp"


def _number(
    raw: Any, name: str, *, minimum: float, integer: bool = False, maximum: float = math.inf
) -> float:
    if isinstance(raw, bool):
        raise SettingsError(name, f"{name} must be a number")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise SettingsError(name, f"{name} must be a number") from None
    if not math.isfinite(value) or value < minimum or value > maximum:
        high = "" if maximum == math.inf else f" and at most {maximum:g}"
        raise SettingsError(name, f"{name} must be at least {minimum:g}{high}")
    if integer:
        if value != int(value):
            raise SettingsError(name, f"{name} must be a whole number")
        return int(value)
    return value


def coerce_settings(raw: dict[str, Any], *, strict: bool = True) -> dict[str, Any]:
    """Settings from the form or from storage, typed and checked.

    With ``strict`` a bad value raises :class:`SettingsError`; without it (values
    restored from storage) a bad value falls back to its default.
    """
    out = dict(DEFAULTS)
    for key, default in DEFAULTS.items():
        if key not in raw:
            continue
        try:
            out[key] = _coerce_one(key, raw[key], default)
        except SettingsError:
            if strict:
                raise
    if out["backoff_max"] < out["backoff_min"]:
        if strict:
            raise SettingsError("backoff_max", "backoff max must not be below backoff min")
        out["backoff_min"], out["backoff_max"] = DEFAULTS["backoff_min"], DEFAULTS["backoff_max"]
    return out


def _coerce_one(key: str, value: Any, default: Any) -> Any:
    if key == "version":
        if value not in VERSIONS:
            raise SettingsError(key, f"unknown OCPP version {value!r}")
        return value
    if key == "max_reconnects":
        if value is None or (isinstance(value, str) and value.strip() == ""):
            return None
        return _number(value, "max reconnects", minimum=0, integer=True)
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.lower() in ("1", "true", "on", "yes")
        return bool(value)
    if key == "endpoint":
        text = str(value).strip()
        if text and not re.match(r"^wss?://[^/\s]+", text, re.IGNORECASE):
            raise SettingsError(key, "the endpoint must start with ws:// or wss://")
        return text
    if key == "identity":
        text = str(value).strip()
        if len(text) > 48 or ":" in text:
            raise SettingsError(key, "the identity has 1 to 48 characters and no colon")
        return text
    if key == "connectors":
        return _number(value, "connectors", minimum=1, maximum=MAX_CONNECTORS, integer=True)
    if key in ("backoff_min", "backoff_max"):
        return _number(value, key.replace("_", " ") + " (ms)", minimum=1, integer=True)
    if key == "meter_interval":
        return _number(value, "meter interval", minimum=0)
    if key == "power_kw":
        return _number(value, "power", minimum=0.1, maximum=1000)
    if key == "initial_soc":
        return _number(value, "initial SoC", minimum=0, maximum=100)
    if key == "battery_kwh":
        return _number(value, "battery", minimum=1, maximum=1000)
    text = str(value).strip()
    if key in ("vendor", "model", "id_tag") and not text:
        raise SettingsError(key, f"{key.replace('_', ' ')} must not be empty")
    return text


def action_groups(actions: Iterable[str]) -> list[tuple[str, list[str]]]:
    """The custom-call list: common station actions first, then all the others."""
    names = sorted(set(actions))
    common = [name for name in COMMON_STATION_ACTIONS if name in names]
    rest = [name for name in names if name not in common]
    groups = []
    if common:
        groups.append(("Station → CSMS (common)", common))
    if rest:
        groups.append(("All actions", rest))
    return groups


# --- formatting ---------------------------------------------------------------------


def format_energy_kwh(wh: float | None) -> str:
    return "—" if wh is None else f"{wh / 1000:.3f}"


def format_power_kw(w: float | None) -> str:
    return "—" if w is None else f"{w / 1000:.2f}"


def format_soc(soc: float | None) -> str:
    return "—" if soc is None else f"{soc:.1f}"


def clock(epoch: float) -> str:
    """``HH:MM:SS.mmm`` in local time."""
    local = time.localtime(epoch)
    return time.strftime("%H:%M:%S", local) + f".{int(epoch * 1000) % 1000:03d}"


# --- the message log ----------------------------------------------------------------

KIND_NAMES = {2: "call", 3: "result", 4: "error", 5: "error", 6: "call"}
LABELS = {2: "CALL", 3: "RESULT", 4: "ERROR", 5: "RESULTERROR", 6: "SEND"}


@dataclass
class LogEntry:
    """One frame in or out, as shown in the log and exported."""

    seq: int
    time: float  # epoch seconds
    outbound: bool
    raw: str
    kind: str  # call / result / error / bad
    label: str  # CALL / RESULT / ERROR / SEND / BAD ...
    message_id: str | None = None
    action: str | None = None
    rtt_ms: float | None = None
    problem: str | None = None  # error code + description, or why the frame is bad
    frame: Any = None  # the parsed JSON, or None when unreadable

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
        if self.kind == "error":
            text = self.problem or ""
        elif self.kind == "bad":
            text = f"{self.problem}: {self.raw}" if self.problem else self.raw
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
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.time))
            + f".{int(self.time * 1000) % 1000:03d}Z",
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
    entry: LogEntry


@dataclass
class MessageLog:
    """Every frame in memory (for export); CALLs matched to their answers."""

    max_entries: int = 200_000
    perf: Callable[[], float] = time.perf_counter
    wall: Callable[[], float] = time.time
    entries: list[LogEntry] = field(default_factory=list)
    dropped: int = 0
    _open: dict[tuple[bool, str], _Open] = field(default_factory=dict)
    _seq: int = 0

    def add(self, raw: str, outbound: bool) -> LogEntry:
        now = self.perf()
        self._seq += 1
        entry = LogEntry(self._seq, self.wall(), outbound, raw, "bad", "BAD")
        try:
            frame = json.loads(raw)
        except ValueError:
            entry.problem = "not JSON"
            return self._keep(entry)
        entry.frame = frame
        if not (isinstance(frame, list) and len(frame) >= 3 and frame[0] in KIND_NAMES):
            entry.problem = "not an OCPP-J message"
            return self._keep(entry)
        kind = frame[0]
        entry.kind, entry.label = KIND_NAMES[kind], LABELS[kind]
        entry.message_id = str(frame[1])
        if kind in (2, 6):
            entry.action = str(frame[2])
            if kind == 2:
                self._open[(outbound, entry.message_id)] = _Open(entry.action, now, entry)
                if len(self._open) > 2000:  # never answered: forget the oldest
                    self._open.pop(next(iter(self._open)))
        else:
            if kind in (4, 5):
                code = frame[2] if len(frame) > 2 else "?"
                description = frame[3] if len(frame) > 3 else ""
                entry.problem = f"{code}: {description}" if description else str(code)
            opened = self._open.pop((not outbound, entry.message_id), None)
            if opened is not None:
                entry.action = opened.action
                entry.rtt_ms = (now - opened.started) * 1000
        return self._keep(entry)

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


# --- locating a JSON path in the editor's text --------------------------------------


class _Locator:
    """A small JSON reader that records the 1-based line of every value's start and
    of every member's key, by JSON path (``$``, ``$.a``, ``$.a[0]``)."""

    WS = " \t\r\n"

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.lines: dict[str, int] = {}

    def line(self) -> int:
        return self.text.count("\n", 0, self.pos) + 1

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in self.WS:
            self.pos += 1

    def value(self, path: str) -> None:
        self.skip()
        self.lines.setdefault(path, self.line())
        char = self.text[self.pos : self.pos + 1]
        if char == "{":
            self.pos += 1
            self.skip()
            if self.text[self.pos : self.pos + 1] == "}":
                self.pos += 1
                return
            while True:
                self.skip()
                key_line = self.line()
                key = self.string()
                self.lines[f"{path}.{key}"] = key_line
                self.skip()
                self.expect(":")
                self.value(f"{path}.{key}")
                self.skip()
                if self.text[self.pos : self.pos + 1] == ",":
                    self.pos += 1
                    continue
                self.expect("}")
                return
        if char == "[":
            self.pos += 1
            self.skip()
            if self.text[self.pos : self.pos + 1] == "]":
                self.pos += 1
                return
            index = 0
            while True:
                self.value(f"{path}[{index}]")
                index += 1
                self.skip()
                if self.text[self.pos : self.pos + 1] == ",":
                    self.pos += 1
                    continue
                self.expect("]")
                return
        if char == '"':
            self.string()
            return
        match = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false|null").match(
            self.text, self.pos
        )
        if match is None:
            raise ValueError("unexpected character")
        self.pos = match.end()

    def string(self) -> str:
        self.expect('"')
        start = self.pos - 1
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\":
                self.pos += 2
                continue
            self.pos += 1
            if char == '"':
                return str(json.loads(self.text[start : self.pos]))
        raise ValueError("unterminated string")

    def expect(self, char: str) -> None:
        if self.text[self.pos : self.pos + 1] != char:
            raise ValueError(f"expected {char!r}")
        self.pos += 1


def json_lines(text: str) -> dict[str, int]:
    """JSON path -> 1-based line in ``text`` (as far as the text could be read)."""
    locator = _Locator(text)
    with contextlib.suppress(ValueError, IndexError):
        locator.value("$")
    return locator.lines


def error_line(text: str, path: str, keyword: str | None = None, message: str = "") -> int | None:
    """The editor line to mark for a schema error at ``path``."""
    lines = json_lines(text)
    if keyword == "additionalProperties":
        found = re.search(r"'([^']+)' was unexpected", message)
        if found and f"{path}.{found.group(1)}" in lines:
            return lines[f"{path}.{found.group(1)}"]
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        if cut <= 0:
            break
        path = path[:cut]
    return lines.get("$")
