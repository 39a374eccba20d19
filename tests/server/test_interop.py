"""Interop with the independent ``ocpp`` package (mobilityhouse) over loopback sockets.

Its ``ChargePoint`` classes play the station against our OCPPServer and the central
system against our OCPPClient; every payload is checked on both sides: what went over
the wire (camelCase, as our handlers see it) and what its objects carry (snake_case).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any

import pytest
import websockets
from ocpp import exceptions as their_errors
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16 import datatypes as types16
from ocpp.v16 import enums as enums16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201 import datatypes as types201
from ocpp.v201 import enums as enums201
from ocpp.v201.enums import Action as Action201

from browser_ocpp import (
    OCPPClient,
    OCPPServer,
    RPCError,
    RPCFormationViolationError,
    RPCNotImplementedError,
    RPCNotSupportedError,
    RPCPropertyConstraintViolationError,
    RPCProtocolError,
    RPCTypeConstraintViolationError,
)
from browser_ocpp.peer import RPCPeer

WAIT_S = 10
NOW = "2024-01-01T00:00:00Z"
LATER = "2024-01-01T01:00:00Z"
Seen = list[tuple[str, dict[str, Any]]]


async def bounded(awaitable: Awaitable[Any]) -> Any:
    """Await with a bound, so a broken behaviour fails instead of hanging."""
    return await asyncio.wait_for(awaitable, WAIT_S)


def answer(peer: RPCPeer, replies: Mapping[str, dict[str, Any]], seen: Seen) -> None:
    """Handle each action of ``replies`` on ``peer``: record the request, return the reply."""
    for action, reply in replies.items():

        def handler(ctx: Any, reply: dict[str, Any] = reply) -> dict[str, Any]:
            seen.append((ctx.method, ctx.params))
            return reply

        peer.handle(action, handler)


# -- its charge points (stations) ------------------------------------------------------


class Station16(ChargePoint16):
    """Its 1.6 charge point, answering what a central system asks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.configuration = {"HeartbeatInterval": "300"}

    @on(Action16.remote_start_transaction)
    def on_remote_start_transaction(self, **kwargs: Any) -> Any:
        self.received.append(("RemoteStartTransaction", kwargs))
        return result16.RemoteStartTransaction(status=enums16.RemoteStartStopStatus.accepted)

    @on(Action16.reset)
    def on_reset(self, **kwargs: Any) -> Any:
        self.received.append(("Reset", kwargs))
        return result16.Reset(status=enums16.ResetStatus.accepted)

    @on(Action16.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **kwargs: Any) -> Any:
        self.received.append(("GetConfiguration", {"key": key, **kwargs}))
        keys = list(self.configuration) if key is None else key
        return result16.GetConfiguration(
            configuration_key=[
                types16.KeyValue(key=name, readonly=False, value=self.configuration[name])
                for name in keys
                if name in self.configuration
            ],
            unknown_key=[name for name in keys if name not in self.configuration],
        )

    @on(Action16.change_configuration)
    def on_change_configuration(self, key: str, value: str, **kwargs: Any) -> Any:
        self.received.append(("ChangeConfiguration", {"key": key, "value": value, **kwargs}))
        if key not in self.configuration:
            return result16.ChangeConfiguration(status=enums16.ConfigurationStatus.not_supported)
        self.configuration[key] = value
        return result16.ChangeConfiguration(status=enums16.ConfigurationStatus.accepted)


class Station201(ChargePoint201):
    """Its 2.0.1 charging station, answering what a CSMS asks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.variables = {("OCPPCommCtrlr", "HeartbeatInterval"): "300"}

    @on(Action201.request_start_transaction)
    def on_request_start_transaction(self, **kwargs: Any) -> Any:
        self.received.append(("RequestStartTransaction", kwargs))
        return result201.RequestStartTransaction(
            status=enums201.RequestStartStopStatusEnumType.accepted, transaction_id="TX-9"
        )

    @on(Action201.get_variables)
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
        self.received.append(("GetVariables", {"get_variable_data": get_variable_data, **kwargs}))
        results = []
        for item in get_variable_data:
            value = self.variables.get((item["component"]["name"], item["variable"]["name"]))
            results.append(
                types201.GetVariableResultType(
                    attribute_status=enums201.GetVariableStatusEnumType.accepted
                    if value is not None
                    else enums201.GetVariableStatusEnumType.unknown_variable,
                    component=types201.ComponentType(**item["component"]),
                    variable=types201.VariableType(**item["variable"]),
                    attribute_value=value,
                )
            )
        return result201.GetVariables(get_variable_result=results)

    @on(Action201.set_variables)
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
        self.received.append(("SetVariables", {"set_variable_data": set_variable_data, **kwargs}))
        results = []
        for item in set_variable_data:
            self.variables[(item["component"]["name"], item["variable"]["name"])] = item[
                "attribute_value"
            ]
            results.append(
                types201.SetVariableResultType(
                    attribute_status=enums201.SetVariableStatusEnumType.accepted,
                    component=types201.ComponentType(**item["component"]),
                    variable=types201.VariableType(**item["variable"]),
                )
            )
        return result201.SetVariables(set_variable_result=results)

    @on(Action201.reset)
    def on_reset(self, **kwargs: Any) -> Any:
        self.received.append(("Reset", kwargs))
        return result201.Reset(status=enums201.ResetStatusEnumType.accepted)


# -- its central systems -----------------------------------------------------------------


class CentralSystem16(ChargePoint16):
    """Its 1.6 central system (its README example), recording what stations send."""

    boot_time = NOW

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict[str, Any]]] = []

    @on(Action16.boot_notification)
    def on_boot_notification(self, **kwargs: Any) -> Any:
        self.received.append(("BootNotification", kwargs))
        return result16.BootNotification(
            current_time=self.boot_time,
            interval=300,
            status=enums16.RegistrationStatus.accepted,
        )

    @on(Action16.heartbeat)
    def on_heartbeat(self, **kwargs: Any) -> Any:
        self.received.append(("Heartbeat", kwargs))
        return result16.Heartbeat(current_time=NOW)

    @on(Action16.authorize)
    def on_authorize(self, **kwargs: Any) -> Any:
        self.received.append(("Authorize", kwargs))
        return result16.Authorize(
            id_tag_info=types16.IdTagInfo(
                status=enums16.AuthorizationStatus.accepted,
                expiry_date=LATER,
                parent_id_tag="PARENT",
            )
        )

    @on(Action16.status_notification)
    def on_status_notification(self, **kwargs: Any) -> Any:
        self.received.append(("StatusNotification", kwargs))
        return result16.StatusNotification()


class LaxCentralSystem16(CentralSystem16):
    """Answers BootNotification with a currentTime that is no date-time."""

    boot_time = "yesterday"


class CentralSystem201(ChargePoint201):
    """Its 2.0.1 CSMS, recording what stations send."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict[str, Any]]] = []

    @on(Action201.boot_notification)
    def on_boot_notification(self, **kwargs: Any) -> Any:
        self.received.append(("BootNotification", kwargs))
        return result201.BootNotification(
            current_time=NOW, interval=300, status=enums201.RegistrationStatusEnumType.accepted
        )

    @on(Action201.heartbeat)
    def on_heartbeat(self, **kwargs: Any) -> Any:
        self.received.append(("Heartbeat", kwargs))
        return result201.Heartbeat(current_time=NOW)

    @on(Action201.authorize)
    def on_authorize(self, **kwargs: Any) -> Any:
        self.received.append(("Authorize", kwargs))
        return result201.Authorize(
            id_token_info=types201.IdTokenInfoType(
                status=enums201.AuthorizationStatusEnumType.accepted,
                cache_expiry_date_time=LATER,
            )
        )

    @on(Action201.status_notification)
    def on_status_notification(self, **kwargs: Any) -> Any:
        self.received.append(("StatusNotification", kwargs))
        return result201.StatusNotification()


