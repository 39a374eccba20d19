"""Compression benchmark: bytes on the wire for a realistic OCPP session, off and on.

One station (OCPPClient) and one CSMS (OCPPServer) run a charging session over a
real loopback connection through a relay that counts the TCP bytes each way. The
session, for OCPP 1.6 and for 2.0.1 (strict mode on both ends, so every payload is
schema-valid): BootNotification, StatusNotifications, a configuration report
(1.6 GetConfiguration; 2.0.1 GetBaseReport then NotifyReport), Heartbeats, Authorize,
a transaction with periodic meter values (1.6 StartTransaction, MeterValues,
StopTransaction with transactionData; 2.0.1 TransactionEvent Started, Updated,
Ended), each sample carrying the ten measurands of a three-phase AC meter.

Each compression setting runs the same session (the same values, seeded); bytes
count from the end of the handshake (the handshake is shown apart) to just before
closing. CPU is the process's (both ends and the relay), best of ``--rounds``.

    .venv/bin/python bench/compression.py [--rounds R] [--samples N]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from browser_ocpp import OCPPClient, OCPPServer, OCPPServerClient

HOST = "127.0.0.1"
IDENTITY = "CP-BENCH-0001"
START = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
METER_INTERVAL = timedelta(seconds=60)
HEARTBEATS = 20
KEEP = {"server_no_context_takeover": False, "client_no_context_takeover": False}
SETTINGS: list[tuple[str, Any]] = [
    ("off", False),
    ("on, defaults (threshold 1024, no context takeover)", True),
    ("threshold 0, no context takeover", {"threshold": 0}),
    ("threshold 1024, context takeover", {**KEEP, "threshold": 1024}),
    ("threshold 0, context takeover", {**KEEP, "threshold": 0}),
]
"""The same setting on both ends; ``True`` is the reference's defaults."""

Payload = dict[str, Any]
Step = Callable[[OCPPClient, OCPPServer], Awaitable[Any]]


# -- the session's messages --------------------------------------------------------------


