"""Faults on demand: the station answers late, not at all or with an error, drops its
connection, sends frames no station should, offers several subprotocols, and with
strict mode off sends what it was given."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from browser_ocpp import (
    CallTimeoutError,
    RPCGenericError,
    RPCInternalError,
    RPCOccurrenceConstraintViolationError,
)
from browser_ocpp.peer import State

from .conftest import IDENTITY, Csms, Payload, RigFactory

ALL = ["ocpp2.1", "ocpp2.0.1", "ocpp1.6"]


def _reset(v16: bool) -> Payload:
    return {"type": "Hard"} if v16 else {"type": "Immediate"}


async def test_answers_can_be_delayed_dropped_or_refused(make_rig: RigFactory) -> None:
    rig = await make_rig(meter_interval_s=0)
    csms, faults = rig.csms, rig.station.faults
    peer = csms.server.clients[IDENTITY]
    loop = asyncio.get_running_loop()
    faults.reply_delay_ms = 200
    began = loop.time()
    assert await csms.send("ClearCache", {}) == {"status": "Accepted"}
    assert loop.time() - began >= 0.2 - 0.01
    faults.clear()
    faults.drop_replies = True
    with pytest.raises(CallTimeoutError):
        await peer.call("Reset", _reset(rig.v16), timeout_ms=200)
    faults.drop_replies = False
    faults.reject_with = "InternalError"
    with pytest.raises(RPCInternalError) as refused:
        await csms.send("Reset", _reset(rig.v16))
    assert refused.value.message == "fault injected by the emulator"
    faults.reject_with = "NoSuchCode"  # sent as written, a code no version has
    with pytest.raises(RPCGenericError) as odd:
        await csms.send("ClearCache", {})
    assert odd.value.received_code == "NoSuchCode"
    faults.actions = {"Reset"}
    assert await csms.send("ClearCache", {}) == {"status": "Accepted"}  # not a Reset
    await asyncio.sleep(0.1)
    assert csms.inbox["BootNotification"].empty()  # dropped and refused: not acted on
    assert any("dropped (fault)" in line for line in rig.lines)
    faults.clear()
    assert await csms.send("Reset", _reset(rig.v16)) == {"status": "Accepted"}
    await csms.next("BootNotification")


async def test_a_late_answer_comes_after_the_csms_gave_up(make_rig: RigFactory) -> None:
    rig = await make_rig(meter_interval_s=0)
    peer = rig.csms.server.clients[IDENTITY]
    bad: list[Any] = []
    peer.on("bad_message", bad.append)
    sent: list[str] = []
    rig.client.on("message", lambda event: sent.append(event.message) if event.outbound else None)
    rig.station.faults.reply_delay_ms = 300
    with pytest.raises(CallTimeoutError):
        await peer.call("ClearCache", {}, timeout_ms=100)
    await asyncio.sleep(0.4)
    assert any('"Accepted"' in text for text in sent)  # answered, late
    assert bad == []  # the CSMS knows a late answer from a bad one


async def test_an_abrupt_disconnect_then_a_reconnect_without_boot(make_rig: RigFactory) -> None:
    rig = await make_rig(meter_interval_s=0, reconnect=True)
    station, csms = rig.station, rig.csms
    rig.client.on("open", lambda event: station.start())  # as the console does
    first = await csms.connections.get()
    closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    first.on("close", lambda event: closed.done() or closed.set_result(event.code))
    await station.faults.disconnect()
    assert await asyncio.wait_for(closed, 5) == 1006  # no closing handshake
    second = await asyncio.wait_for(csms.connections.get(), 5)  # the client reconnected
    assert second is not first
    await csms.send("TriggerMessage", {"requestedMessage": "Heartbeat"})
    await csms.next("Heartbeat")
    assert csms.inbox["BootNotification"].empty() and station.online


async def test_raw_frames(make_rig: RigFactory) -> None:
    rig = await make_rig(meter_interval_s=0)
    rig.expect_problems = True  # the CSMS's answers to them match no call of the station
    csms, faults = rig.csms, rig.station.faults
    peer = csms.server.clients[IDENTITY]
    bad: list[Any] = []
    peer.on("bad_message", bad.append)
    text = await faults.send_malformed()
    assert text.startswith('[2, "') and not text.endswith("]")
    message_id = await faults.send_duplicate_id()
    await faults.send_wrong_type(7)
    await faults.send_raw('[2, "raw-1", "Heartbeat", {}]')
    await csms.next("Heartbeat")
    await csms.next("Heartbeat")
    await csms.next("Heartbeat")
    heartbeats = [i for name, i in csms.message_ids if name == "Heartbeat"]
    assert heartbeats == [message_id, message_id, "raw-1"]
    assert len(bad) == 2  # the cut CALL and type 7 (which 2.1 leaves unanswered)
    assert rig.client.state is State.OPEN


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_a_station_offering_several_protocols_speaks_the_negotiated_one(
    csms: Csms, make_rig: RigFactory
) -> None:
    rig = await make_rig(protocols=ALL, meter_interval_s=0)  # the strict CSMS checks each
    assert rig.client.protocol == csms.protocol and rig.station.v16 == csms.v16
    assert await rig.station.start_transaction(1)
    await rig.station.stop_transaction(1)
    if csms.v16:
        await csms.next("StopTransaction")
    else:
        await csms.until("TransactionEvent", lambda p: p["eventType"] == "Ended")
    assert rig.problems == []


@pytest.mark.parametrize("strict", [False, True])
async def test_with_strict_mode_off_a_custom_call_goes_out_as_written(
    make_rig: RigFactory, strict: bool
) -> None:
    rig = await make_rig(strict=strict)
    boot = {"chargePointVendor": "ACME"} if rig.v16 else {"reason": "PowerUp"}
    with pytest.raises(RPCOccurrenceConstraintViolationError) as refused:
        await rig.station.send_custom("BootNotification", boot)
    if strict:  # refused here, before sending
        assert refused.value.received_code is None
        assert rig.csms.inbox["BootNotification"].empty()
    else:  # the CSMS got it and refused it (before its handler saw it)
        spelling = "Occurence" if rig.v16 else "Occurrence"
        assert refused.value.received_code == f"{spelling}ConstraintViolation"


async def test_a_scripted_answer_is_sent_as_written_and_not_acted_on(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(meter_interval_s=0)
    csms, faults = rig.csms, rig.station.faults
    faults.answer_with = {"Reset": {"status": "Rejected"}}
    assert await csms.send("Reset", _reset(rig.v16)) == {"status": "Rejected"}
    assert await csms.send("ClearCache", {}) == {"status": "Accepted"}  # not scripted
    await asyncio.sleep(0.1)
    assert csms.inbox["BootNotification"].empty()  # no reboot: the Reset was not acted on
    faults.clear()
    assert faults.answer_with == {}
    assert await csms.send("Reset", _reset(rig.v16)) == {"status": "Accepted"}
    await csms.next("BootNotification")
