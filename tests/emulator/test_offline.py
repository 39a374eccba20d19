"""Offline as a real station has it: charging and metering go on, transaction messages
wait in the station's queue and are replayed in order on reconnect (no new boot),
idTags are authorized locally, refused messages are retried as configured."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from browser_ocpp import NOREPLY
from browser_ocpp.emulator import ConnectorStatus
from browser_ocpp.emulator.auth import IdInfo
from browser_ocpp.peer import State

from .conftest import Csms, Payload, Rig, RigFactory


def _energy(payload: Payload) -> float:
    """The energy register of a sample, a StopTransaction or a TransactionEvent."""
    values = payload.get("meterValue") or payload.get("transactionData") or []
    for value in values[0]["sampledValue"] if values else []:
        if value["measurand"] == "Energy.Active.Import.Register":
            return float(value["value"])
    return float(payload["meterStop"])


_TRANSACTION_ACTIONS = {"StartTransaction", "StopTransaction", "MeterValues", "TransactionEvent"}


def _transaction_messages(rig: Rig, since: int = 0) -> list[tuple[str, Payload]]:
    return [(name, p) for name, p in rig.csms.log[since:] if name in _TRANSACTION_ACTIONS]


def _delivered(rig: Rig, since: int = 0) -> list[tuple[str, Payload, str]]:
    """(action, payload, message id) of the transaction messages the CSMS got, a
    resend (same message id: its answer was lost with the connection) counted once."""
    seen: set[str] = set()
    messages = []
    for (name, payload), (_, message_id) in zip(
        rig.csms.log[since:], rig.csms.message_ids[since:], strict=True
    ):
        if name in _TRANSACTION_ACTIONS and message_id not in seen:
            seen.add(message_id)
            messages.append((name, payload, message_id))
    return messages


async def _until(check: Callable[[], bool], within: float = 5.0) -> None:
    """Poll ``check`` until it holds; fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        if check():
            return
        if loop.time() > deadline:
            pytest.fail(f"not within {within} s")
        await asyncio.sleep(0.01)


async def _cut(rig: Rig, via: str) -> None:
    """Take the station offline: its switch, or the client closing (the console's
    Disconnect, after which the page stops the station)."""
    if via == "set_offline":
        await rig.station.set_offline(True)
    else:
        await rig.client.close()
        await rig.station.stop()
    assert not rig.station.online


async def _reconnect(rig: Rig, via: str) -> None:
    if via == "set_offline":
        await rig.station.set_offline(False)
    else:
        await rig.client.connect()
        await rig.station.start()
    assert rig.station.online


@pytest.mark.parametrize("via", ["set_offline", "client"])
async def test_charging_goes_on_offline_and_is_replayed_in_order_without_a_boot(
    make_rig: RigFactory, via: str
) -> None:
    rig = await make_rig()  # a sample every 0.05 s
    station, csms = rig.station, rig.csms
    sample = "MeterValues" if rig.v16 else "TransactionEvent"
    assert await station.start_transaction(1)
    for _ in range(2):
        await csms.next(sample)
    connector = station.connectors[0]
    # A sample taken online and queued just before the cut (set_offline drops the
    # connection before the queue's worker sends it): the race a full run once hit.
    # It happened online, so it is replayed without the offline flag.
    await station.send_sample(connector, triggered=False)
    online_ones = {message.message_id for message in station.queue.messages}
    await _cut(rig, via)
    energy = connector.energy_wh
    await _until(lambda: len(station.queue) >= 4)  # metering goes on, queued
    assert connector.energy_wh > energy and connector.status is ConnectorStatus.CHARGING
    await station.stop_transaction(1)
    await station.unplug(1)
    queued = len(station.queue)
    mark = len(csms.log)
    await _reconnect(rig, via)
    await _until(lambda: len(station.queue) == 0)
    replayed = _transaction_messages(rig, mark)
    assert len(replayed) == queued  # each once, none lost
    replays = _delivered(rig, mark)
    every = [(name, p) for name, p, _ in _delivered(rig)]
    energies = [_energy(p) for name, p in every if name != "StartTransaction"]
    assert energies == sorted(energies)  # continuous: no jump, no step back
    if rig.v16:
        assert [name for name, _ in every][0] == "StartTransaction"
        assert [name for name, _ in every][-1] == "StopTransaction"
        assert {p["transactionId"] for _, p in every[1:]} == {101}
    else:
        assert [p["seqNo"] for _, p in every] == list(range(len(every)))
        assert [p["eventType"] for _, p in every][-1] == "Ended"
        flags = [p.get("offline", False) for _, p in every]
        assert flags[0] is False and flags[-1] is True  # Ended happened offline
        assert flags == sorted(flags)  # online ones, then offline ones
        # offline: true exactly for the events that happened after the cut
        after_cut = [(p.get("offline", False), i not in online_ones) for _, p, i in replays]
        assert all(flag is happened_offline for flag, happened_offline in after_cut)
        if via == "set_offline":  # the forced race: the online sample went out only now
            assert (False, False) in after_cut
    assert csms.inbox["BootNotification"].empty()  # a reconnect is not a power-up
    assert any("no BootNotification" in line for line in rig.lines)
    await rig.status(1, "Available")  # what changed while offline is reported


