"""CSMS commands: each gets the right answer and the station acts on it."""

from __future__ import annotations

import asyncio

import pytest

from browser_ocpp import (
    RPCOccurrenceConstraintViolationError,
    RPCPropertyConstraintViolationError,
    RPCTypeConstraintViolationError,
)
from browser_ocpp.emulator import ConnectorStatus

from .conftest import IDENTITY, Csms, Payload, Rig, RigFactory


def _token(tag: str) -> Payload:
    return {"idToken": tag, "type": "Central"}


async def _remote_start(rig: Rig, connector_id: int | None, tag: str = "REMOTE") -> Payload:
    if rig.v16:
        payload: Payload = {"idTag": tag}
        if connector_id is not None:
            payload["connectorId"] = connector_id
        return await rig.csms.send("RemoteStartTransaction", payload)
    payload = {"idToken": _token(tag), "remoteStartId": 42}
    if connector_id is not None:
        payload["evseId"] = connector_id
    return await rig.csms.send("RequestStartTransaction", payload)


async def _started(rig: Rig) -> Payload:
    if rig.v16:
        return await rig.csms.next("StartTransaction")
    return await rig.csms.until("TransactionEvent", lambda p: p["eventType"] == "Started")


async def _ended(rig: Rig) -> Payload:
    if rig.v16:
        return await rig.csms.next("StopTransaction")
    return await rig.csms.until("TransactionEvent", lambda p: p["eventType"] == "Ended")


async def _remote_stop(rig: Rig, transaction_id: str) -> Payload:
    if rig.v16:
        return await rig.csms.send("RemoteStopTransaction", {"transactionId": int(transaction_id)})
    return await rig.csms.send("RequestStopTransaction", {"transactionId": transaction_id})


async def test_remote_start_and_stop(make_rig: RigFactory) -> None:
    rig = await make_rig(meter_interval_s=0)
    await rig.station.plug(2)
    await rig.status(2, "Preparing" if rig.v16 else "Occupied")
    assert await _remote_start(rig, None) == {"status": "Accepted"}
    start = await _started(rig)  # on the plugged connector: the first free one
    connector = rig.station.connectors[1]
    if rig.v16:
        assert start["connectorId"] == 2 and start["idTag"] == "REMOTE"
    else:
        assert start["triggerReason"] == "RemoteStart" and start["evse"]["id"] == 2
        assert start["transactionInfo"]["remoteStartId"] == 42
        assert start["idToken"] == _token("REMOTE")
    assert "Authorize" not in rig.csms.inbox  # AuthorizeRemoteTxRequests is false
    if rig.v16:
        await rig.status(2, "Charging")
    assert connector.transaction_id is not None
    assert await _remote_stop(rig, "999") == {"status": "Rejected"}
    assert await _remote_stop(rig, connector.transaction_id) == {"status": "Accepted"}
    stop = await _ended(rig)
    if rig.v16:
        assert stop["reason"] == "Remote"
    else:
        assert stop["transactionInfo"]["stoppedReason"] == "Remote"
        assert stop["triggerReason"] == "RemoteStop"
    assert any("StopTransaction" in line and "requested by CSMS" in line for line in rig.lines)


async def test_remote_start_on_a_given_connector_and_when_none_is_free(
    make_rig: RigFactory,
) -> None:
    rig = await make_rig(connectors=1, meter_interval_s=0)
    rig.station.configuration["AuthorizeRemoteTxRequests"] = "true"
    assert await _remote_start(rig, 2) == {"status": "Rejected"}  # no such connector
    assert await _remote_start(rig, 1) == {"status": "Accepted"}
    await rig.csms.next("Authorize")
    await _started(rig)
    assert await _remote_start(rig, None) == {"status": "Rejected"}  # busy
    assert any("Rejected" in line for line in rig.lines)


async def test_reset_ends_transactions_reconnects_and_boots_again(make_rig: RigFactory) -> None:
    rig = await make_rig(meter_interval_s=0)
    csms = rig.csms
    assert await rig.station.start_transaction(1)
    await _started(rig)
    first = await csms.connections.get()
    if rig.v16:
        assert await csms.send("Reset", {"type": "Soft"}) == {"status": "Accepted"}
        assert (await _ended(rig))["reason"] == "SoftReset"
    else:
        assert await csms.send("Reset", {"type": "Immediate"}) == {"status": "Accepted"}
        ended = await _ended(rig)
        assert ended["transactionInfo"]["stoppedReason"] == "ImmediateReset"
        assert ended["triggerReason"] == "ResetCommand"
    second = await asyncio.wait_for(csms.connections.get(), 5)
    assert second is not first
    # Each call waits for its answer, so every report made before the reset is in by
    # now: drop them, or the connector's last status before the reset would pass for
    # the report after the new boot (and booted be checked before the boot's answer).
    csms.drain("StatusNotification")
    boot = await csms.next("BootNotification")
    if not rig.v16:
        assert boot["reason"] == "RemoteReset"
    await rig.status(1, "Finishing" if rig.v16 else "Occupied")  # the cable is still in
    assert rig.station.boot_status == "Accepted" and rig.station.booted
    assert any("Reset (" in line for line in rig.lines)