# -- fixtures --------------------------------------------------------------------------------

OurServer = Callable[[str, Mapping[str, dict[str, Any]], Seen], Awaitable[OCPPServer]]
TheirStation = Callable[[type[Any], OCPPServer, str, str], Awaitable[Any]]
TheirCentralSystem = Callable[[type[Any], str], Awaitable[tuple[str, asyncio.Queue[Any]]]]
OurClient = Callable[..., Awaitable[OCPPClient]]


@pytest.fixture
async def our_server() -> AsyncIterator[OurServer]:
    """``await our_server(protocol, replies, seen)``: a strict OCPPServer on loopback."""
    servers: list[OCPPServer] = []

    async def start(protocol: str, replies: Mapping[str, dict[str, Any]], seen: Seen) -> OCPPServer:
        server = OCPPServer(protocols=[protocol], strict_mode=True)
        server.on("client", lambda client: answer(client, replies, seen))
        servers.append(server)
        await bounded(server.listen(0))
        return server

    yield start
    for server in servers:
        await bounded(server.close())


@pytest.fixture
async def their_station() -> AsyncIterator[TheirStation]:
    """``await their_station(cls, server, identity, protocol)``: its ChargePoint,
    connected with ``websockets.connect`` and its ``start()`` running as a task."""
    running: list[tuple[Any, asyncio.Task[None]]] = []

    async def connect(cls: type[Any], server: OCPPServer, identity: str, protocol: str) -> Any:
        url = f"ws://127.0.0.1:{server.port}/ocpp/{identity}"
        websocket = await bounded(websockets.connect(url, subprotocols=[protocol]))
        station = cls(identity, websocket, response_timeout=WAIT_S)
        station.websocket = websocket  # to send raw frames in tests
        running.append((websocket, asyncio.ensure_future(station.start())))
        return station

    yield connect
    for websocket, task in running:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
            await bounded(task)
        await bounded(websocket.close())