def stamp(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Meter:
    """A three-phase AC meter charging at about 11 kW, with a little noise."""

    rng: random.Random
    energy_wh: float = 1_234_567.0
    soc: float = 23.0

    def advance(self) -> dict[str, tuple[str | None, str, float, str | None]]:
        """One sample: measurand key -> (phase, unit, value, location)."""
        amps = [16.0 + self.rng.uniform(-0.4, 0.4) for _ in range(3)]
        volts = [230.0 + self.rng.uniform(-3.0, 3.0) for _ in range(3)]
        power = sum(a * v for a, v in zip(amps, volts, strict=True))
        self.energy_wh += power * METER_INTERVAL.total_seconds() / 3600
        self.soc = min(100.0, self.soc + 0.25)
        sample: dict[str, tuple[str | None, str, float, str | None]] = {
            "Energy.Active.Import.Register": (None, "Wh", round(self.energy_wh, 1), "Outlet"),
            "Power.Active.Import": (None, "W", round(power, 1), "Outlet"),
        }
        for i, phase in enumerate(("L1", "L2", "L3")):
            sample[f"Current.Import/{phase}"] = (phase, "A", round(amps[i], 2), "Outlet")
        for i, phase in enumerate(("L1-N", "L2-N", "L3-N")):
            sample[f"Voltage/{phase}"] = (phase, "V", round(volts[i], 1), "Outlet")
        sample["SoC"] = (None, "Percent", round(self.soc, 1), "EV")
        return sample


def sampled_values_16(sample: dict[str, Any], context: str) -> list[Payload]:
    values = []
    for key, (phase, unit, value, location) in sample.items():
        item: Payload = {
            "value": f"{value}",
            "context": context,
            "format": "Raw",
            "measurand": key.split("/")[0],
        }
        if phase is not None:
            item["phase"] = phase
        item.update(location=location, unit=unit)
        values.append(item)
    return values


def sampled_values_201(sample: dict[str, Any], context: str) -> list[Payload]:
    values = []
    for key, (phase, unit, value, location) in sample.items():
        item: Payload = {"value": value, "context": context, "measurand": key.split("/")[0]}
        if phase is not None:
            item["phase"] = phase
        item.update(location=location, unitOfMeasure={"unit": unit})
        values.append(item)
    return values


CONFIGURATION_16 = [
    ("AllowOfflineTxForUnknownId", "false"),
    ("AuthorizationCacheEnabled", "true"),
    ("AuthorizeRemoteTxRequests", "true"),
    ("ClockAlignedDataInterval", "900"),
    ("ConnectionTimeOut", "120"),
    ("ConnectorPhaseRotation", "0.RST,1.RST,2.RST"),
    ("GetConfigurationMaxKeys", "50"),
    ("HeartbeatInterval", "300"),
    ("LocalAuthorizeOffline", "true"),
    ("LocalPreAuthorize", "false"),
    ("MeterValuesAlignedData", "Energy.Active.Import.Register"),
    (
        "MeterValuesSampledData",
        "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC",
    ),
    ("MeterValueSampleInterval", "60"),
    ("NumberOfConnectors", "2"),
    ("ResetRetries", "3"),
    ("StopTransactionOnEVSideDisconnect", "true"),
    ("StopTransactionOnInvalidId", "true"),
    ("StopTxnAlignedData", "Energy.Active.Import.Register"),
    ("StopTxnSampledData", "Energy.Active.Import.Register"),
    ("SupportedFeatureProfiles", "Core,FirmwareManagement,LocalAuthListManagement,Reservation"),
    ("TransactionMessageAttempts", "3"),
    ("TransactionMessageRetryInterval", "60"),
    ("UnlockConnectorOnEVSideDisconnect", "true"),
    ("WebSocketPingInterval", "30"),
    ("LocalAuthListEnabled", "true"),
    ("LocalAuthListMaxLength", "1000"),
    ("SendLocalListMaxLength", "100"),
    ("ChargeProfileMaxStackLevel", "8"),
    ("ChargingScheduleAllowedChargingRateUnit", "Current,Power"),
    ("ChargingScheduleMaxPeriods", "24"),
    ("MaxChargingProfilesInstalled", "16"),
]

COMPONENTS_201 = [
    ("OCPPCommCtrlr", "HeartbeatInterval", "300", "integer"),
    ("OCPPCommCtrlr", "MessageTimeout", "30", "integer"),
    ("OCPPCommCtrlr", "WebSocketPingInterval", "30", "integer"),
    ("OCPPCommCtrlr", "MessageAttempts", "3", "integer"),
    ("OCPPCommCtrlr", "MessageAttemptInterval", "60", "integer"),
    ("SampledDataCtrlr", "TxUpdatedInterval", "60", "integer"),
    (
        "SampledDataCtrlr",
        "TxUpdatedMeasurands",
        "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC",
        "MemberList",
    ),
    ("SampledDataCtrlr", "TxEndedMeasurands", "Energy.Active.Import.Register", "MemberList"),
    ("AlignedDataCtrlr", "Interval", "900", "integer"),
    ("AlignedDataCtrlr", "Measurands", "Energy.Active.Import.Register", "MemberList"),
    ("AuthCtrlr", "AuthorizeRemoteStart", "true", "boolean"),
    ("AuthCtrlr", "LocalAuthorizeOffline", "true", "boolean"),
    ("AuthCtrlr", "LocalPreAuthorize", "false", "boolean"),
    ("AuthCacheCtrlr", "Enabled", "true", "boolean"),
    ("LocalAuthListCtrlr", "Enabled", "true", "boolean"),
    ("LocalAuthListCtrlr", "Entries", "0", "integer"),
    ("TxCtrlr", "EVConnectionTimeOut", "120", "integer"),
    ("TxCtrlr", "StopTxOnEVSideDisconnect", "true", "boolean"),
    ("TxCtrlr", "StopTxOnInvalidId", "true", "boolean"),
    ("TxCtrlr", "TxStartPoint", "PowerPathClosed", "MemberList"),
    ("TxCtrlr", "TxStopPoint", "EVConnected,Authorized", "MemberList"),
    ("SmartChargingCtrlr", "Enabled", "true", "boolean"),
    ("SmartChargingCtrlr", "PeriodsPerSchedule", "24", "integer"),
    ("SmartChargingCtrlr", "ProfileStackLevel", "8", "integer"),
    ("ReservationCtrlr", "Enabled", "true", "boolean"),
    ("ClockCtrlr", "TimeSource", "NTP,Heartbeat", "SequenceList"),
    ("SecurityCtrlr", "SecurityProfile", "1", "integer"),
    ("DeviceDataCtrlr", "ItemsPerMessage", "50", "integer"),
    ("DeviceDataCtrlr", "BytesPerMessage", "65536", "integer"),
    ("ChargingStation", "Available", "true", "boolean"),
]


def report_data() -> list[Payload]:
    return [
        {
            "component": {"name": component},
            "variable": {"name": variable},
            "variableAttribute": [{"type": "Actual", "value": value, "mutability": "ReadWrite"}],
            "variableCharacteristics": {"dataType": kind, "supportsMonitoring": False},
        }
        for component, variable, value, kind in COMPONENTS_201
    ]


def session_16(samples: int, rng: random.Random) -> list[tuple[str, Step]]:
    """The steps of a 1.6 session: (action, coroutine function)."""
    meter, clock = Meter(rng), START
    steps: list[tuple[str, Step]] = []

    def call(action: str, payload: Payload) -> None:
        steps.append((action, lambda c, s: c.call(action, payload)))

    def status(connector: int, state: str) -> None:
        call(
            "StatusNotification",
            {
                "connectorId": connector,
                "errorCode": "NoError",
                "status": state,
                "timestamp": stamp(clock),
            },
        )

    call(
        "BootNotification",
        {
            "chargePointVendor": "ACME Charging",
            "chargePointModel": "Wallbox AC22-2",
            "chargePointSerialNumber": "ACME-22-0001984",
            "chargeBoxSerialNumber": "ACME-22-0001984",
            "firmwareVersion": "4.12.3-build.5512",
            "meterType": "EM340 DIN",
            "meterSerialNumber": "EM340-00992833",
        },
    )
    for connector in (0, 1, 2):
        status(connector, "Available")
    steps.append(
        ("GetConfiguration", lambda c, s: s.send_to_client(IDENTITY, "GetConfiguration", {}))
    )
    for _ in range(HEARTBEATS):
        call("Heartbeat", {})
    call("Authorize", {"idTag": "04E91C2A5B3F80"})
    status(1, "Preparing")
    call(
        "StartTransaction",
        {
            "connectorId": 1,
            "idTag": "04E91C2A5B3F80",
            "meterStart": int(meter.energy_wh),
            "timestamp": stamp(clock),
        },
    )
    status(1, "Charging")
    begin = sampled_values_16(meter.advance(), "Transaction.Begin")
    for _ in range(samples):
        clock += METER_INTERVAL
        values = sampled_values_16(meter.advance(), "Sample.Periodic")
        call(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": 4711,
                "meterValue": [{"timestamp": stamp(clock), "sampledValue": values}],
            },
        )
    clock += METER_INTERVAL
    call(
        "StopTransaction",
        {
            "transactionId": 4711,
            "idTag": "04E91C2A5B3F80",
            "meterStop": int(meter.energy_wh),
            "timestamp": stamp(clock),
            "reason": "EVDisconnected",
            "transactionData": [
                {"timestamp": stamp(START), "sampledValue": begin},
                {
                    "timestamp": stamp(clock),
                    "sampledValue": sampled_values_16(meter.advance(), "Transaction.End"),
                },
            ],
        },
    )
    status(1, "Finishing")
    status(1, "Available")
    call("Heartbeat", {})
    return steps