@pytest.mark.parametrize("protocol", ["ocpp2.0.1", "ocpp2.1"])
async def test_reset_on_idle_waits_for_the_transaction(csms: Csms, make_rig: RigFactory) -> None:
    rig = await make_rig(meter_interval_s=0)
    assert await rig.station.start_transaction(1)
    assert await csms.send("Reset", {"type": "OnIdle"}) == {"status": "Scheduled"}
    assert await csms.send("Reset", {"type": "OnIdle", "evseId": 1}) == {"status": "Rejected"}
    await rig.station.stop_transaction(1)
    await csms.next("BootNotification")  # idle now: the reset ran


async def test_change_availability(make_rig: RigFactory) -> None:
    rig = await make_rig(meter_interval_s=0)
    csms, station = rig.csms, rig.station

    async def change(operative: bool, connector_id: int | None) -> Payload:
        kind = "Operative" if operative else "Inoperative"
        if rig.v16:
            payload: Payload = {"connectorId": connector_id or 0, "type": kind}
        else:
            payload = {"operationalStatus": kind}
            if connector_id is not None:
                payload["evse"] = {"id": connector_id}
        return await csms.send("ChangeAvailability", payload)

    assert await change(False, 1) == {"status": "Accepted"}
    await rig.status(1, "Unavailable")
    assert await station.start_transaction(1) is False
    assert await change(True, 1) == {"status": "Accepted"}
    await rig.status(1, "Available")
    assert await change(False, 9) == {"status": "Rejected"}
    assert await station.start_transaction(2)
    assert await change(False, None) == {"status": "Scheduled"}  # connector 2 is busy
    await rig.status(1, "Unavailable")
    await station.stop_transaction(2)
    await station.unplug(2)
    await rig.status(2, "Unavailable")
    if rig.v16:
        await rig.status(0, "Unavailable")
    assert await change(True, None) == {"status": "Accepted"}
    await rig.status(2, "Available")
    assert station.connectors[1].status is ConnectorStatus.AVAILABLE


@pytest.mark.parametrize("protocol", ["ocpp1.6"])
async def test_configuration_1_6(csms: Csms, make_rig: RigFactory) -> None:
    rig = await make_rig()
    everything = await csms.send("GetConfiguration", {})
    keys = {item.pop("key"): item for item in everything["configurationKey"]}
    assert keys["HeartbeatInterval"] == {"readonly": False, "value": "300"}
    assert keys["NumberOfConnectors"] == {"readonly": True, "value": "2"}
    assert "unknownKey" not in everything
    some = await csms.send("GetConfiguration", {"key": ["MeterValueSampleInterval", "Nope"]})
    assert some == {
        "configurationKey": [
            {"key": "MeterValueSampleInterval", "readonly": False, "value": "0.05"}
        ],
        "unknownKey": ["Nope"],
    }

    async def change(key: str, value: str) -> str:
        return str((await csms.send("ChangeConfiguration", {"key": key, "value": value}))["status"])

    assert await change("NumberOfConnectors", "4") == "Rejected"
    assert await change("Nope", "1") == "NotSupported"
    assert await change("HeartbeatInterval", "soon") == "Rejected"
    assert await change("AuthorizeRemoteTxRequests", "TRUE") == "Accepted"
    assert rig.station.configuration["AuthorizeRemoteTxRequests"] == "true"
    assert await change("HeartbeatInterval", "0.1") == "Accepted"
    assert rig.station.heartbeat_interval_s == 0.1
    for _ in range(2):
        await csms.next("Heartbeat", within=2)