@pytest.fixture
async def their_central_system() -> AsyncIterator[TheirCentralSystem]:
    """``await their_central_system(cls, protocol)``: its usual central system on
    ``websockets.serve``; returns the endpoint and a queue of its ChargePoint objects."""
    servers: list[Any] = []

    async def start(cls: type[Any], protocol: str) -> tuple[str, asyncio.Queue[Any]]:
        connected: asyncio.Queue[Any] = asyncio.Queue()

        async def on_connect(websocket: Any) -> None:
            identity = websocket.request.path.rstrip("/").rsplit("/", 1)[-1]
            central = cls(identity, websocket, response_timeout=WAIT_S)
            connected.put_nowait(central)
            with contextlib.suppress(websockets.ConnectionClosed):
                await central.start()

        server = await bounded(
            websockets.serve(on_connect, "127.0.0.1", 0, subprotocols=[protocol])
        )
        servers.append(server)
        port = next(iter(server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/ocpp", connected

    yield start
    for server in servers:
        server.close()
        await bounded(server.wait_closed())


@pytest.fixture
async def our_client() -> AsyncIterator[OurClient]:
    """``await our_client(url, protocol, replies, seen, strict=True)``: a connected
    OCPPClient (identity CP-1, no reconnect) handling ``replies``."""
    clients: list[OCPPClient] = []

    async def connect(
        url: str,
        protocol: str,
        replies: Mapping[str, dict[str, Any]],
        seen: Seen,
        strict: bool = True,
    ) -> OCPPClient:
        client = OCPPClient(
            identity="CP-1",
            endpoint=url,
            protocols=[protocol],
            strict_mode=strict,
            reconnect=False,
        )
        answer(client, replies, seen)
        clients.append(client)
        await bounded(client.connect())
        return client

    yield connect
    for client in clients:
        await bounded(client.close())


# -- 1. its 1.6 charge point against our strict server -------------------------------------

ID_TAG_INFO = {"status": "Accepted", "expiryDate": LATER, "parentIdTag": "PARENT"}
REPLIES16 = {
    "BootNotification": {"status": "Accepted", "currentTime": NOW, "interval": 300},
    "Heartbeat": {"currentTime": NOW},
    "Authorize": {"idTagInfo": ID_TAG_INFO},
    "StartTransaction": {"transactionId": 42, "idTagInfo": {"status": "Accepted"}},
    "MeterValues": {},
    "StopTransaction": {"idTagInfo": {"status": "Accepted"}},
    "StatusNotification": {},
}


def meter_value16(wh: str) -> types16.MeterValue:
    return types16.MeterValue(
        timestamp=LATER,
        sampled_value=[
            types16.SampledValue(
                value=wh,
                context=enums16.ReadingContext.sample_periodic,
                measurand=enums16.Measurand.energy_active_import_register,
                unit=enums16.UnitOfMeasure.wh,
            )
        ],
    )


def wire_meter_value16(wh: str) -> dict[str, Any]:
    sample = {
        "value": wh,
        "context": "Sample.Periodic",
        "measurand": "Energy.Active.Import.Register",
        "unit": "Wh",
    }
    return {"timestamp": LATER, "sampledValue": [sample]}


async def test_their_16_charge_point_against_our_strict_server(
    our_server: OurServer, their_station: TheirStation
) -> None:
    """Its 1.6 ChargePoint passes our strict validation for a whole session, gets our
    replies in its call_result objects, and answers our server-initiated calls."""
    seen: Seen = []
    server = await our_server("ocpp1.6", REPLIES16, seen)
    station = await their_station(Station16, server, "CP-16", "ocpp1.6")

    boot = await bounded(
        station.call(
            call16.BootNotification(
                charge_point_vendor="ACME", charge_point_model="One", firmware_version="1.2.3"
            ),
            suppress=False,
        )
    )
    assert boot == result16.BootNotification(
        current_time=NOW, interval=300, status=enums16.RegistrationStatus.accepted
    )
    assert server.clients["CP-16"].protocol == "ocpp1.6"
    heartbeat = await bounded(station.call(call16.Heartbeat(), suppress=False))
    assert heartbeat == result16.Heartbeat(current_time=NOW)
    authorize = await bounded(station.call(call16.Authorize(id_tag="TAG-1"), suppress=False))
    # Its objects carry our reply, nested keys turned to snake_case.
    assert authorize == result16.Authorize(
        id_tag_info={"status": "Accepted", "expiry_date": LATER, "parent_id_tag": "PARENT"}
    )
    status = call16.StatusNotification(
        connector_id=1,
        error_code=enums16.ChargePointErrorCode.no_error,
        status=enums16.ChargePointStatus.preparing,
        timestamp=NOW,
    )
    assert await bounded(station.call(status, suppress=False)) == result16.StatusNotification()
    start = await bounded(
        station.call(
            call16.StartTransaction(connector_id=1, id_tag="TAG-1", meter_start=100, timestamp=NOW),
            suppress=False,
        )
    )
    assert start == result16.StartTransaction(transaction_id=42, id_tag_info={"status": "Accepted"})
    meter = call16.MeterValues(
        connector_id=1, transaction_id=start.transaction_id, meter_value=[meter_value16("150.5")]
    )
    assert await bounded(station.call(meter, suppress=False)) == result16.MeterValues()
    stop = await bounded(
        station.call(
            call16.StopTransaction(
                meter_stop=200,
                timestamp=LATER,
                transaction_id=start.transaction_id,
                reason=enums16.Reason.local,
                id_tag="TAG-1",
                transaction_data=[meter_value16("200")],
            ),
            suppress=False,
        )
    )
    assert stop == result16.StopTransaction(id_tag_info={"status": "Accepted"})

    # What went over the wire, as our strict server's handlers saw it.
    assert seen == [
        (
            "BootNotification",
            {"chargePointVendor": "ACME", "chargePointModel": "One", "firmwareVersion": "1.2.3"},
        ),
        ("Heartbeat", {}),
        ("Authorize", {"idTag": "TAG-1"}),
        (
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Preparing", "timestamp": NOW},
        ),
        (
            "StartTransaction",
            {"connectorId": 1, "idTag": "TAG-1", "meterStart": 100, "timestamp": NOW},
        ),
        (
            "MeterValues",
            {"connectorId": 1, "transactionId": 42, "meterValue": [wire_meter_value16("150.5")]},
        ),
        (
            "StopTransaction",
            {
                "meterStop": 200,
                "timestamp": LATER,
                "transactionId": 42,
                "reason": "Local",
                "idTag": "TAG-1",
                "transactionData": [wire_meter_value16("200")],
            },
        ),
    ]

    # Server-initiated calls, answered by its @on handlers.
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7.7}],
        },
    }
    remote = {"idTag": "TAG-2", "connectorId": 1, "chargingProfile": profile}
    assert await bounded(server.send_to_client("CP-16", "RemoteStartTransaction", remote)) == {
        "status": "Accepted"
    }
    assert await bounded(server.send_to_client("CP-16", "Reset", {"type": "Soft"})) == {
        "status": "Accepted"
    }
    query = {"key": ["HeartbeatInterval", "NoSuchKey"]}
    assert await bounded(server.send_to_client("CP-16", "GetConfiguration", query)) == {
        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
        "unknownKey": ["NoSuchKey"],
    }
    change = {"key": "HeartbeatInterval", "value": "60"}
    assert await bounded(server.send_to_client("CP-16", "ChangeConfiguration", change)) == {
        "status": "Accepted"
    }
    unknown = {"key": "NoSuchKey", "value": "1"}
    assert await bounded(server.send_to_client("CP-16", "ChangeConfiguration", unknown)) == {
        "status": "NotSupported"
    }
    assert await bounded(server.send_to_client("CP-16", "GetConfiguration", {})) == {
        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}],
        "unknownKey": [],
    }

    # What its handlers got: snake_case keywords; 1.6 charging limits parsed as Decimal.
    assert station.received == [
        (
            "RemoteStartTransaction",
            {
                "id_tag": "TAG-2",
                "connector_id": 1,
                "charging_profile": {
                    "charging_profile_id": 1,
                    "stack_level": 0,
                    "charging_profile_purpose": "TxProfile",
                    "charging_profile_kind": "Relative",
                    "charging_schedule": {
                        "charging_rate_unit": "A",
                        "charging_schedule_period": [{"start_period": 0, "limit": Decimal("7.7")}],
                    },
                },
            },
        ),
        ("Reset", {"type": "Soft"}),
        ("GetConfiguration", {"key": ["HeartbeatInterval", "NoSuchKey"]}),
        ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "60"}),
        ("ChangeConfiguration", {"key": "NoSuchKey", "value": "1"}),
        ("GetConfiguration", {"key": None}),
    ]