@pytest.mark.parametrize("protocol", ["ocpp1.6"])
async def test_a_transaction_started_offline_gets_its_id_on_replay(make_rig: RigFactory) -> None:
    rig = await make_rig()
    station, csms = rig.station, rig.csms
    assert await station.authorize("TAG-0001")  # now in the authorization cache
    await csms.next("Authorize")
    await station.set_offline(True)
    assert await station.start_transaction(1)  # authorized from the cache
    connector = station.connectors[0]
    assert connector.transaction_id is not None and connector.transaction_id.startswith("local-")
    await _until(lambda: len(station.queue) >= 3)
    await station.set_offline(False)
    start = await csms.next("StartTransaction")
    assert start["idTag"] == "TAG-0001" and start["meterStart"] == 0
    samples = [await csms.next("MeterValues") for _ in range(2)]
    assert {s["transactionId"] for s in samples} == {101}  # the CSMS's id, written in
    assert connector.transaction_id == "101"
    assert await csms.send("RemoteStopTransaction", {"transactionId": 101}) == {
        "status": "Accepted"
    }
    stop = await csms.next("StopTransaction")
    assert stop["transactionId"] == 101 and stop["reason"] == "Remote"
    assert csms.inbox["Authorize"].empty()  # the offline start asked nobody


@pytest.mark.parametrize("protocol", ["ocpp2.0.1", "ocpp2.1"])
async def test_a_transaction_started_offline_is_flagged_offline(make_rig: RigFactory) -> None:
    rig = await make_rig(meter_interval_s=0)
    station, csms = rig.station, rig.csms
    station.auth.local_list["LISTED"] = IdInfo("Accepted")
    await station.set_offline(True)
    assert await station.start_transaction(2, "LISTED")  # from the local list
    key = station.connectors[1].transaction_id
    await station.set_offline(False)
    started = await csms.next("TransactionEvent")
    assert started["eventType"] == "Started" and started["offline"] is True
    assert started["seqNo"] == 0 and started["triggerReason"] == "Authorized"
    assert started["transactionInfo"]["transactionId"] == key
    assert started["idToken"]["idToken"] == "LISTED"
    await station.stop_transaction(2)
    ended = await csms.next("TransactionEvent")
    assert ended["seqNo"] == 1 and "offline" not in ended  # online again


async def test_offline_starts_follow_the_authorization_settings(make_rig: RigFactory) -> None:
    rig = await make_rig(meter_interval_s=0, connectors=3)
    station = rig.station
    assert await station.authorize("KNOWN")  # cached as Accepted
    await station.set_offline(True)
    assert not await station.start_transaction(1, "STRANGER")
    assert any("STRANGER cannot be authorized offline" in line for line in rig.lines)
    station.configuration["AllowOfflineTxForUnknownId"] = "true"
    assert await station.start_transaction(1, "STRANGER")
    station.auth.local_list["BANNED"] = IdInfo("Blocked")
    assert not await station.start_transaction(2, "BANNED")  # the list outranks that setting
    station.configuration["LocalAuthorizeOffline"] = "false"
    station.configuration["AllowOfflineTxForUnknownId"] = "false"
    assert not await station.start_transaction(2, "KNOWN")  # the cache is not used offline
    station.configuration["LocalAuthorizeOffline"] = "true"
    assert await station.start_transaction(2, "KNOWN")
    await station.stop_transaction(1)  # stops and unplugs work offline too
    await station.unplug(2)
    assert station.connectors[1].status is ConnectorStatus.AVAILABLE
    assert rig.csms.inbox["Authorize"].qsize() == 1  # only the online one


