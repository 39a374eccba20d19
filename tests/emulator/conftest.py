"""A scripted CSMS on a loopback socket and emulated stations connected to it (in memory
under Pyodide, which has no sockets: tests/pyodide/memory_server.py)."""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from browser_ocpp import RPCNotImplementedError
from browser_ocpp.emulator import Station, StationConfig
from browser_ocpp.peer import HandlerContext, LogEntry, RPCPeer

if sys.platform == "emscripten":  # no sockets in Pyodide: the same fixtures over memory
    from ..pyodide.memory_server import MemoryClient as OCPPClient
    from ..pyodide.memory_server import MemoryServer as OCPPServer
else:
    from browser_ocpp import OCPPClient, OCPPServer

PROTOCOLS = ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]
IDENTITY = "EMU-1"
WAIT_S = 5.0
"""Bound of every wait for a message: a failure never hangs."""

Payload = dict[str, Any]
Answer = Callable[[Payload], Payload]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_answers(protocol: str) -> dict[str, Answer]:
    """Valid CSMS responses for everything a station sends."""
    transaction_ids = itertools.count(101)
    if protocol == "ocpp1.6":
        token: dict[str, Answer] = {
            "Authorize": lambda p: {"idTagInfo": {"status": "Accepted"}},
            "StartTransaction": lambda p: {
                "idTagInfo": {"status": "Accepted"},
                "transactionId": next(transaction_ids),
            },
            "StopTransaction": lambda p: {"idTagInfo": {"status": "Accepted"}},
        }
    else:
        token = {
            "Authorize": lambda p: {"idTokenInfo": {"status": "Accepted"}},
            "TransactionEvent": lambda p: {},
        }
    return {
        "BootNotification": lambda p: {"status": "Accepted", "currentTime": now(), "interval": 300},
        "Heartbeat": lambda p: {"currentTime": now()},
        "StatusNotification": lambda p: {},
        "MeterValues": lambda p: {},
        **token,
    }


class Csms:
    """An OCPPServer in strict mode that records each request (per action, in order)
    and answers from ``answers`` (replace an entry to script a test)."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.server = OCPPServer(protocols=[protocol], strict_mode=True)
        self.answers = default_answers(protocol)
        self.inbox: defaultdict[str, asyncio.Queue[Payload]] = defaultdict(asyncio.Queue)
        self.log: list[tuple[str, Payload]] = []
        self.message_ids: list[tuple[str, str]] = []  # (action, message id) in order
        self.connections: asyncio.Queue[RPCPeer] = asyncio.Queue()
        self.server.on("client", self._on_client)

    @property
    def v16(self) -> bool:
        return self.protocol == "ocpp1.6"

    def _on_client(self, client: RPCPeer) -> None:
        client.handle(self._handle)
        self.connections.put_nowait(client)

    def _handle(self, method: str, ctx: HandlerContext) -> Payload:
        self.log.append((method, ctx.params))
        self.message_ids.append((method, ctx.message_id))
        answer = self.answers.get(method)
        self.inbox[method].put_nowait(ctx.params)
        if answer is None:
            raise RPCNotImplementedError(f"test CSMS has no answer for {method}")
        return answer(ctx.params)

    async def next(self, action: str, within: float = WAIT_S) -> Payload:
        """The next ``action`` request the station sent (within ``within`` seconds)."""
        return await asyncio.wait_for(self.inbox[action].get(), within)

    async def until(
        self, action: str, check: Callable[[Payload], bool], within: float = WAIT_S
    ) -> Payload:
        """The next ``action`` request that passes ``check`` (earlier ones are dropped)."""

        async def scan() -> Payload:
            while True:
                payload = await self.inbox[action].get()
                if check(payload):
                    return payload

        return await asyncio.wait_for(scan(), within)

    def drain(self, action: str) -> list[Payload]:
        """Every ``action`` request received and not yet taken."""
        queue, taken = self.inbox[action], []
        while not queue.empty():
            taken.append(queue.get_nowait())
        return taken

    async def send(self, action: str, payload: Payload) -> Payload:
        """A CSMS command to the station; returns its answer."""
        return await self.server.send_to_client(IDENTITY, action, payload, timeout_ms=5000)


@dataclass
class Rig:
    """A station, its client, and what it reported."""

    csms: Csms
    station: Station
    client: OCPPClient
    lines: list[str] = field(default_factory=list)
    problems: list[LogEntry] = field(default_factory=list)
    expect_problems: bool = False

    @property
    def v16(self) -> bool:
        return self.csms.v16

    def statuses(self) -> list[tuple[int, str]]:
        """(connector/EVSE id, status) of the StatusNotifications taken so far."""
        return [
            (p["connectorId"], p["status"]) if self.v16 else (p["evseId"], p["connectorStatus"])
            for p in self.csms.drain("StatusNotification")
        ]

    async def status(self, connector_id: int, status: str) -> None:
        """Wait for the StatusNotification of ``connector_id`` with ``status``."""
        if self.v16:
            await self.csms.until(
                "StatusNotification",
                lambda p: (p["connectorId"], p["status"]) == (connector_id, status),
            )
        else:
            await self.csms.until(
                "StatusNotification",
                lambda p: (p["evseId"], p["connectorStatus"]) == (connector_id, status),
            )


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def csms(protocol: str) -> AsyncIterator[Csms]:
    csms = Csms(protocol)
    await csms.server.listen(0)
    yield csms
    await csms.server.close()


@pytest.fixture
async def make_rig(csms: Csms) -> AsyncIterator[RigFactory]:
    """``await make_rig(start=True, strict=True, **config)``: a connected station (booted
    unless ``start=False``; the boot and its status reports already taken off the inbox;
    ``strict``: the station client's strict mode; ``protocols``: what it offers, if not
    the CSMS's one; ``reconnect``: the client's reconnect option)."""
    rigs: list[Rig] = []

    async def make(
        start: bool = True,
        strict: bool = True,
        protocols: list[str] | None = None,
        reconnect: bool = False,
        **config: Any,
    ) -> Rig:
        config.setdefault("meter_interval_s", 0.05)
        problems: list[LogEntry] = []

        def sink(entry: LogEntry) -> None:
            if entry.level in ("warning", "error", "critical"):
                problems.append(entry)

        client = OCPPClient(
            identity=IDENTITY,
            endpoint=f"ws://127.0.0.1:{csms.server.port}/ocpp",
            protocols=protocols or [csms.protocol],
            strict_mode=strict,
            reconnect=reconnect,
            backoff_min=50,
            backoff_max=100,
            call_timeout_ms=5000,
            logging={"handler": sink},
        )
        station = Station(client, StationConfig(**config))
        station.boot_retry_s = station.reconnect_retry_s = 0.05
        rig = Rig(csms, station, client, problems=problems)
        station.on_activity(rig.lines.append)
        rigs.append(rig)
        await client.connect()
        if start:
            await station.start()
            await csms.next("BootNotification")
            expected = station.config.connectors + (1 if csms.v16 else 0)
            for _ in range(expected):
                await csms.next("StatusNotification")
        return rig

    yield make
    for rig in rigs:
        await rig.station.stop()
        await rig.station.shutdown()
        await rig.station.shutdown()  # safe twice
        await rig.client.close()
        if not rig.expect_problems:
            assert rig.problems == [], [e.message + str(e.meta) for e in rig.problems]