# -- 2. its 2.0.1 charging station against our strict server ---------------------------------

ID_TOKEN = types201.IdTokenType(id_token="TAG-1", type=enums201.IdTokenEnumType.iso14443)
WIRE_ID_TOKEN = {"idToken": "TAG-1", "type": "ISO14443"}
REPLIES201 = {
    "BootNotification": {"status": "Accepted", "currentTime": NOW, "interval": 300},
    "Heartbeat": {"currentTime": NOW},
    "StatusNotification": {},
}


def meter_value201(wh: float) -> types201.MeterValueType:
    return types201.MeterValueType(
        timestamp=LATER,
        sampled_value=[
            types201.SampledValueType(
                value=wh,
                context=enums201.ReadingContextEnumType.sample_periodic,
                measurand=enums201.MeasurandEnumType.energy_active_import_register,
                unit_of_measure=types201.UnitOfMeasureType(unit="Wh"),
            )
        ],
    )


def wire_meter_value201(wh: float) -> dict[str, Any]:
    sample = {
        "value": wh,
        "context": "Sample.Periodic",
        "measurand": "Energy.Active.Import.Register",
        "unitOfMeasure": {"unit": "Wh"},
    }
    return {"timestamp": LATER, "sampledValue": [sample]}


async def test_their_201_charging_station_against_our_strict_server(
    our_server: OurServer, their_station: TheirStation
) -> None:
    """Its 2.0.1 ChargePoint: boot, status, a Started/Updated/Ended transaction, and our
    RequestStartTransaction, GetVariables, SetVariables and Reset answered by it."""
    seen: Seen = []
    server = await our_server("ocpp2.0.1", REPLIES201, seen)

    # Our TransactionEvent handler answers each event type differently.
    def transaction_event(ctx: Any) -> dict[str, Any]:
        seen.append((ctx.method, ctx.params))
        return {
            "Started": {"idTokenInfo": {"status": "Accepted"}},
            "Updated": {"chargingPriority": 2},
            "Ended": {"totalCost": 3.5},
        }[ctx.params["eventType"]]

    server.on("client", lambda client: client.handle("TransactionEvent", transaction_event))
    station = await their_station(Station201, server, "CS-201", "ocpp2.0.1")

    boot = await bounded(
        station.call(
            call201.BootNotification(
                charging_station=types201.ChargingStationType(
                    vendor_name="ACME", model="Two", firmware_version="2.0.1"
                ),
                reason=enums201.BootReasonEnumType.power_up,
            ),
            suppress=False,
        )
    )
    assert boot == result201.BootNotification(
        current_time=NOW, interval=300, status=enums201.RegistrationStatusEnumType.accepted
    )
    assert server.clients["CS-201"].protocol == "ocpp2.0.1"
    assert await bounded(station.call(call201.Heartbeat(), suppress=False)) == (
        result201.Heartbeat(current_time=NOW)
    )
    status = call201.StatusNotification(
        timestamp=NOW,
        connector_status=enums201.ConnectorStatusEnumType.occupied,
        evse_id=1,
        connector_id=1,
    )
    assert await bounded(station.call(status, suppress=False)) == result201.StatusNotification()

    started = await bounded(
        station.call(
            call201.TransactionEvent(
                event_type=enums201.TransactionEventEnumType.started,
                timestamp=NOW,
                trigger_reason=enums201.TriggerReasonEnumType.authorized,
                seq_no=0,
                transaction_info=types201.TransactionType(
                    transaction_id="TX-1", charging_state=enums201.ChargingStateEnumType.charging
                ),
                id_token=ID_TOKEN,
                evse=types201.EVSEType(id=1, connector_id=1),
                meter_value=[meter_value201(0.0)],
            ),
            suppress=False,
        )
    )
    assert started == result201.TransactionEvent(id_token_info={"status": "Accepted"})
    updated = await bounded(
        station.call(
            call201.TransactionEvent(
                event_type=enums201.TransactionEventEnumType.updated,
                timestamp=LATER,
                trigger_reason=enums201.TriggerReasonEnumType.meter_value_periodic,
                seq_no=1,
                transaction_info=types201.TransactionType(transaction_id="TX-1"),
                meter_value=[meter_value201(1234.5)],
            ),
            suppress=False,
        )
    )
    assert updated == result201.TransactionEvent(charging_priority=2)
    ended = await bounded(
        station.call(
            call201.TransactionEvent(
                event_type=enums201.TransactionEventEnumType.ended,
                timestamp=LATER,
                trigger_reason=enums201.TriggerReasonEnumType.stop_authorized,
                seq_no=2,
                transaction_info=types201.TransactionType(
                    transaction_id="TX-1", stopped_reason=enums201.ReasonEnumType.local
                ),
                id_token=ID_TOKEN,
            ),
            suppress=False,
        )
    )
    assert ended == result201.TransactionEvent(total_cost=3.5)

    assert seen == [
        (
            "BootNotification",
            {
                "chargingStation": {
                    "vendorName": "ACME",
                    "model": "Two",
                    "firmwareVersion": "2.0.1",
                },
                "reason": "PowerUp",
            },
        ),
        ("Heartbeat", {}),
        (
            "StatusNotification",
            {"timestamp": NOW, "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
        ),
        (
            "TransactionEvent",
            {
                "eventType": "Started",
                "timestamp": NOW,
                "triggerReason": "Authorized",
                "seqNo": 0,
                "transactionInfo": {"transactionId": "TX-1", "chargingState": "Charging"},
                "idToken": WIRE_ID_TOKEN,
                "evse": {"id": 1, "connectorId": 1},
                "meterValue": [wire_meter_value201(0.0)],
            },
        ),
        (
            "TransactionEvent",
            {
                "eventType": "Updated",
                "timestamp": LATER,
                "triggerReason": "MeterValuePeriodic",
                "seqNo": 1,
                "transactionInfo": {"transactionId": "TX-1"},
                "meterValue": [wire_meter_value201(1234.5)],
            },
        ),
        (
            "TransactionEvent",
            {
                "eventType": "Ended",
                "timestamp": LATER,
                "triggerReason": "StopAuthorized",
                "seqNo": 2,
                "transactionInfo": {"transactionId": "TX-1", "stoppedReason": "Local"},
                "idToken": WIRE_ID_TOKEN,
            },
        ),
    ]

    # Server-initiated calls, answered by its @on handlers.
    request_start = {"idToken": WIRE_ID_TOKEN, "remoteStartId": 7, "evseId": 1}
    assert await bounded(
        server.send_to_client("CS-201", "RequestStartTransaction", request_start)
    ) == {"status": "Accepted", "transactionId": "TX-9"}
    component = {"name": "OCPPCommCtrlr"}
    variable = {"name": "HeartbeatInterval"}
    get_data = {"getVariableData": [{"component": component, "variable": variable}]}
    assert await bounded(server.send_to_client("CS-201", "GetVariables", get_data)) == {
        "getVariableResult": [
            {
                "attributeStatus": "Accepted",
                "component": component,
                "variable": variable,
                "attributeValue": "300",
            }
        ]
    }
    set_data = {
        "setVariableData": [{"attributeValue": "60", "component": component, "variable": variable}]
    }
    assert await bounded(server.send_to_client("CS-201", "SetVariables", set_data)) == {
        "setVariableResult": [
            {"attributeStatus": "Accepted", "component": component, "variable": variable}
        ]
    }
    assert await bounded(server.send_to_client("CS-201", "GetVariables", get_data)) == {
        "getVariableResult": [
            {
                "attributeStatus": "Accepted",
                "component": component,
                "variable": variable,
                "attributeValue": "60",
            }
        ]
    }
    reset = await bounded(server.send_to_client("CS-201", "Reset", {"type": "Immediate"}))
    assert reset == {"status": "Accepted"}

    snake_item = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
    assert station.received == [
        (
            "RequestStartTransaction",
            {
                "id_token": {"id_token": "TAG-1", "type": "ISO14443"},
                "remote_start_id": 7,
                "evse_id": 1,
            },
        ),
        ("GetVariables", {"get_variable_data": [snake_item]}),
        ("SetVariables", {"set_variable_data": [{"attribute_value": "60", **snake_item}]}),
        ("GetVariables", {"get_variable_data": [snake_item]}),
        ("Reset", {"type": "Immediate"}),
    ]


# -- 3. our client against its central systems ---------------------------------------------


async def test_our_16_client_against_their_central_system(
    their_central_system: TheirCentralSystem, our_client: OurClient
) -> None:
    """Our strict 1.6 client against its central system, both calling each other."""
    url, connected = await their_central_system(CentralSystem16, "ocpp1.6")
    seen: Seen = []
    configuration = {"configurationKey": [{"key": "HeartbeatInterval", "readonly": True}]}
    replies = {
        "Reset": {"status": "Rejected"},
        "GetConfiguration": configuration,
        "SetChargingProfile": {"status": "Accepted"},
    }
    client = await our_client(url, "ocpp1.6", replies, seen)
    central: CentralSystem16 = await bounded(connected.get())
    assert central.id == "CP-1"
    assert client.protocol == "ocpp1.6"

    boot = {"chargePointVendor": "ACME", "chargePointModel": "One", "meterType": "AC"}
    assert await bounded(client.call("BootNotification", boot)) == {
        "currentTime": NOW,
        "interval": 300,
        "status": "Accepted",
    }
    assert await bounded(client.call("Heartbeat", {})) == {"currentTime": NOW}
    assert await bounded(client.call("Authorize", {"idTag": "TAG-1"})) == {"idTagInfo": ID_TAG_INFO}
    status = {"connectorId": 0, "errorCode": "NoError", "status": "Available"}
    assert await bounded(client.call("StatusNotification", status)) == {}
    assert central.received == [
        (
            "BootNotification",
            {"charge_point_vendor": "ACME", "charge_point_model": "One", "meter_type": "AC"},
        ),
        ("Heartbeat", {}),
        ("Authorize", {"id_tag": "TAG-1"}),
        ("StatusNotification", {"connector_id": 0, "error_code": "NoError", "status": "Available"}),
    ]

    # Its central system calls us; its call_result objects carry our handlers' replies.
    reset = await bounded(central.call(call16.Reset(type=enums16.ResetType.hard), suppress=False))
    assert reset == result16.Reset(status=enums16.ResetStatus.rejected)
    got = await bounded(
        central.call(call16.GetConfiguration(key=["HeartbeatInterval"]), suppress=False)
    )
    assert got == result16.GetConfiguration(
        configuration_key=[{"key": "HeartbeatInterval", "readonly": True}]
    )
    # 1.6 rates are multipleOf 0.1: 0.3 passes our strict check (0.3 / 0.1 is not an
    # integer in binary floating point, so plain jsonschema would refuse it), as it
    # passes its Decimal-based one.
    profile = types16.ChargingProfile(
        charging_profile_id=3,
        stack_level=1,
        charging_profile_purpose=enums16.ChargingProfilePurposeType.tx_default_profile,
        charging_profile_kind=enums16.ChargingProfileKindType.absolute,
        charging_schedule=types16.ChargingSchedule(
            charging_rate_unit=enums16.ChargingRateUnitType.amps,
            charging_schedule_period=[types16.ChargingSchedulePeriod(start_period=0, limit=7.7)],
            min_charging_rate=0.3,
        ),
    )
    set_profile = call16.SetChargingProfile(connector_id=1, cs_charging_profiles=profile)
    assert await bounded(central.call(set_profile, suppress=False)) == (
        result16.SetChargingProfile(status=enums16.ChargingProfileStatus.accepted)
    )
    assert seen == [
        ("Reset", {"type": "Hard"}),
        ("GetConfiguration", {"key": ["HeartbeatInterval"]}),
        (
            "SetChargingProfile",
            {
                "connectorId": 1,
                "csChargingProfiles": {
                    "chargingProfileId": 3,
                    "stackLevel": 1,
                    "chargingProfilePurpose": "TxDefaultProfile",
                    "chargingProfileKind": "Absolute",
                    "chargingSchedule": {
                        "chargingRateUnit": "A",
                        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7.7}],
                        "minChargingRate": 0.3,
                    },
                },
            },
        ),
    ]