async def test_local_pre_authorize_starts_without_asking(make_rig: RigFactory) -> None:
    rig = await make_rig(meter_interval_s=0)
    station, csms = rig.station, rig.csms
    station.configuration["LocalPreAuthorize"] = "true"
    assert await station.start_transaction(1, "FIRST")  # unknown: the CSMS is asked
    await csms.next("Authorize")
    await station.stop_transaction(1)
    assert await station.start_transaction(1, "FIRST")  # cached from the answers
    assert csms.inbox["Authorize"].empty()
    assert any("authorized locally (LocalPreAuthorize)" in line for line in rig.lines)


async def test_a_refused_transaction_message_is_retried_then_dropped(
    csms: Csms, make_rig: RigFactory
) -> None:
    """TransactionMessageAttempts in all; before the n-th retry, n times the interval."""
    action = "StopTransaction" if csms.v16 else "TransactionEvent"
    normal = csms.answers[action]
    loop = asyncio.get_running_loop()
    times: list[float] = []
    failures = 2

    def refuse_the_end(payload: Payload) -> Payload:
        if action == "TransactionEvent" and payload["eventType"] != "Ended":
            return normal(payload)
        times.append(loop.time())
        if len(times) <= failures:
            raise RuntimeError("CSMS database down")
        return normal(payload)

    csms.answers[action] = refuse_the_end
    rig = await make_rig(meter_interval_s=0)
    rig.expect_problems = True
    station = rig.station
    station.configuration["TransactionMessageRetryInterval"] = "0.1"
    assert await station.start_transaction(1)
    await station.stop_transaction(1)
    await _until(lambda: len(times) == 3 and len(station.queue) == 0)
    assert times[1] - times[0] >= 0.1 - 0.01 and times[2] - times[1] >= 0.2 - 0.01
    assert station.queue.dropped == 0
    failures = 10
    station.configuration["TransactionMessageAttempts"] = "2"
    assert await station.start_transaction(1)
    await station.stop_transaction(1)
    await _until(lambda: station.queue.dropped == 1)
    assert len(times) == 5  # two attempts, then dropped
    assert any(f"{action} dropped" in line for line in rig.lines)
    assert await station.start_transaction(2)  # the queue goes on with the next ones
    if csms.v16:
        await csms.next("StartTransaction")
    else:
        await csms.until("TransactionEvent", lambda p: p["eventType"] == "Started")


async def test_only_statuses_changed_while_offline_are_reported(make_rig: RigFactory) -> None:
    rig = await make_rig(meter_interval_s=0)
    station = rig.station
    await station.set_offline(True)
    await station.plug(1)
    await station.set_offline(False)
    await rig.status(1, "Preparing" if rig.v16 else "Occupied")
    await station.send_heartbeat()  # a round trip: any other status would be in by now
    assert rig.statuses() == []


async def test_a_message_whose_answer_was_lost_is_resent_with_its_id(
    csms: Csms, make_rig: RigFactory
) -> None:
    action = "StopTransaction" if csms.v16 else "TransactionEvent"
    normal = csms.answers[action]
    ends: list[Payload] = []

    def lose_the_first_answer(payload: Payload) -> object:
        if action == "TransactionEvent" and payload["eventType"] != "Ended":
            return normal(payload)
        ends.append(payload)
        return NOREPLY if len(ends) == 1 else normal(payload)

    csms.answers[action] = lose_the_first_answer  # type: ignore[assignment]
    rig = await make_rig(meter_interval_s=0)
    station = rig.station
    assert await station.start_transaction(1)
    stopping = asyncio.ensure_future(station.stop_transaction(1))
    await _until(lambda: len(ends) == 1)
    await station.set_offline(True)  # the connection drops before the answer
    await asyncio.wait_for(stopping, 5)
    assert len(station.queue) == 1
    await station.set_offline(False)
    await _until(lambda: len(station.queue) == 0)
    assert len(ends) == 2 and ends[0] == ends[1]
    ids = [message_id for name, message_id in csms.message_ids if name == action]
    assert ids[-1] == ids[-2]  # a resend, not a new message