@pytest.mark.parametrize("protocol", ["ocpp2.0.1", "ocpp2.1"])
async def test_variables_2(csms: Csms, make_rig: RigFactory) -> None:
    rig = await make_rig()

    def item(component: str, variable: str, **extra: str) -> Payload:
        return {"component": {"name": component}, "variable": {"name": variable}, **extra}

    got = await csms.send(
        "GetVariables",
        {
            "getVariableData": [
                item("OCPPCommCtrlr", "HeartbeatInterval"),
                item("OCPPCommCtrlr", "Nope"),
                item("NopeCtrlr", "HeartbeatInterval"),
                item("SampledDataCtrlr", "TxUpdatedInterval", attributeType="Target"),
            ]
        },
    )
    results = got["getVariableResult"]
    assert [r["attributeStatus"] for r in results] == [
        "Accepted",
        "UnknownVariable",
        "UnknownComponent",
        "NotSupportedAttributeType",
    ]
    assert results[0]["attributeValue"] == "300"
    assert results[0]["component"] == {"name": "OCPPCommCtrlr"}
    set_ = await csms.send(
        "SetVariables",
        {
            "setVariableData": [
                item("OCPPCommCtrlr", "HeartbeatInterval", attributeValue="0.1"),
                item("TxCtrlr", "EVConnectionTimeOut", attributeValue="-5"),
                item("NopeCtrlr", "X", attributeValue="1"),
                item("AuthCtrlr", "AuthorizeRemoteStart", attributeValue="true"),
            ]
        },
    )
    assert [r["attributeStatus"] for r in set_["setVariableResult"]] == [
        "Accepted",
        "Rejected",
        "UnknownComponent",
        "Accepted",
    ]
    assert rig.station.heartbeat_interval_s == 0.1
    assert rig.station.configuration["AuthorizeRemoteTxRequests"] == "true"
    for _ in range(2):
        await csms.next("Heartbeat", within=2)