def session_201(samples: int, rng: random.Random) -> list[tuple[str, Step]]:
    """The steps of a 2.0.1 session: (action, coroutine function)."""
    meter, clock = Meter(rng), START
    steps: list[tuple[str, Step]] = []
    transaction = {"transactionId": "7c1f2d9e-3b44-4f0a-9a51-2d7e6c0b8a11"}
    token = {"idToken": "04E91C2A5B3F80", "type": "ISO14443"}
    evse = {"id": 1, "connectorId": 1}
    seq = iter(range(1_000_000))

    def call(action: str, payload: Payload) -> None:
        steps.append((action, lambda c, s: c.call(action, payload)))

    def status(evse_id: int, state: str) -> None:
        call(
            "StatusNotification",
            {
                "timestamp": stamp(clock),
                "connectorStatus": state,
                "evseId": evse_id,
                "connectorId": 1,
            },
        )

    def event(kind: str, trigger: str, state: str, values: list[Payload], **extra: Any) -> None:
        payload: Payload = {
            "eventType": kind,
            "timestamp": stamp(clock),
            "triggerReason": trigger,
            "seqNo": next(seq),
            "transactionInfo": {**transaction, "chargingState": state, **extra},
            "evse": evse,
        }
        if kind == "Started":
            payload["idToken"] = token
        if values:
            payload["meterValue"] = [{"timestamp": stamp(clock), "sampledValue": values}]
        call("TransactionEvent", payload)

    call(
        "BootNotification",
        {
            "chargingStation": {
                "vendorName": "ACME Charging",
                "model": "Wallbox AC22-2",
                "serialNumber": "ACME-22-0001984",
                "firmwareVersion": "4.12.3-build.5512",
                "modem": {"iccid": "8944500102198304826", "imsi": "234500010219830"},
            },
            "reason": "PowerUp",
        },
    )
    for evse_id in (1, 2):
        status(evse_id, "Available")
    report = {"requestId": 1, "reportBase": "FullInventory"}
    steps.append(
        ("GetBaseReport", lambda c, s: s.send_to_client(IDENTITY, "GetBaseReport", report))
    )
    call(
        "NotifyReport",
        {"requestId": 1, "generatedAt": stamp(clock), "seqNo": 0, "reportData": report_data()},
    )
    for _ in range(HEARTBEATS):
        call("Heartbeat", {})
    call("Authorize", {"idToken": token})
    status(1, "Occupied")
    begin = sampled_values_201(meter.advance(), "Transaction.Begin")
    event("Started", "Authorized", "EVConnected", begin)
    for _ in range(samples):
        clock += METER_INTERVAL
        values = sampled_values_201(meter.advance(), "Sample.Periodic")
        event("Updated", "MeterValuePeriodic", "Charging", values)
    clock += METER_INTERVAL
    end = sampled_values_201(meter.advance(), "Transaction.End")
    event("Ended", "EVCommunicationLost", "Idle", end, stoppedReason="EVDisconnected")
    status(1, "Available")
    call("Heartbeat", {})
    return steps