async def test_set_offline_keeps_the_connection_down(make_rig: RigFactory) -> None:
    rig = await make_rig(meter_interval_s=0)
    await rig.station.set_offline(True)
    assert rig.station.offline and rig.client.state is State.CLOSED
    await rig.client.connect()  # someone else reconnects it: dropped at once
    await _until(lambda: rig.client.state is State.CLOSED)
    assert not rig.station.online
    await rig.station.set_offline(False)
    assert rig.station.online and not rig.station.offline
    assert rig.csms.inbox["BootNotification"].empty()


async def test_set_offline_false_keeps_trying_until_the_csms_is_back(
    csms: Csms, make_rig: RigFactory
) -> None:
    rig = await make_rig(meter_interval_s=0)
    rig.expect_problems = True
    station = rig.station
    port = csms.server.port
    await station.set_offline(True)
    await csms.server.close()
    await station.set_offline(False)  # the CSMS is down: it keeps trying
    assert not station.online
    assert any("Reconnect failed" in line for line in rig.lines)
    await csms.server.listen(port)
    await _until(lambda: station.online)
    assert csms.inbox["BootNotification"].empty()


async def test_an_offline_start_the_csms_refuses_on_replay_is_stopped(
    csms: Csms, make_rig: RigFactory
) -> None:
    """StopTransactionOnInvalidId: the answer that comes with the replay counts."""
    if csms.v16:
        csms.answers["StartTransaction"] = lambda p: {
            "idTagInfo": {"status": "Invalid"},
            "transactionId": 9,
        }
    else:
        csms.answers["TransactionEvent"] = lambda p: (
            {"idTokenInfo": {"status": "Invalid"}} if p["eventType"] == "Started" else {}
        )
    rig = await make_rig(meter_interval_s=0)
    station = rig.station
    station.configuration["AllowOfflineTxForUnknownId"] = "true"
    await station.set_offline(True)
    assert await station.start_transaction(1, "NOBODY")
    await station.set_offline(False)
    if csms.v16:
        stop = await csms.next("StopTransaction")
        assert stop["transactionId"] == 9 and stop["reason"] == "DeAuthorized"
    else:
        stop = await csms.until("TransactionEvent", lambda p: p["eventType"] == "Ended")
        assert stop["transactionInfo"]["stoppedReason"] == "DeAuthorized"
    assert station.connectors[0].transaction_id is None
    if not csms.v16:  # (the test CSMS's 1.6 StopTransaction answer accepts it again)
        assert station.auth.cache["NOBODY"].status == "Invalid"  # remembered


async def test_a_reconnect_that_drops_at_once_arms_no_timer_while_offline(
    make_rig: RigFactory,
) -> None:
    """online -> offline -> online -> offline in quick succession (the reconnect drops
    as soon as it opens): metering goes on, no heartbeat is armed while offline, and
    the next reconnect arms it again and replays everything in order."""
    rig = await make_rig()  # a sample every 0.05 s
    station, csms = rig.station, rig.csms
    assert await station.start_transaction(1)
    station.heartbeat_interval_s = 0.05
    await csms.next("Heartbeat")  # the heartbeat timer runs online
    await station.set_offline(True)
    await station.plug(2)  # reported on reconnect: start() is still at it when it drops
    rig.expect_problems = True  # (that StatusNotification fails with the connection)
    drops: list[asyncio.Task[None]] = []

    def drop_at_once(_: object) -> None:
        drops.append(asyncio.ensure_future(station.set_offline(True)))

    rig.client.once("open", drop_at_once)
    await station.set_offline(False)
    await asyncio.wait_for(asyncio.gather(*drops), 5)
    assert len(drops) == 1 and station.offline and not station.online
    assert station._heartbeat_task is None  # stop() cancelled it; start() armed none since
    queued = len(station.queue)
    await _until(lambda: len(station.queue) >= queued + 5)  # metering goes on offline
    assert not any("Heartbeat failed" in line for line in rig.lines)
    await station.stop_transaction(1)
    csms.drain("Heartbeat")
    await station.set_offline(False)
    await csms.next("Heartbeat")  # armed again
    await _until(lambda: len(station.queue) == 0)
    every = [(name, p) for name, p, _ in _delivered(rig)]
    if rig.v16:
        assert [name for name, _ in every][-1] == "StopTransaction"
    else:
        assert [p["seqNo"] for _, p in every] == list(range(len(every)))
        assert [p["eventType"] for _, p in every][-1] == "Ended"
    assert csms.inbox["BootNotification"].empty()


