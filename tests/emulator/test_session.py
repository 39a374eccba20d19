"""Boot, heartbeat and a whole charging session, as the CSMS sees them."""

from __future__ import annotations

import asyncio

from browser_ocpp.emulator import ConnectorStatus

from .conftest import Csms, Payload, RigFactory, now


async def test_boot_is_accepted_and_the_csms_interval_applies(make_rig: RigFactory) -> None:
    rig = await make_rig(start=False, connectors=3)
    changes: list[None] = []
    rig.station.on_change(lambda: changes.append(None))
    await rig.station.start()
    boot = await rig.csms.next("BootNotification")
    if rig.v16:
        assert boot["chargePointVendor"] == "ACME" and boot["chargePointModel"] == "Emulator"
    else:
        assert boot["chargingStation"]["vendorName"] == "ACME" and boot["reason"] == "PowerUp"
    expected = [(0, "Available")] if rig.v16 else []
    expected += [(n, "Available") for n in (1, 2, 3)]
    for _ in expected:
        await rig.csms.next("StatusNotification")
    assert rig.station.boot_status == "Accepted"
    assert rig.station.heartbeat_interval_s == 300
    assert rig.station.configuration["HeartbeatInterval"] == "300"
    assert changes
    assert any("BootNotification" in line and "Accepted" in line for line in rig.lines)


async def test_boot_pending_is_retried_until_accepted(csms: Csms, make_rig: RigFactory) -> None:
    answers = iter(["Pending", "Rejected", "Accepted"])
    csms.answers["BootNotification"] = lambda p: {
        "status": next(answers),
        "currentTime": now(),
        "interval": 0,  # no interval: the station's own retry delay
    }
    rig = await make_rig(start=False)
    await rig.station.start()
    assert rig.station.boot_status == "Pending"
    for _ in range(3):
        await csms.next("BootNotification")
    await csms.next("StatusNotification")
    assert rig.station.boot_status == "Accepted"
    assert rig.station.booted


async def test_heartbeats_follow_the_interval(csms: Csms, make_rig: RigFactory) -> None:
    csms.answers["BootNotification"] = lambda p: {
        "status": "Accepted",
        "currentTime": now(),
        "interval": 1,
    }
    rig = await make_rig()
    assert rig.station.heartbeat_interval_s == 1
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await csms.next("Heartbeat", within=3) == {}
    assert 0.5 < loop.time() - began < 2.5


def _energy(payload: Payload) -> float:
    """The energy register of a MeterValues / TransactionEvent payload."""
    sample = payload["meterValue"][0]["sampledValue"]
    value = next(v for v in sample if v["measurand"] == "Energy.Active.Import.Register")
    return float(value["value"])