async def test_trigger_message(make_rig: RigFactory) -> None:
    rig = await make_rig(meter_interval_s=0)
    csms = rig.csms

    async def trigger(what: str, connector_id: int | None = None) -> str:
        payload: Payload = {"requestedMessage": what}
        if connector_id is not None:
            payload["connectorId" if rig.v16 else "evse"] = (
                connector_id if rig.v16 else {"id": connector_id}
            )
        return str((await csms.send("TriggerMessage", payload))["status"])

    assert await trigger("Heartbeat") == "Accepted"
    await csms.next("Heartbeat")
    assert await trigger("BootNotification") == "Accepted"
    boot = await csms.next("BootNotification")
    if not rig.v16:
        assert boot["reason"] == "Triggered"
    assert await trigger("StatusNotification", 2) == "Accepted"
    assert (await csms.next("StatusNotification"))["connectorId" if rig.v16 else "evseId"] == 2
    assert await trigger("StatusNotification") == "Accepted"
    for _ in range(3 if rig.v16 else 2):
        await csms.next("StatusNotification")
    assert await trigger("StatusNotification", 5) == "Rejected"
    assert await trigger("MeterValues", 1) == "Accepted"
    sample = await csms.next("MeterValues")
    assert sample["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"
    csms.answers["FirmwareStatusNotification"] = lambda p: {}
    assert await trigger("FirmwareStatusNotification") == "Accepted"
    assert (await csms.next("FirmwareStatusNotification"))["status"] == "Idle"  # no update
    logs = "DiagnosticsStatusNotification" if rig.v16 else "LogStatusNotification"
    csms.answers[logs] = lambda p: {}
    assert await trigger(logs) == "Accepted"
    assert (await csms.next(logs))["status"] == "Idle"
    if not rig.v16:
        assert await trigger("SignChargingStationCertificate") == "NotImplemented"
    if not rig.v16:
        assert await trigger("TransactionEvent", 1) == "Rejected"  # no transaction
        assert await rig.station.start_transaction(1)
        await csms.until("TransactionEvent", lambda p: p["eventType"] == "Started")
        assert await trigger("TransactionEvent", 1) == "Accepted"
        event = await csms.next("TransactionEvent")
        assert event["eventType"] == "Updated" and event["triggerReason"] == "Trigger"


async def test_unlock_connector(make_rig: RigFactory) -> None:
    rig = await make_rig(meter_interval_s=0)
    csms = rig.csms
    assert await rig.station.start_transaction(1)
    await _started(rig)
    if rig.v16:
        assert await csms.send("UnlockConnector", {"connectorId": 3}) == {"status": "NotSupported"}
        assert await csms.send("UnlockConnector", {"connectorId": 1}) == {"status": "Unlocked"}
        assert (await _ended(rig))["reason"] == "UnlockCommand"
    else:
        unknown = await csms.send("UnlockConnector", {"evseId": 1, "connectorId": 2})
        assert unknown == {"status": "UnknownConnector"}
        unlocked = await csms.send("UnlockConnector", {"evseId": 1, "connectorId": 1})
        assert unlocked == {"status": "Unlocked"}
        assert (await _ended(rig))["triggerReason"] == "UnlockCommand"
    await rig.status(1, "Available")
    assert not rig.station.connectors[0].plugged


async def test_clear_cache_and_data_transfer(make_rig: RigFactory) -> None:
    rig = await make_rig()
    csms = rig.csms
    assert await rig.station.authorize("TAG-0001")
    assert "TAG-0001" in rig.station.auth.cache
    assert await csms.send("ClearCache", {}) == {"status": "Accepted"}
    assert rig.station.auth.cache == {}
    echo = await csms.send("DataTransfer", {"vendorId": "ACME", "data": "ping"})
    assert echo == {"status": "Accepted", "data": "ping"}
    other = await csms.send("DataTransfer", {"vendorId": "Other", "messageId": "x"})
    assert other == {"status": "UnknownVendorId"}
    assert any("ClearCache" in line for line in rig.lines)


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_reset_with_open_and_close_listeners_boots_once(make_rig: RigFactory) -> None:
    rig = await make_rig(start=False)
    station, csms = rig.station, rig.csms
    rig.client.on("close", lambda event: station.stop())  # a page that stops on close
    rig.client.on("open", lambda event: station.start())  # ... and starts on open
    reset = {"type": "Hard"} if rig.v16 else {"type": "Immediate"}
    await station.start()  # make_rig connected before the listeners were added
    await csms.next("BootNotification")
    assert await csms.send("Reset", reset) == {"status": "Accepted"}
    await csms.next("BootNotification")
    assert await csms.send("TriggerMessage", {"requestedMessage": "Heartbeat"}) == {
        "status": "Accepted"
    }
    await csms.next("Heartbeat")
    assert csms.inbox["BootNotification"].empty()  # one boot per connection
    assert station.booted and station.boot_status == "Accepted"


async def test_a_reset_accepted_while_rebooting_is_carried_out(make_rig: RigFactory) -> None:
    """A CSMS that resets the station again as soon as it boots gets a second reboot:
    the request came on the new connection, after the first reboot, so joining the
    reset in progress (which only had its statuses left to send) would drop it."""
    rig = await make_rig(meter_interval_s=0)
    csms = rig.csms
    reset = {"type": "Hard"} if rig.v16 else {"type": "Immediate"}
    assert await csms.send("Reset", reset) == {"status": "Accepted"}
    await csms.next("BootNotification")  # rebooting: the statuses are still to come
    assert await csms.send("Reset", reset) == {"status": "Accepted"}
    boot = await csms.next("BootNotification")  # rebooted once more
    csms.drain("StatusNotification")  # the first reboot's (sent before this boot)
    if not rig.v16:
        assert boot["reason"] == "RemoteReset"
    await rig.status(1, "Available")
    assert rig.station.booted
    assert sum("Resetting" in line for line in rig.lines) == 2


async def test_commands_it_cannot_read_are_refused_with_strict_mode_off(
    make_rig: RigFactory,
) -> None:
    """Not InternalError, and not acted on: the CALLERROR strict mode would give."""
    rig = await make_rig(strict=False, meter_interval_s=0)
    csms = rig.csms.server.clients[IDENTITY]
    csms.reconfigure(strict_mode=False)  # so the CSMS sends what the test wrote
    start = "RemoteStartTransaction" if rig.v16 else "RequestStartTransaction"
    with pytest.raises(RPCOccurrenceConstraintViolationError):
        await csms.call(start, {"connectorId": 1} if rig.v16 else {"evseId": 1})
    with pytest.raises(RPCPropertyConstraintViolationError):
        await csms.call("Reset", {"type": "Bogus"})
    availability: Payload = {"connectorId": "one", "type": "Inoperative"}
    if not rig.v16:
        availability = {"operationalStatus": "Inoperative", "evse": {"id": "one"}}
    with pytest.raises(RPCTypeConstraintViolationError):
        await csms.call("ChangeAvailability", availability)
    await asyncio.sleep(0.1)
    assert rig.station.connectors[0].transaction_id is None
    assert rig.csms.inbox["BootNotification"].empty() and rig.station.booted  # no reboot
    assert not any("Reset" in line for line in rig.lines)


async def test_a_meter_reading_on_request_has_context_other(make_rig: RigFactory) -> None:
    """Not Sample.Periodic (nor Trigger, which answers a TriggerMessage)."""
    rig = await make_rig(meter_interval_s=0)
    await rig.station.send_meter_values(2)
    idle = await rig.csms.next("MeterValues")
    assert {v["context"] for v in idle["meterValue"][0]["sampledValue"]} == {"Other"}
    assert await rig.station.start_transaction(1)
    await _started(rig)
    await rig.station.send_meter_values(1)
    sample = await rig.csms.next("MeterValues")
    assert {v["context"] for v in sample["meterValue"][0]["sampledValue"]} == {"Other"}
    if rig.v16:
        assert sample["transactionId"] == int(rig.station.connectors[0].transaction_id or 0)
    else:
        assert sample["evseId"] == 1
