"""The demo CSMS behind the web console: accepts boots, authorizes idTags, tracks
transactions and meter values, and lets an operator send commands to a station."""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from ..peer import HandlerContext
from ..rpc.errors import (
    CallTimeoutError,
    ConnectionClosedError,
    RPCError,
    RPCNotImplementedError,
    RPCNotSupportedError,
)
from ..rpc.validation import validator_for
from ..rpc.versions import known_actions, station_actions
from ..server import OCPPServer, OCPPServerClient
from .uploads import Upload, Uploads

__all__ = ["ANSWERED", "DemoCSMS", "StationRecord", "notifications"]

HEARTBEAT_INTERVAL_S = 60
BLOCKED_PREFIX = "BLOCKED"
"""idTags starting with this are refused, so both answers can be tried."""
EVENTS_KEPT = 50
STATIONS_KEPT = 1000
"""Records of stations seen; beyond this the oldest disconnected ones are forgotten."""
TRANSACTIONS_KEPT = 100
"""Per station; beyond this the oldest transactions are forgotten."""
CONNECTORS_KEPT = 64
"""Per station: statuses of this many connectors (the station names them)."""
FORGET_AFTER_S = 600.0
"""A station disconnected this long is forgotten (the operator may forget it sooner)."""
COMMAND_TIMEOUT_MS = 15_000
COMMAND_TIMEOUT_RANGE_MS = (100, 120_000)
"""An operator's command waits this long for the answer by default, and within this
range when the operator chooses."""


ANSWERED = frozenset(
    {
        "Authorize",
        "BootNotification",
        "DataTransfer",
        "Heartbeat",
        "MeterValues",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
        "TransactionEvent",
    }
)
"""The station calls this demo answers itself (those of the station's version)."""


@cache
def notifications(protocol: str) -> frozenset[str]:
    """The station-to-CSMS calls of ``protocol`` this demo only records: those it does
    not answer itself whose response schema allows the empty payload it answers with.
    Anything else is refused as the library refuses a call without a handler: an action
    of the version (a CSMS-to-station command sent the wrong way, say) NotSupported, any
    other NotImplemented."""
    validator = validator_for(protocol)
    if validator is None:
        return frozenset()
    recorded = set()
    for action in station_actions(protocol) - ANSWERED:
        try:
            validator.validate_response(action, {})
        except RPCError:
            continue
        recorded.add(action)
    return frozenset(recorded)


def now() -> str:
    """The current UTC time as OCPP writes it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Transaction:
    id: str
    connector: int | None
    id_tag: str | None
    started: str
    meter_start_wh: float | None = None
    meter_wh: float | None = None
    stopped: str | None = None
    meter_values: int = 0


@dataclass
class StationRecord:
    """What the CSMS knows of one station."""

    identity: str
    protocol: str | None
    connected: bool = True
    connected_at: float = field(default_factory=time.time)
    disconnected_at: float | None = None
    """When it disconnected, on the CSMS's clock (None while connected)."""
    session: int = 0
    """Counts its connections, so a late close of an older one changes nothing."""
    boot: dict[str, Any] | None = None
    statuses: dict[str, str] = field(default_factory=dict)
    transactions: dict[str, Transaction] = field(default_factory=dict)
    meter_values: int = 0
    last_heartbeat: str | None = None
    events: deque[str] = field(default_factory=lambda: deque(maxlen=EVENTS_KEPT))

    def note(self, text: str) -> None:
        self.events.appendleft(f"{now()[11:19]} {text}")

    def add_transaction(self, transaction: Transaction) -> None:
        self.transactions[transaction.id] = transaction
        while len(self.transactions) > TRANSACTIONS_KEPT:
            del self.transactions[next(iter(self.transactions))]

    def set_status(self, where: str, status: str) -> None:
        if where in self.statuses or len(self.statuses) < CONNECTORS_KEPT:
            self.statuses[where] = status

    def as_json(self, now_s: float) -> dict[str, Any]:
        gone = self.disconnected_at
        return {
            "identity": self.identity,
            "protocol": self.protocol,
            "connected": self.connected,
            "disconnected_for_s": None if gone is None else round(now_s - gone, 1),
            "boot": self.boot,
            "statuses": self.statuses,
            "transactions": [vars(t) for t in self.transactions.values()],
            "meter_values": self.meter_values,
            "last_heartbeat": self.last_heartbeat,
            "events": list(self.events),
        }