async def test_our_201_client_against_their_csms(
    their_central_system: TheirCentralSystem, our_client: OurClient
) -> None:
    """Our strict 2.0.1 client against its CSMS, both calling each other."""
    url, connected = await their_central_system(CentralSystem201, "ocpp2.0.1")
    seen: Seen = []
    component = {"name": "OCPPCommCtrlr"}
    variable = {"name": "HeartbeatInterval"}
    variables = {
        "getVariableResult": [
            {
                "attributeStatus": "Accepted",
                "component": component,
                "variable": variable,
                "attributeValue": "300",
            }
        ]
    }
    client = await our_client(
        url,
        "ocpp2.0.1",
        {"Reset": {"status": "Scheduled"}, "GetVariables": variables},
        seen,
    )
    central: CentralSystem201 = await bounded(connected.get())
    assert central.id == "CP-1"
    assert client.protocol == "ocpp2.0.1"

    boot = {"chargingStation": {"vendorName": "ACME", "model": "Two"}, "reason": "PowerUp"}
    assert await bounded(client.call("BootNotification", boot)) == {
        "currentTime": NOW,
        "interval": 300,
        "status": "Accepted",
    }
    assert await bounded(client.call("Heartbeat", {})) == {"currentTime": NOW}
    assert await bounded(client.call("Authorize", {"idToken": WIRE_ID_TOKEN})) == {
        "idTokenInfo": {"status": "Accepted", "cacheExpiryDateTime": LATER}
    }
    status = {"timestamp": NOW, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
    assert await bounded(client.call("StatusNotification", status)) == {}
    assert central.received == [
        (
            "BootNotification",
            {"charging_station": {"vendor_name": "ACME", "model": "Two"}, "reason": "PowerUp"},
        ),
        ("Heartbeat", {}),
        ("Authorize", {"id_token": {"id_token": "TAG-1", "type": "ISO14443"}}),
        (
            "StatusNotification",
            {"timestamp": NOW, "connector_status": "Available", "evse_id": 1, "connector_id": 1},
        ),
    ]

    reset = await bounded(
        central.call(call201.Reset(type=enums201.ResetEnumType.on_idle, evse_id=1), suppress=False)
    )
    assert reset == result201.Reset(status=enums201.ResetStatusEnumType.scheduled)
    query = call201.GetVariables(
        get_variable_data=[
            types201.GetVariableDataType(
                component=types201.ComponentType(name="OCPPCommCtrlr"),
                variable=types201.VariableType(name="HeartbeatInterval"),
            )
        ]
    )
    got = await bounded(central.call(query, suppress=False))
    assert got == result201.GetVariables(
        get_variable_result=[
            {
                "attribute_status": "Accepted",
                "component": component,
                "variable": variable,
                "attribute_value": "300",
            }
        ]
    )
    assert seen == [
        ("Reset", {"type": "OnIdle", "evseId": 1}),
        ("GetVariables", {"getVariableData": [{"component": component, "variable": variable}]}),
    ]


# -- 4. error paths ------------------------------------------------------------------------------

UNHANDLED = {
    "ocpp1.6": (
        Station16,
        call16.DataTransfer(vendor_id="ACME", message_id="M1"),
        call16.Heartbeat(),
        result16.Heartbeat(current_time=NOW),
    ),
    "ocpp2.0.1": (
        Station201,
        call201.DataTransfer(vendor_id="ACME", message_id="M1"),
        call201.Heartbeat(),
        result201.Heartbeat(current_time=NOW),
    ),
}


@pytest.mark.parametrize("protocol", list(UNHANDLED))
async def test_their_station_gets_our_not_supported_and_not_implemented(
    protocol: str, our_server: OurServer, their_station: TheirStation
) -> None:
    """A known action without handler is NotSupported, an unknown one NotImplemented
    (the spec's meanings); its ChargePoint raises the exception of that code."""
    seen: Seen = []
    server = await our_server(protocol, {"Heartbeat": {"currentTime": NOW}}, seen)
    errors: list[Any] = []
    server.on("client", lambda client: client.on("call_error", errors.append))
    cls, data_transfer, heartbeat, heartbeat_result = UNHANDLED[protocol]
    station = await their_station(cls, server, "CP-E", protocol)

    with pytest.raises(their_errors.NotSupportedError) as refused:
        await bounded(station.call(data_transfer, suppress=False))
    assert refused.value.description == "DataTransfer is not supported"
    assert refused.value.details == {}
    # By default its ChargePoint swallows a CALLERROR and returns None.
    assert await bounded(station.call(data_transfer)) is None

    unknown = dataclasses.make_dataclass("NoSuchAction", [("vendor_id", str)])(vendor_id="ACME")
    with pytest.raises(their_errors.NotImplementedError) as unknown_error:
        await bounded(station.call(unknown, suppress=False, skip_schema_validation=True))
    assert unknown_error.value.description == "NoSuchAction is not implemented"
    # The connection is still fine afterwards.
    assert await bounded(station.call(heartbeat, suppress=False)) == heartbeat_result

    codes = [(event.frame.error_code, event.outbound) for event in errors]
    assert codes == [("NotSupported", True), ("NotSupported", True), ("NotImplemented", True)]
    assert seen == [("Heartbeat", {})]


CENTRAL_SYSTEMS = {"ocpp1.6": CentralSystem16, "ocpp2.0.1": CentralSystem201}


@pytest.mark.parametrize("protocol", list(CENTRAL_SYSTEMS))
async def test_our_client_gets_their_codes_for_unhandled_actions(
    protocol: str, their_central_system: TheirCentralSystem, our_client: OurClient
) -> None:
    """Its central system answers a known action it has no handler for with
    NotImplemented and an unknown action with NotSupported (the spec's meanings
    swapped); our client raises the class of the code it received.  The client is not
    strict so that it sends the unknown action instead of refusing it locally."""
    url, connected = await their_central_system(CENTRAL_SYSTEMS[protocol], protocol)
    client = await our_client(url, protocol, {}, [], strict=False)
    central = await bounded(connected.get())
    version = protocol.removeprefix("ocpp")

    with pytest.raises(RPCNotImplementedError) as known:
        await bounded(client.call("DataTransfer", {"vendorId": "ACME"}))
    assert known.value.received_code == "NotImplemented"
    assert known.value.message == "Request Action is recognized but not supported by the receiver"
    assert known.value.details == {"cause": "No handler for DataTransfer registered."}

    with pytest.raises(RPCNotSupportedError) as unknown:
        await bounded(client.call("NoSuchAction", {}))
    assert unknown.value.received_code == "NotSupported"
    assert unknown.value.message == "Requested Action is not known by receiver"
    assert unknown.value.details == {"cause": f"NoSuchAction not supported by OCPP{version}."}

    assert central.received == []
    assert await bounded(client.call("Heartbeat", {})) == {"currentTime": NOW}


# Strict validation: the same invalid request, from its station to our strict server and
# from our (non-strict) client to its central system, and the code each side answers.
# Rows: protocol, what its ChargePoint sends, the same payload on the wire, our code,
# its code (None: it accepts the request).
ExtraHeartbeat = dataclasses.make_dataclass("Heartbeat", [("vendor_flag", int)])
VALIDATION_CASES = {
    "1.6-string-too-long": (
        "ocpp1.6",
        lambda: call16.Authorize(id_tag="X" * 21),
        ("Authorize", {"idTag": "X" * 21}),
        "PropertyConstraintViolation",
        "TypeConstraintViolation",
    ),
    "1.6-required-missing": (
        "ocpp1.6",
        lambda: call16.BootNotification(charge_point_vendor="ACME", charge_point_model=None),
        ("BootNotification", {"chargePointVendor": "ACME"}),
        "OccurenceConstraintViolation",
        "ProtocolError",
    ),
    "1.6-wrong-type": (
        "ocpp1.6",
        lambda: call16.StatusNotification(
            connector_id="1", error_code="NoError", status="Available"
        ),
        ("StatusNotification", {"connectorId": "1", "errorCode": "NoError", "status": "Available"}),
        "TypeConstraintViolation",
        "TypeConstraintViolation",
    ),
    "1.6-not-in-enum": (
        "ocpp1.6",
        lambda: call16.StatusNotification(connector_id=1, error_code="NoError", status="Sleeping"),
        ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"}),
        "PropertyConstraintViolation",
        "FormatViolation",
    ),
    "1.6-additional-property": (
        "ocpp1.6",
        lambda: ExtraHeartbeat(vendor_flag=1),
        ("Heartbeat", {"vendorFlag": 1}),
        "FormationViolation",
        "FormatViolation",
    ),
    "1.6-bad-date-time": (
        "ocpp1.6",
        lambda: call16.StatusNotification(
            connector_id=1, error_code="NoError", status="Available", timestamp="yesterday"
        ),
        (
            "StatusNotification",
            {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": "Available",
                "timestamp": "yesterday",
            },
        ),
        "PropertyConstraintViolation",
        None,
    ),
    "2.0.1-string-too-long": (
        "ocpp2.0.1",
        lambda: call201.Authorize(id_token=types201.IdTokenType(id_token="X" * 37, type="Central")),
        ("Authorize", {"idToken": {"idToken": "X" * 37, "type": "Central"}}),
        "PropertyConstraintViolation",
        "TypeConstraintViolation",
    ),
    "2.0.1-required-missing": (
        "ocpp2.0.1",
        lambda: call201.BootNotification(
            charging_station=types201.ChargingStationType(vendor_name="ACME", model="Two"),
            reason=None,
        ),
        ("BootNotification", {"chargingStation": {"vendorName": "ACME", "model": "Two"}}),
        "OccurrenceConstraintViolation",
        "ProtocolError",
    ),
    "2.0.1-not-in-enum": (
        "ocpp2.0.1",
        lambda: call201.StatusNotification(
            timestamp=NOW, connector_status="Sleeping", evse_id=1, connector_id=1
        ),
        (
            "StatusNotification",
            {"timestamp": NOW, "connectorStatus": "Sleeping", "evseId": 1, "connectorId": 1},
        ),
        "PropertyConstraintViolation",
        "FormatViolation",
    ),
    "2.0.1-additional-property": (
        "ocpp2.0.1",
        lambda: ExtraHeartbeat(vendor_flag=1),
        ("Heartbeat", {"vendorFlag": 1}),
        "FormatViolation",
        "FormatViolation",
    ),
}
OUR_CLASS_FOR_THEIR_CODE: dict[str, type[RPCError]] = {
    "TypeConstraintViolation": RPCTypeConstraintViolationError,
    "ProtocolError": RPCProtocolError,
    "FormatViolation": RPCFormationViolationError,
}


@pytest.mark.parametrize("case", list(VALIDATION_CASES))
async def test_strict_validation_codes_both_ways(
    case: str,
    our_server: OurServer,
    their_station: TheirStation,
    their_central_system: TheirCentralSystem,
    our_client: OurClient,
) -> None:
    """The same invalid request refused by both implementations, each with its own code;
    each side's exception/error class matches the code the other one sent."""
    protocol, theirs, (action, wire), our_code, their_code = VALIDATION_CASES[case]
    station_cls, central_cls = (
        (Station16, CentralSystem16) if protocol == "ocpp1.6" else (Station201, CentralSystem201)
    )

    # Its station -> our strict server: refused before any handler runs, with our code,
    # which its ChargePoint turns into the exception class of that exact code.
    seen: Seen = []
    server = await our_server(protocol, {action: {}}, seen)
    station = await their_station(station_cls, server, "CP-V", protocol)
    with pytest.raises(their_errors.OCPPError) as ours:
        await bounded(station.call(theirs(), suppress=False, skip_schema_validation=True))
    assert type(ours.value).code == our_code
    assert seen == []

    # Our non-strict client -> its central system: its own code (or acceptance).
    url, connected = await their_central_system(central_cls, protocol)
    client = await our_client(url, protocol, {}, [], strict=False)
    central = await bounded(connected.get())
    if their_code is None:
        assert await bounded(client.call(action, wire)) == {}
        assert [name for name, _ in central.received] == [action]
    else:
        with pytest.raises(OUR_CLASS_FOR_THEIR_CODE[their_code]) as refused:
            await bounded(client.call(action, wire))
        assert refused.value.received_code == their_code
        assert central.received == []


async def test_our_strict_client_refuses_their_unchecked_date_time(
    their_central_system: TheirCentralSystem, our_client: OurClient
) -> None:
    """Its central system does not check ``format: date-time`` on what it sends; our
    strict client refuses such a response (a non-strict one takes it as it is)."""
    url, connected = await their_central_system(LaxCentralSystem16, "ocpp1.6")
    strict = await our_client(url, "ocpp1.6", {}, [])
    boot = {"chargePointVendor": "ACME", "chargePointModel": "One"}
    with pytest.raises(RPCPropertyConstraintViolationError) as refused:
        await bounded(strict.call("BootNotification", boot))
    assert refused.value.details == {"keyword": "format", "path": "$.currentTime"}
    await bounded(connected.get())

    lax = await our_client(url, "ocpp1.6", {}, [], strict=False)
    assert await bounded(lax.call("BootNotification", boot)) == {
        "currentTime": "yesterday",
        "interval": 300,
        "status": "Accepted",
    }


async def test_malformed_frames_both_ways(
    our_server: OurServer,
    their_station: TheirStation,
    their_central_system: TheirCentralSystem,
    our_client: OurClient,
) -> None:
    """Framing: our 1.6 server answers an unreadable frame with a CALLERROR of id "-1"
    (FormationViolation) and an unknown message type with GenericError; its ChargePoint
    sets both aside as responses to no call of its own and keeps working.  Its central
    system answers neither (it only logs), as the next reply on the socket shows."""
    seen: Seen = []
    server = await our_server("ocpp1.6", REPLIES16, seen)
    sent: list[str] = []
    server.on(
        "client",
        lambda client: client.on(
            "message", lambda event: sent.append(event.message) if event.outbound else None
        ),
    )
    station = await their_station(Station16, server, "CP-F", "ocpp1.6")
    await bounded(station.websocket.send("not json"))
    await bounded(station.websocket.send('[7,"m-7","Heartbeat",{}]'))
    heartbeat = await bounded(station.call(call16.Heartbeat(), suppress=False))
    assert heartbeat == result16.Heartbeat(current_time=NOW)
    frames = [json.loads(text) for text in sent]
    assert [frame[:3] for frame in frames[:2]] == [
        [4, "-1", "FormationViolation"],
        [4, "m-7", "GenericError"],
    ]
    assert frames[2][0] == 3
    assert frames[2][2] == {"currentTime": NOW}
    assert seen == [("Heartbeat", {})]

    url, _ = await their_central_system(CentralSystem16, "ocpp1.6")
    client = await our_client(url, "ocpp1.6", {}, [])
    received: list[str] = []
    client.on("message", lambda event: None if event.outbound else received.append(event.message))
    await bounded(client.send_raw("not json"))
    await bounded(client.send_raw('[7,"m-7","Heartbeat",{}]'))
    assert await bounded(client.call("Heartbeat", {})) == {"currentTime": NOW}
    # It processes frames in order: a reply to either bad frame would have come first.
    assert len(received) == 1
    assert json.loads(received[0])[0] == 3