async def test_a_retry_waiting_through_quick_drops_is_sent_once_online(
    csms: Csms, make_rig: RigFactory
) -> None:
    """A refused transaction message waits for its retry while the station goes
    offline, back online (dropped at once) and offline again: it is neither lost nor
    counted as a failed attempt for the drops, and goes out once online for good."""
    action = "StopTransaction" if csms.v16 else "TransactionEvent"
    normal = csms.answers[action]
    ends: list[Payload] = []

    def refuse_the_first_end(payload: Payload) -> Payload:
        if action == "TransactionEvent" and payload["eventType"] != "Ended":
            return normal(payload)
        ends.append(payload)
        if len(ends) == 1:
            raise RuntimeError("CSMS database down")
        return normal(payload)

    csms.answers[action] = refuse_the_first_end
    rig = await make_rig(meter_interval_s=0)
    rig.expect_problems = True  # the refusal is a warning
    station = rig.station
    station.configuration["TransactionMessageAttempts"] = "3"
    station.configuration["TransactionMessageRetryInterval"] = "0.2"
    assert await station.start_transaction(1)
    await station.stop_transaction(1)
    await _until(lambda: len(ends) == 1)  # refused: the retry timer runs
    await station.set_offline(True)
    drops: list[asyncio.Task[None]] = []
    rig.client.once(
        "open", lambda _: drops.append(asyncio.ensure_future(station.set_offline(True)))
    )
    await station.set_offline(False)
    await asyncio.wait_for(asyncio.gather(*drops), 5)
    assert len(drops) == 1 and station.offline and rig.client.state is State.CLOSED
    await station.set_offline(False)
    await _until(lambda: len(station.queue) == 0)
    assert len(ends) == 2 and ends[0] == ends[1]  # the retry, once
    assert station.queue.dropped == 0
    assert not any("attempt 2 of 3" in line for line in rig.lines)  # drops are no attempts


async def test_going_offline_right_after_the_heartbeat_interval_changed_does_not_hang(
    make_rig: RigFactory,
) -> None:
    """A new HeartbeatInterval wakes the heartbeat timer; stop() cancelling it in the
    same turn of the loop, as its wait ends, must end it (Python 3.11's wait_for
    swallowed such a cancellation: the timer ran on and set_offline waited forever)."""
    rig = await make_rig(meter_interval_s=0)
    station = rig.station
    station.heartbeat_interval_s = 30
    await asyncio.wait_for(station.set_offline(True), 5)
    assert station._heartbeat_task is None
    station.heartbeat_interval_s = 20  # offline: no timer to wake
    await asyncio.wait_for(station.set_offline(False), 5)
    assert station.online
    station.heartbeat_interval_s = 0.05
    await asyncio.wait_for(station.stop(), 5)
    assert not any("Heartbeat" in line for line in rig.lines)


async def test_going_online_overtaken_by_going_offline_starts_nothing(
    make_rig: RigFactory,
) -> None:
    """set_offline(True) while set_offline(False) is still connecting: the station
    stays offline, starts nothing on that connection (no heartbeat, no "Reconnected")
    and leaves no reconnect attempts behind."""
    rig = await make_rig(meter_interval_s=0)
    station = rig.station
    await station.set_offline(True)
    lines = len(rig.lines)
    states: list[State] = []

    async def go_offline() -> None:
        states.append(rig.client.state)  # the premise: the connect is still under way
        await station.set_offline(True)

    drops: list[asyncio.Task[None]] = []
    rig.client.once("connecting", lambda _: drops.append(asyncio.ensure_future(go_offline())))
    await asyncio.wait_for(station.set_offline(False), 5)
    await asyncio.wait_for(asyncio.gather(*drops), 5)
    await _until(lambda: rig.client.state is State.CLOSED)
    assert states == [State.CONNECTING]
    assert len(drops) == 1 and station.offline and not station.online
    assert station._heartbeat_task is None and station._online_task is None
    assert not any("Reconnected" in line for line in rig.lines[lines:])
    await asyncio.wait_for(station.set_offline(False), 5)  # and back, as usual
    assert station.online and rig.csms.inbox["BootNotification"].empty()