def csms_handlers(protocol: str) -> Callable[[OCPPServerClient], None]:
    """The CSMS's answers (schema-valid for ``protocol``)."""
    now = stamp(START)
    boot = {"status": "Accepted", "currentTime": now, "interval": 300}
    tag_info = {"idTagInfo": {"status": "Accepted", "expiryDate": "2025-01-01T00:00:00.000Z"}}
    token_info = {"idTokenInfo": {"status": "Accepted"}}

    def transaction_event(ctx: Any) -> Payload:
        return token_info if ctx.params.get("eventType") == "Started" else {}

    def setup(station: OCPPServerClient) -> None:
        station.handle("BootNotification", lambda ctx: boot)
        station.handle("Heartbeat", lambda ctx: {"currentTime": now})
        for action in ("StatusNotification", "MeterValues", "NotifyReport"):
            station.handle(action, lambda ctx: {})
        if protocol == "ocpp1.6":
            station.handle("Authorize", lambda ctx: tag_info)
            station.handle("StartTransaction", lambda ctx: {"transactionId": 4711, **tag_info})
            station.handle("StopTransaction", lambda ctx: tag_info)
        else:
            station.handle("Authorize", lambda ctx: token_info)
            station.handle("TransactionEvent", transaction_event)

    return setup


def station_handlers(client: OCPPClient) -> None:
    read_only = ("NumberOfConnectors", "SupportedFeatureProfiles", "GetConfigurationMaxKeys")
    keys = [
        {"key": key, "readonly": key in read_only, "value": value}
        for key, value in CONFIGURATION_16
    ]
    client.handle("GetConfiguration", lambda ctx: {"configurationKey": keys})
    client.handle("GetBaseReport", lambda ctx: {"status": "Accepted"})


# -- measuring -----------------------------------------------------------------------------