async def test_a_charging_session(make_rig: RigFactory) -> None:
    rig = await make_rig()
    station, csms = rig.station, rig.csms
    await station.plug(1)
    assert station.connectors[0].plugged and station.connectors[0].soc == 20.0
    assert await station.start_transaction(1) is True
    connector = station.connectors[0]
    assert connector.status is ConnectorStatus.CHARGING
    assert connector.transaction_id is not None and connector.id_tag == "TAG-0001"
    assert connector.power_w == 11_000
    authorize = await csms.next("Authorize")
    if rig.v16:
        assert authorize == {"idTag": "TAG-0001"}
        start = await csms.next("StartTransaction")
        assert start["connectorId"] == 1 and start["idTag"] == "TAG-0001"
        assert start["meterStart"] == 0
        assert connector.transaction_id == "101"
        samples = [await csms.next("MeterValues") for _ in range(3)]
        assert all(s["transactionId"] == 101 and s["connectorId"] == 1 for s in samples)
        measurands = {v["measurand"] for v in samples[0]["meterValue"][0]["sampledValue"]}
        assert measurands == {"Energy.Active.Import.Register", "Power.Active.Import", "SoC"}
    else:
        assert authorize["idToken"] == {"idToken": "TAG-0001", "type": "ISO14443"}
        start = await csms.next("TransactionEvent")
        assert start["eventType"] == "Started" and start["seqNo"] == 0
        assert start["triggerReason"] == "Authorized"
        assert start["transactionInfo"]["transactionId"] == connector.transaction_id
        assert start["transactionInfo"]["chargingState"] == "Charging"
        assert start["evse"] == {"id": 1, "connectorId": 1}
        assert start["idToken"]["idToken"] == "TAG-0001"
        samples = [await csms.next("TransactionEvent") for _ in range(3)]
        assert [s["eventType"] for s in samples] == ["Updated"] * 3
        assert [s["seqNo"] for s in samples] == [1, 2, 3]
        assert {s["triggerReason"] for s in samples} == {"MeterValuePeriodic"}
    energies = [_energy(s) for s in samples]
    assert energies == sorted(energies) and energies[-1] > energies[0]
    assert connector.soc is not None and connector.soc > 20.0
    await station.stop_transaction(1)
    assert station.connector(1).status is ConnectorStatus.FINISHING
    assert station.connector(1).transaction_id is None
    if rig.v16:
        stop = await csms.next("StopTransaction")
        assert stop["transactionId"] == 101 and stop["reason"] == "Local"
        assert stop["meterStop"] == int(connector.energy_wh)
    else:
        stop = await csms.until("TransactionEvent", lambda p: p["eventType"] == "Ended")
        assert stop["transactionInfo"]["stoppedReason"] == "Local"
        assert stop["triggerReason"] == "StopAuthorized"
        assert stop["transactionInfo"]["chargingState"] == "EVConnected"
        assert stop["seqNo"] > samples[-1]["seqNo"]
    await station.unplug(1)
    assert station.connector(1).status is ConnectorStatus.AVAILABLE and connector.soc is None
    await rig.status(1, "Available")
    statuses = [
        (p["connectorId"], p["status"]) if rig.v16 else (p["evseId"], p["connectorStatus"])
        for name, p in csms.log
        if name == "StatusNotification"
    ]
    session = statuses[-4:] if rig.v16 else statuses[-2:]
    if rig.v16:
        assert session == [(1, "Preparing"), (1, "Charging"), (1, "Finishing"), (1, "Available")]
    else:
        assert session == [(1, "Occupied"), (1, "Available")]


async def test_unplugging_while_charging_ends_the_transaction(make_rig: RigFactory) -> None:
    rig = await make_rig(meter_interval_s=0)
    station, csms = rig.station, rig.csms
    assert await station.start_transaction(2, "OTHER-TAG")  # plugs the cable itself
    await station.unplug(2)
    connector = station.connectors[1]
    assert connector.status is ConnectorStatus.AVAILABLE and connector.transaction_id is None
    if rig.v16:
        stop = await csms.next("StopTransaction")
        assert stop["reason"] == "EVDisconnected" and stop["idTag"] == "OTHER-TAG"
    else:
        stop = await csms.until("TransactionEvent", lambda p: p["eventType"] == "Ended")
        assert stop["triggerReason"] == "EVDeparted"
        assert stop["transactionInfo"]["stoppedReason"] == "EVDisconnected"
        assert stop["transactionInfo"]["chargingState"] == "Idle"
    await rig.status(2, "Available")


async def test_suspend_resume_and_fault(make_rig: RigFactory) -> None:
    rig = await make_rig(meter_interval_s=0)
    station, csms = rig.station, rig.csms
    assert await station.start_transaction(1)
    await station.suspend_ev(1)
    connector = station.connectors[0]
    assert connector.status is ConnectorStatus.SUSPENDED_EV and connector.power_w == 0
    if rig.v16:
        await rig.status(1, "SuspendedEV")
    else:
        event = await csms.until("TransactionEvent", lambda p: p["eventType"] == "Updated")
        assert event["triggerReason"] == "ChargingStateChanged"
        assert event["transactionInfo"]["chargingState"] == "SuspendedEV"
    await station.resume(1)
    assert station.connector(1).status is ConnectorStatus.CHARGING
    if rig.v16:
        await rig.status(1, "Charging")
    else:
        event = await csms.until("TransactionEvent", lambda p: p["eventType"] == "Updated")
        assert event["transactionInfo"]["chargingState"] == "Charging"
    await station.set_fault(1, True)
    assert station.connector(1).status is ConnectorStatus.FAULTED
    assert connector.transaction_id is None
    await rig.status(1, "Faulted")
    if rig.v16:
        assert (await csms.next("StopTransaction"))["reason"] == "Other"
    assert await station.start_transaction(1) is False
    assert any("start refused: the connector is faulted" in line for line in rig.lines)
    await station.set_fault(1, False)
    await rig.status(1, "Finishing" if rig.v16 else "Occupied")


