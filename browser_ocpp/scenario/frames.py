"""The frames of a scenario run, in order, and bounded waits for the ones to come.

Every station of a run writes into one :class:`FrameLog` (its ``message`` events,
raw text in and out), so a verdict can name the exact frames that decided it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .verdicts import FrameRecord

__all__ = ["FrameLog", "Reply", "parse"]

Match = Callable[[FrameRecord, list[Any] | None], bool]


def parse(record: FrameRecord) -> list[Any] | None:
    """The frame as an OCPP-J array, or None if it is not one."""
    try:
        value = json.loads(record.text)
    except ValueError:
        return None
    return value if isinstance(value, list) and value else None


@dataclass(frozen=True, slots=True)
class Reply:
    """What came back for a CALL: a CALLRESULT, a CALLERROR, or nothing in time."""

    message_id: str
    call: FrameRecord | None
    answer: FrameRecord | None

    @property
    def kind(self) -> str:
        """``result``, ``error`` (CALLERROR, or 2.1 CALLRESULTERROR) or ``none``."""
        frame = parse(self.answer) if self.answer is not None else None
        if frame is None:
            return "none"
        return "result" if frame[0] == 3 else "error"

    @property
    def payload(self) -> Any:
        frame = parse(self.answer) if self.answer is not None else None
        return frame[2] if frame is not None and frame[0] == 3 and len(frame) > 2 else None

    @property
    def error_code(self) -> str | None:
        frame = parse(self.answer) if self.answer is not None else None
        if frame is None or frame[0] == 3 or len(frame) < 3:
            return None
        return str(frame[2])

    @property
    def round_trip_s(self) -> float | None:
        if self.call is None or self.answer is None:
            return None
        return self.answer.t - self.call.t

    @property
    def frames(self) -> list[FrameRecord]:
        return [f for f in (self.call, self.answer) if f is not None]

    def describe(self) -> str:
        if self.kind == "result":
            return f"CALLRESULT {json.dumps(self.payload)[:200]}"
        if self.kind == "error":
            return f"CALLERROR {self.error_code}"
        return "no answer"


class FrameLog:
    """The frames of a run; wait for one to come with :meth:`wait_for`."""

    def __init__(self) -> None:
        self.records: list[FrameRecord] = []
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time()
        self._new = asyncio.Event()
        self._listeners: list[Callable[[FrameRecord], None]] = []

    def now(self) -> float:
        return self._loop.time() - self._start

    def add(self, station: str, text: str, outbound: bool) -> FrameRecord:
        record = FrameRecord(self.now(), "out" if outbound else "in", station, text)
        self.records.append(record)
        self._new.set()
        for listener in list(self._listeners):
            listener(record)
        return record

    def on_frame(self, listener: Callable[[FrameRecord], None]) -> None:
        """Call ``listener(record)`` for each frame from now on (a live log)."""
        self._listeners.append(listener)

    def since(self, index: int) -> list[FrameRecord]:
        return self.records[index:]

    def find(self, match: Match, start: int = 0) -> FrameRecord | None:
        for record in self.records[start:]:
            if match(record, parse(record)):
                return record
        return None

    async def wait_for(self, match: Match, within: float, start: int = 0) -> FrameRecord | None:
        """The first frame from ``start`` on that ``match`` accepts, waiting at most
        ``within`` seconds for it to come; None if none came."""
        deadline = self._loop.time() + max(0.0, within)
        seen = start
        while True:
            for index in range(seen, len(self.records)):
                record = self.records[index]
                if match(record, parse(record)):
                    return record
            seen = len(self.records)
            left = deadline - self._loop.time()
            if left <= 0:
                return None
            self._new.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new.wait(), left)

    def call_frame(self, station: str, message_id: str, outbound: bool) -> FrameRecord | None:
        """The CALL ``message_id`` the station sent (``outbound``) or received."""
        direction = "out" if outbound else "in"

        def is_call(record: FrameRecord, frame: list[Any] | None) -> bool:
            return (
                record.station == station
                and record.direction == direction
                and frame is not None
                and frame[0] == 2
                and len(frame) > 1
                and frame[1] == message_id
            )

        return self.find(is_call)

    async def reply(
        self, station: str, message_id: str, within: float, outbound: bool = True
    ) -> Reply:
        """The answer to CALL ``message_id`` that ``station`` sent (``outbound``: the
        CSMS's answer) or received (the station's own answer)."""
        call = self.call_frame(station, message_id, outbound)
        direction = "in" if outbound else "out"

        def is_answer(record: FrameRecord, frame: list[Any] | None) -> bool:
            return (
                record.station == station
                and record.direction == direction
                and frame is not None
                and frame[0] in (3, 4, 5)
                and len(frame) > 1
                and frame[1] == message_id
            )

        answer = await self.wait_for(is_answer, within)
        return Reply(message_id, call, answer)
