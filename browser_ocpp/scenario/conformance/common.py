"""What the conformance cases share: a booted station, the answers to what it sent,
and the version spellings."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ...emulator import StationConfig
from ..api import Bench
from ..frames import Reply
from ..stations import ScenarioStation
from ..verdicts import FrameRecord

__all__ = [
    "V2",
    "accepted_station",
    "answers_to",
    "code",
    "expect_answered",
    "wait_s",
]

V2 = ("ocpp2.0.1", "ocpp2.1")
"""The 2.x versions (a case for 2.x only names these)."""

CONFIG = StationConfig(meter_interval_s=0, connectors=1)
"""The pack's station: one connector, samples only when a case asks for one."""


def code(bench: Bench, name: str) -> str:
    """An error code as the version under test spells it (1.6 keeps its typos)."""
    if bench.v16:
        return {
            "FormatViolation": "FormationViolation",
            "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
        }.get(name, name)
    return name


def wait_s(bench: Bench, interval: Any) -> float:
    """A wait the CSMS asked for (a boot interval), bounded by the pack's timeout."""
    seconds = float(interval) if isinstance(interval, int | float) else 0.0
    return max(0.0, min(seconds, bench.timeout_s))


async def accepted_station(bench: Bench, reply_delay_s: float = 0.0) -> ScenarioStation:
    """A station the CSMS accepted (boot, statuses, heartbeat running); the case is
    inconclusive when the CSMS does not accept it, failed when the boot is answered
    badly. ``reply_delay_s``: the station answers the CSMS's calls that late."""
    station = await bench.station(config=replace(CONFIG))
    station.faults.reply_delay_ms = reply_delay_s * 1000
    async with bench.step("BootNotification accepted"):
        await station.start()
        boots = station.calls_sent("BootNotification")
        reply = await station.reply_to(boots[-1]) if boots else None
        if not station.station.booted:
            if reply is not None and reply.kind == "result":
                status = (reply.payload or {}).get("status")
                bench.inconclusive(
                    f"the CSMS answered the boot {status}, not Accepted: this case needs an "
                    "identity it accepts (--identity)",
                    reply.frames,
                )
            bench.fail(
                f"the boot was not accepted: {reply.describe() if reply else 'none sent'}",
                reply.frames if reply else (),
            )
    return station


async def answers_to(station: ScenarioStation, actions: set[str], start: int = 0) -> list[Reply]:
    """The CSMS's answers to the station's CALLs of ``actions`` from log index
    ``start`` on, in order."""
    return [
        await station.reply_to(record)
        for record in station.calls_sent(None, start)
        if _action(record) in actions
    ]


def _action(record: FrameRecord) -> str | None:
    message = record.message
    return message[2] if isinstance(message, list) and len(message) > 2 else None


def expect_answered(bench: Bench, replies: list[Reply]) -> list[dict[str, Any]]:
    """Each reply a valid CALLRESULT of its action; their payloads."""
    payloads = []
    for reply in replies:
        action = _action(reply.call) if reply.call is not None else None
        payloads.append(bench.expect_result(action or "?", reply))
    return payloads