def _id_tag_info(tag: str | None) -> dict[str, str]:
    return {"status": "Invalid" if (tag or "").startswith(BLOCKED_PREFIX) else "Accepted"}


def _meter_wh(meter_values: Any) -> float | None:
    """The last energy register reading (Wh) in a MeterValues list, if any. Only
    finite numbers count: "NaN" or "Infinity" are read as no reading."""
    reading = None
    for value in meter_values if isinstance(meter_values, list) else []:
        samples = value.get("sampledValue", []) if isinstance(value, dict) else []
        for sample in samples if isinstance(samples, list) else []:
            if not isinstance(sample, dict):
                continue
            measurand = sample.get("measurand", "Energy.Active.Import.Register")
            if measurand == "Energy.Active.Import.Register":
                unit_of_measure = sample.get("unitOfMeasure")
                unit = sample.get("unit") or (
                    unit_of_measure.get("unit") if isinstance(unit_of_measure, dict) else None
                )
                scale = 1000.0 if unit == "kWh" else 1.0
                try:
                    number = float(sample["value"]) * scale
                except (KeyError, TypeError, ValueError, OverflowError):
                    continue
                if math.isfinite(number):
                    reading = number
    return reading


class DemoCSMS:
    """Handlers for every station of ``server``, and the records the operator sees."""

    def __init__(
        self,
        server: OCPPServer,
        heartbeat_interval_s: int = HEARTBEAT_INTERVAL_S,
        forget_after_s: float = FORGET_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.server = server
        self.heartbeat_interval_s = heartbeat_interval_s
        self.forget_after_s = forget_after_s
        self.clock = clock
        self.stations: dict[str, StationRecord] = {}
        self.uploads = Uploads()
        """Logs the stations uploaded (GetDiagnostics / GetLog to ``/api/uploads``)."""
        self._transaction_ids = itertools.count(1)
        server.on("client", self._attach)

    def _attach(self, client: OCPPServerClient) -> None:
        identity = client.identity or "?"
        record = self.stations.get(identity)
        if record is None:
            record = self.stations[identity] = StationRecord(identity, client.protocol)
        else:  # the same station back: the same record, its history kept
            record.protocol, record.connected = client.protocol, True
            record.connected_at, record.disconnected_at = time.time(), None
        record.session += 1
        session = record.session
        self._forget_old()
        record.note(f"connected ({client.protocol})")

        def closed(event: Any) -> None:
            if self.stations.get(identity) is record and record.session == session:
                record.connected = False
                record.disconnected_at = self.clock()
                record.note(f"disconnected ({event.code} {event.reason})".replace(" )", ")"))

        client.on("close", closed)
        v16 = client.protocol == "ocpp1.6"
        handlers = {
            "BootNotification": self._boot,
            "Heartbeat": self._heartbeat,
            "Authorize": self._authorize16 if v16 else self._authorize2,
            "StatusNotification": self._status,
            "MeterValues": self._meter_values,
            "DataTransfer": lambda record, ctx: {"status": "Accepted"},
            "StartTransaction": self._start16,
            "StopTransaction": self._stop16,
            "TransactionEvent": self._transaction_event,
        }
        # StartTransaction is no 2.x action, TransactionEvent no 1.6 one
        for action in ANSWERED & known_actions(client.protocol or ""):
            client.handle(action, lambda ctx, h=handlers[action]: h(record, ctx))
        client.handle(lambda action, ctx: self._notification(record, action, ctx.protocol))

    def _forget_old(self) -> None:
        gone = sorted(
            (r for r in self.stations.values() if not r.connected), key=lambda r: r.connected_at
        )
        for record in gone[: max(0, len(self.stations) - STATIONS_KEPT)]:
            del self.stations[record.identity]

    def _boot(self, record: StationRecord, ctx: HandlerContext) -> dict[str, Any]:
        record.boot = ctx.params
        record.note("BootNotification accepted")
        return {"status": "Accepted", "currentTime": now(), "interval": self.heartbeat_interval_s}

    def _heartbeat(self, record: StationRecord, ctx: HandlerContext) -> dict[str, Any]:
        record.last_heartbeat = now()
        return {"currentTime": record.last_heartbeat}

    def _authorize16(self, record: StationRecord, ctx: HandlerContext) -> dict[str, Any]:
        info = _id_tag_info(ctx.params.get("idTag"))
        record.note(f"Authorize {ctx.params.get('idTag')}: {info['status']}")
        return {"idTagInfo": info}

    def _authorize2(self, record: StationRecord, ctx: HandlerContext) -> dict[str, Any]:
        tag = ctx.params.get("idToken", {}).get("idToken")
        info = _id_tag_info(tag)
        record.note(f"Authorize {tag}: {info['status']}")
        return {"idTokenInfo": info}

    def _status(self, record: StationRecord, ctx: HandlerContext) -> dict[str, Any]:
        params = ctx.params
        where = str(params.get("connectorId", 0))
        if "evseId" in params:
            where = f"{params['evseId']}/{params.get('connectorId', 1)}"
        status = params.get("status") or params.get("connectorStatus") or "?"
        record.set_status(where, str(status))
        record.note(f"connector {where}: {status}")
        return {}

    def _meter_values(self, record: StationRecord, ctx: HandlerContext) -> dict[str, Any]:
        record.meter_values += 1
        transaction = record.transactions.get(str(ctx.params.get("transactionId")))
        if transaction is not None:
            transaction.meter_values += 1
            reading = _meter_wh(ctx.params.get("meterValue", []))
            if reading is not None:
                transaction.meter_wh = reading
        return {}

    def _start16(self, record: StationRecord, ctx: HandlerContext) -> dict[str, Any]:
        params = ctx.params
        transaction_id = next(self._transaction_ids)
        info = _id_tag_info(params.get("idTag"))
        record.add_transaction(
            Transaction(
                str(transaction_id),
                params.get("connectorId"),
                params.get("idTag"),
                params.get("timestamp", now()),
                meter_start_wh=params.get("meterStart"),
                meter_wh=params.get("meterStart"),
            )
        )
        record.note(
            f"transaction {transaction_id} started on connector {params.get('connectorId')}"
        )
        return {"transactionId": transaction_id, "idTagInfo": info}

    def _stop16(self, record: StationRecord, ctx: HandlerContext) -> dict[str, Any]:
        params = ctx.params
        transaction = record.transactions.get(str(params.get("transactionId")))
        if transaction is not None:
            transaction.stopped = params.get("timestamp", now())
            transaction.meter_wh = params.get("meterStop", transaction.meter_wh)
        record.note(
            f"transaction {params.get('transactionId')} stopped ({params.get('reason', 'Local')})"
        )
        return {"idTagInfo": _id_tag_info(params.get("idTag"))} if params.get("idTag") else {}

    def _transaction_event(self, record: StationRecord, ctx: HandlerContext) -> dict[str, Any]:
        params = ctx.params
        info = params.get("transactionInfo", {})
        transaction_id = str(info.get("transactionId"))
        tag = params.get("idToken", {}).get("idToken")
        transaction = record.transactions.get(transaction_id)
        if transaction is None:
            connector = params.get("evse", {}).get("id")
            transaction = Transaction(
                transaction_id, connector, tag, params.get("timestamp", now())
            )
            record.add_transaction(transaction)
            record.note(f"transaction {transaction_id[:8]} started on EVSE {connector}")
        if tag and not transaction.id_tag:
            transaction.id_tag = tag
        reading = _meter_wh(params.get("meterValue", []))
        if reading is not None:
            if transaction.meter_start_wh is None:
                transaction.meter_start_wh = reading
            transaction.meter_wh = reading
            transaction.meter_values += 1
            record.meter_values += 1
        if params.get("eventType") == "Ended":
            transaction.stopped = params.get("timestamp", now())
            record.note(
                f"transaction {transaction_id[:8]} ended ({info.get('stoppedReason', 'Local')})"
            )
        return {"idTokenInfo": _id_tag_info(tag)} if tag else {}

    def _notification(
        self, record: StationRecord, action: str, protocol: str | None
    ) -> dict[str, Any]:
        """Record a notification of :func:`notifications`; refuse any other call."""
        if action in notifications(protocol or ""):
            record.note(action)
            return {}
        if action in known_actions(protocol or ""):
            raise RPCNotSupportedError(f"{action} is not supported by this CSMS")
        raise RPCNotImplementedError(f"{action} is not implemented")

    # -- operator --------------------------------------------------------------------

    def snapshot(self) -> list[dict[str, Any]]:
        """Every station the CSMS knows, newest connection first; those disconnected
        for ``forget_after_s`` are forgotten first."""
        now_s = self.clock()
        for record in list(self.stations.values()):
            gone = record.disconnected_at
            if gone is not None and now_s - gone >= self.forget_after_s:
                del self.stations[record.identity]
        records = sorted(self.stations.values(), key=lambda r: r.connected_at, reverse=True)
        return [record.as_json(now_s) for record in records]

    def forget(self, identity: str) -> dict[str, Any]:
        """Forget a disconnected station (a connected one is kept: it is there)."""
        record = self.stations.get(identity)
        if record is None:
            return {"ok": False, "error": "UnknownStation", "message": f"no station {identity!r}"}
        if record.connected:
            message = f"{identity} is connected; only a disconnected station can be forgotten"
            return {"ok": False, "error": "Connected", "message": message}
        del self.stations[identity]
        return {"ok": True}

    async def command(
        self,
        identity: str,
        action: str,
        params: dict[str, Any],
        timeout_ms: int = COMMAND_TIMEOUT_MS,
    ) -> dict[str, Any]:
        """Send ``action`` to ``identity``; the response payload or the error, as JSON:
        ``kind`` says which (``callerror`` with the station's ``code`` and ``details``,
        ``invalid`` when strict mode refused to send it, ``timeout``, ``disconnected``
        or ``error``), ``ms`` how long it took."""
        record = self.stations.get(identity)
        problem = self._refused_here(record, action, params)
        if problem is not None:
            return {"ok": False, "error": "InvalidPayload", "kind": "invalid",
                    "message": f"strict mode did not send it: {problem}", "ms": 0}  # fmt: skip
        if record is not None:
            record.note(f"operator sent {action}")
        started = time.monotonic()
        try:
            result = await self.server.send_to_client(
                identity, action, params, timeout_ms=timeout_ms
            )
        except Exception as exc:
            answer = {"ok": False, **_error_json(exc, timeout_ms)}
        else:
            answer = {"ok": True, "result": result}
            name = result.get("fileName", result.get("filename"))  # 1.6 / 2.x log upload
            if action in ("GetDiagnostics", "GetLog") and isinstance(name, str):
                self.uploads.expect(name, identity)
        return {**answer, "ms": round((time.monotonic() - started) * 1000)}

    def _refused_here(
        self, record: StationRecord | None, action: str, params: dict[str, Any]
    ) -> str | None:
        """Why strict mode would refuse to send this command (it never reaches the
        station), or None: told apart from a CALLERROR the station answers."""
        protocol = record.protocol if record is not None else None
        if protocol is None or not self.server.options.is_strict(protocol, action):
            return None
        validator = validator_for(protocol)
        if validator is None or action not in known_actions(protocol):
            return None
        try:
            validator.validate_request(action, params)
        except RPCError as exc:
            return f"{exc.code}: {exc}"
        return None

    def receive_upload(
        self, headers: Mapping[str, str], query_name: str | None, body: bytes
    ) -> Upload:
        """Keep a file a station uploaded; its record notes it if its answer named it."""
        upload = self.uploads.add(headers, query_name, body)
        record = self.stations.get(upload.identity or "")
        if record is not None:
            record.note(f"upload received: {upload.name} ({len(upload.body)} bytes)")
        return upload


def _error_json(exc: Exception, timeout_ms: int) -> dict[str, Any]:
    """What went wrong with an operator's command, for the operator view."""
    error: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, RPCError):
        return {**error, "kind": "callerror", "code": exc.code, "details": exc.details}
    if isinstance(exc, CallTimeoutError | TimeoutError):
        message = f"no answer within {timeout_ms / 1000:g} s"
        return {**error, "kind": "timeout", "message": str(exc) or message}
    if isinstance(exc, ConnectionClosedError | ConnectionError):
        return {**error, "kind": "disconnected"}
    return {**error, "kind": "error"}
