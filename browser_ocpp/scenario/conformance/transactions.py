"""Transactions with meter values, reconnecting, and transactions replayed after an
outage."""

from __future__ import annotations

from typing import Any

from ..api import Bench, scenario
from ..frames import Reply
from ..stations import ScenarioStation
from .common import V2, accepted_station, answers_to, expect_answered

__all__ = ["offline_replay", "reconnect_resume", "transaction_2", "transaction_16"]

TRANSACTION_16 = {"StartTransaction", "MeterValues", "StopTransaction"}


async def _charge(bench: Bench, station: ScenarioStation) -> None:
    """Plug, start for the pack's idTag, one meter sample, stop (messages queued)."""
    connector = station.station.connector(1)
    await station.plug(1)
    if not await station.start_transaction(1, bench.settings.id_tag):
        bench.fail("the transaction did not start", station.frames[-4:])
    if bench.v16:  # a MeterValues naming the transaction
        await station.station.send_meter_values(1)
    else:  # a TransactionEvent(Updated) with the sample
        await station.station.send_transaction_update(
            connector, "MeterValuePeriodic", "Sample.Periodic"
        )
    await station.stop_transaction(1)


async def _drained(bench: Bench, station: ScenarioStation) -> None:
    if not await station.queue_drained(bench.timeout_s):
        bench.fail(
            f"transaction messages still unanswered after {bench.timeout_s:g} s",
            station.frames[-4:],
        )


def _check_16(bench: Bench, replies: list[Reply]) -> None:
    """Start, MeterValues, Stop answered; the id the Start got is the one used after."""
    actions = [reply.call.message[2] for reply in replies if reply.call is not None]
    bench.expect(
        actions[:1] == ["StartTransaction"] and actions[-1:] == ["StopTransaction"],
        f"the transaction's messages were {actions}",
    )
    payloads = expect_answered(bench, replies)
    start = payloads[0]
    status = start["idTagInfo"]["status"]
    if status != "Accepted":
        bench.inconclusive(
            f"the CSMS answered idTag {bench.settings.id_tag} {status}: use one it accepts "
            "(--id-tag)",
            replies[0].frames,
        )
    for reply in replies[1:]:
        sent = reply.call.message[3] if reply.call is not None else {}
        bench.expect(
            sent.get("transactionId") == start["transactionId"],
            "the station used another transactionId than the CSMS gave",
            reply.frames,
        )


def _check_2(bench: Bench, replies: list[Reply]) -> None:
    """Started, Updated (meter values), Ended, each answered."""
    events = [reply.call.message[3].get("eventType") for reply in replies if reply.call]
    bench.expect(
        events[:1] == ["Started"] and events[-1:] == ["Ended"] and len(events) >= 3,
        f"the TransactionEvents were {events}",
    )
    payloads = expect_answered(bench, replies)
    info: dict[str, Any] = payloads[0].get("idTokenInfo", {})
    if info.get("status", "Accepted") != "Accepted":
        bench.inconclusive(
            f"the CSMS answered idToken {bench.settings.id_tag} {info['status']}: use one it "
            "accepts (--id-tag)",
            replies[0].frames,
        )


@scenario(
    "TX-START-STOP",
    title="Start, MeterValues and Stop of a transaction answered, ids kept",
    clause="1.6 Core 4.8, 4.7, 4.10 (Start/StopTransaction, MeterValues); OCPP-J 1.6 4.2.2",
    protocols=["ocpp1.6"],
)
async def transaction_16(bench: Bench) -> None:
    station = await accepted_station(bench)
    start = len(bench.log.records)
    async with bench.step("Transaction charged and stopped"):
        await _charge(bench, station)
        await _drained(bench, station)
    async with bench.step("Every transaction message answered"):
        _check_16(bench, await answers_to(station, TRANSACTION_16, start))


@scenario(
    "TX-EVENTS",
    title="TransactionEvent Started, Updated with meter values, Ended answered",
    clause="2.0.1 E01-E07 (TransactionEvent); Part 4 4.2.2 (CALLRESULT)",
    protocols=V2,
)
async def transaction_2(bench: Bench) -> None:
    station = await accepted_station(bench)
    start = len(bench.log.records)
    async with bench.step("Transaction charged and stopped"):
        await _charge(bench, station)
        await _drained(bench, station)
    async with bench.step("Every TransactionEvent answered"):
        _check_2(bench, await answers_to(station, {"TransactionEvent"}, start))


@scenario(
    "RECONNECT",
    title="After a lost connection the station resumes without a new boot",
    clause="OCPP-J 1.6 5.4, 2.0.1 Part 4 5.3, 2.1 Part 4 5.4 (Reconnecting: no BootNotification)",
)
async def reconnect_resume(bench: Bench) -> None:
    station = await accepted_station(bench)
    async with bench.step("Connection lost and opened again"):
        await station.drop_connection()
        start = len(bench.log.records)
        await station.connect()
        await station.start()
        bench.expect(not station.calls_sent("BootNotification", start), "the station booted again")
    async with bench.step("Heartbeat and StatusNotification answered without a boot"):
        for action, payload in (
            ("Heartbeat", {}),
            ("StatusNotification", _status(bench)),
        ):
            reply = await station.call(action, payload)
            bench.expect_result(action, reply)


def _status(bench: Bench) -> dict[str, Any]:
    from ...emulator import messages as msg
    from ...emulator.connectors import ConnectorStatus

    return msg.status_notification(bench.protocol, 1, ConnectorStatus.AVAILABLE)


@scenario(
    "OFFLINE-REPLAY",
    title="A transaction held offline is replayed in order on reconnect and answered",
    clause="1.6 Core, transaction-related messages / 2.0.1 E12 (offline: true, seqNo); "
    "OCPP-J 1.6 5.4, 2.0.1 Part 4 5.3 (Reconnecting)",
)
async def offline_replay(bench: Bench) -> None:
    station = await accepted_station(bench)
    async with bench.step("idTag authorized while online (cached)"):
        if not await station.authorize(bench.settings.id_tag):
            bench.inconclusive(
                f"the CSMS did not accept idTag {bench.settings.id_tag} (--id-tag)",
                station.frames[-2:],
            )
    async with bench.step("Offline: transaction charged and stopped, messages held"):
        await station.go_offline()
        await _charge(bench, station)
        bench.expect(len(station.station.queue) >= 3, "the transaction's messages were not held")
    start = len(bench.log.records)
    async with bench.step("Online again: the held messages replayed"):
        await station.go_online()
        await _drained(bench, station)
        bench.expect(not station.calls_sent("BootNotification", start), "the station booted again")
    async with bench.step("Every replayed message answered"):
        if bench.v16:
            _check_16(bench, await answers_to(station, TRANSACTION_16, start))
        else:
            _check_2(bench, await answers_to(station, {"TransactionEvent"}, start))