async def test_a_refused_token_does_not_start(csms: Csms, make_rig: RigFactory) -> None:
    info = "idTagInfo" if csms.v16 else "idTokenInfo"
    csms.answers["Authorize"] = lambda p: {info: {"status": "Invalid"}}
    rig = await make_rig()
    assert await rig.station.start_transaction(1, "BAD") is False
    assert rig.station.connector(1).transaction_id is None
    assert any("BAD is not authorized" in line for line in rig.lines)
    assert "StartTransaction" not in csms.inbox
    assert csms.inbox["TransactionEvent"].empty()


async def test_a_token_the_csms_refuses_at_start_is_stopped(
    csms: Csms, make_rig: RigFactory
) -> None:
    if csms.v16:
        csms.answers["StartTransaction"] = lambda p: {
            "idTagInfo": {"status": "Blocked"},
            "transactionId": 7,
        }
    else:
        csms.answers["TransactionEvent"] = lambda p: (
            {"idTokenInfo": {"status": "Blocked"}} if p["eventType"] == "Started" else {}
        )
    rig = await make_rig()
    assert await rig.station.start_transaction(1) is False
    if csms.v16:
        stop = await csms.next("StopTransaction")
        assert stop["transactionId"] == 7 and stop["reason"] == "DeAuthorized"
    else:
        stop = await csms.until("TransactionEvent", lambda p: p["eventType"] == "Ended")
        assert stop["transactionInfo"]["stoppedReason"] == "DeAuthorized"
        assert stop["triggerReason"] == "Deauthorized"
    assert rig.station.connector(1).transaction_id is None


async def test_errors_in_loops_do_not_stop_them(csms: Csms, make_rig: RigFactory) -> None:
    """The CSMS fails one sample: it is sent again (a transaction message is retried
    after TransactionMessageRetryInterval), and the meter loop lives on."""
    action = "MeterValues" if csms.v16 else "TransactionEvent"
    seen: list[Payload] = []
    normal = csms.answers[action]

    def flaky(payload: Payload) -> Payload:
        seen.append(payload)
        if len(seen) == 2:  # the first or second periodic sample
            raise RuntimeError("CSMS database down")
        return normal(payload)

    csms.answers[action] = flaky
    rig = await make_rig()
    rig.expect_problems = True
    rig.station.configuration["TransactionMessageRetryInterval"] = "0.05"
    assert await rig.station.start_transaction(1)
    for _ in range(4):
        await csms.next(action)
    assert seen[1] == seen[2]  # the failed sample, sent again
    assert any(f"{action} failed" in line and "InternalError" in line for line in rig.lines)
    assert any(e.message == "emulator: transaction message" for e in rig.problems)
    assert rig.station.connector(1).status is ConnectorStatus.CHARGING


async def test_calls_while_disconnected_fail_softly(make_rig: RigFactory) -> None:
    rig = await make_rig()
    rig.expect_problems = True
    await rig.client.close()
    await rig.station.plug(1)  # the status report fails: logged, not raised
    assert rig.station.connector(1).status is ConnectorStatus.PREPARING
    assert await rig.station.start_transaction(1) is False
    await rig.station.send_meter_values(1)
    assert any("failed" in line for line in rig.lines)


async def test_battery_full_suspends_the_ev(make_rig: RigFactory) -> None:
    rig = await make_rig(battery_kwh=0.001, initial_soc=99.0, power_kw=100.0)
    assert await rig.station.start_transaction(1)
    connector = rig.station.connectors[0]
    if rig.v16:
        await rig.status(1, "SuspendedEV")
    else:
        await rig.csms.until(
            "TransactionEvent",
            lambda p: p["transactionInfo"].get("chargingState") == "SuspendedEV",
        )
    assert connector.soc == 100.0 and connector.power_w == 0
    assert any("battery full" in line for line in rig.lines)


async def test_an_id_tag_too_long_for_the_schema_is_refused_with_a_reason(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig()
    rig.expect_problems = True
    assert await rig.station.start_transaction(1, "X" * 300) is False
    assert any(
        "Authorize failed: " in line and "PropertyConstraintViolation" in line for line in rig.lines
    ), rig.lines
    assert "Authorize" not in rig.csms.inbox  # strict mode stopped it before sending