class Relay:
    """A TCP relay on loopback that counts the bytes it forwards each way."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.up = 0
        self.down = 0
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, HOST, 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(HOST, self.target_port)
        self._tasks = [
            asyncio.ensure_future(self._pump(reader, up_writer, up=True)),
            asyncio.ensure_future(self._pump(up_reader, writer, up=False)),
        ]
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, up: bool
    ) -> None:
        try:
            while data := await reader.read(65_536):
                # Counted before forwarding: once a reply arrives, both ways are counted.
                if up:
                    self.up += len(data)
                else:
                    self.down += len(data)
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 5)


@dataclass
class Result:
    handshake: int = 0
    up: int = 0
    down: int = 0
    cpu_s: float = 0.0
    per_action: dict[str, list[int]] = field(default_factory=dict)
    """Action -> [messages, bytes both ways (request and reply)]."""


async def run_session(protocol: str, compression: Any, samples: int) -> Result:
    steps = (session_16 if protocol == "ocpp1.6" else session_201)(samples, random.Random(7))
    server = OCPPServer(protocols=[protocol], strict_mode=True, compression=compression)
    server.on("client", csms_handlers(protocol))
    relay = Relay(await server.listen(0, HOST))
    port = await relay.start()
    client = OCPPClient(
        endpoint=f"ws://{HOST}:{port}/ocpp",
        identity=IDENTITY,
        protocols=[protocol],
        strict_mode=True,
        compression=compression,
        ping_interval_ms=0,
        reconnect=False,
    )
    station_handlers(client)
    result = Result()
    try:
        await asyncio.wait_for(client.connect(), 10)
        handshake_up, handshake_down = relay.up, relay.down
        result.handshake = handshake_up + handshake_down
        up, down = relay.up, relay.down
        started = time.process_time()
        for action, step in steps:
            await asyncio.wait_for(step(client, server), 10)
            tally = result.per_action.setdefault(action, [0, 0])
            tally[0] += 1
            tally[1] += relay.up - up + relay.down - down
            up, down = relay.up, relay.down
        result.cpu_s = time.process_time() - started
        result.up, result.down = relay.up - handshake_up, relay.down - handshake_down
    finally:
        await client.close(force=True)
        await server.close()
        await relay.close()
    return result


async def measure(protocol: str, samples: int, rounds: int) -> list[Result]:
    """One result per setting: the bytes of the last round, the least CPU of all."""
    for _, compression in SETTINGS[:2]:  # warm-up: schemas compiled, code paths run once
        await run_session(protocol, compression, samples)
    results = []
    for _, compression in SETTINGS:
        best: Result | None = None
        for _ in range(rounds):
            result = await run_session(protocol, compression, samples)
            if best is not None:
                result.cpu_s = min(result.cpu_s, best.cpu_s)
            best = result
        assert best is not None
        results.append(best)
    return results


def percent(part: float, whole: float) -> str:
    return f"{100 * part / whole:5.1f} %" if whole else "    -"


def report(protocol: str, samples: int, results: list[Result]) -> None:
    off = results[0]
    messages = sum(count for count, _ in off.per_action.values())
    print(
        f"\nOCPP {protocol.removeprefix('ocpp')}: {messages} calls and their replies "
        f"({samples} meter samples of 10 measurands), bytes on the wire after the handshake"
    )
    width = max(len(label) for label, _ in SETTINGS)
    head = f"{'setting':<{width}}  {'station->CSMS':>13}  {'CSMS->station':>13}"
    print(f"{head}  {'total':>8}  {'of off':>7}  {'saved':>7}  {'handshake':>9}  {'CPU ms':>6}")
    for (label, _), result in zip(SETTINGS, results, strict=True):
        total = result.up + result.down
        print(
            f"{label:<{width}}  {result.up:>13,}  {result.down:>13,}  {total:>8,}  "
            f"{percent(total, off.up + off.down):>7}  "
            f"{percent(off.up + off.down - total, off.up + off.down):>7}  "
            f"{result.handshake:>9,}  {result.cpu_s * 1000:>6.0f}"
        )
    columns = [(0, "off"), (1, "defaults"), (2, "no takeover, 0"), (4, "takeover, 0")]
    print("per call, request and reply together, bytes on the wire (average; 0: threshold):")
    line = f"  {'action':<20} {'calls':>5}"
    print(line + "".join(f"  {name:>15}" for _, name in columns))
    for action, (count, _) in off.per_action.items():
        cells = "".join(f"  {results[i].per_action[action][1] / count:>15,.0f}" for i, _ in columns)
        print(f"  {action:<20} {count:>5}{cells}")


async def main_async(samples: int, rounds: int) -> None:
    for protocol in ("ocpp1.6", "ocpp2.0.1"):
        report(protocol, samples, await measure(protocol, samples, rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="sessions per setting (CPU: best)")
    parser.add_argument("--samples", type=int, default=60, help="meter samples per session")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 20 or not 1 <= args.samples <= 1000:
        parser.error("--rounds must be 1 to 20, --samples 1 to 1000")
    asyncio.run(main_async(args.samples, args.rounds))


if __name__ == "__main__":
    main()
