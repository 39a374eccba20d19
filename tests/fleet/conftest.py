"""CSMSs on loopback for the fleet tests: the demo CSMS, and a plain one whose answers
a test can change (reject boots, never answer, drop a station)."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from browser_ocpp import OCPPServer
from browser_ocpp.demo.csms import DemoCSMS
from browser_ocpp.fleet import Profile
from browser_ocpp.peer import HandlerContext, RPCPeer

WAIT_S = 60.0
"""Bound of every fleet run in these tests: a broken stop fails instead of hanging."""

BRISK = Profile(
    connectors=2, meter_interval_s=0.5, heartbeat_s=0.5, idle_s=(0.1, 0.4), session_s=(0.4, 1.0)
)
"""Everything a station does, several times within a few seconds."""

Payload = dict[str, Any]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PlainCsms:
    """An OCPP 1.6 CSMS that answers every station message validly, counts them by
    action, and lets a test replace an answer (``answers[action] = f(identity, params)``)."""

    def __init__(self) -> None:
        self.server = OCPPServer(protocols=["ocpp1.6"], strict_mode=True)
        ids = itertools.count(1)
        accepted = {"idTagInfo": {"status": "Accepted"}}
        self.answers: dict[str, Callable[[str, Payload], Any]] = {
            "BootNotification": lambda who, p: {
                "status": "Accepted",
                "currentTime": now(),
                "interval": 300,
            },
            "Heartbeat": lambda who, p: {"currentTime": now()},
            "StatusNotification": lambda who, p: {},
            "MeterValues": lambda who, p: {},
            "Authorize": lambda who, p: accepted,
            "StartTransaction": lambda who, p: {**accepted, "transactionId": next(ids)},
            "StopTransaction": lambda who, p: accepted,
        }
        self.seen: Counter[str] = Counter()
        self.clients: dict[str, RPCPeer] = {}
        self.server.on("client", self._on_client)

    def _on_client(self, client: RPCPeer) -> None:
        identity = client.identity or ""
        self.clients[identity] = client

        async def handle(action: str, ctx: HandlerContext) -> Any:
            self.seen[action] += 1
            answer = self.answers[action](identity, ctx.params)
            return await answer if asyncio.iscoroutine(answer) else answer

        client.handle(handle)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}/ocpp"


@pytest.fixture
async def plain_csms() -> AsyncIterator[PlainCsms]:
    csms = PlainCsms()
    await csms.server.listen(0, "127.0.0.1")
    yield csms
    await csms.server.close()


@pytest.fixture
async def demo_csms() -> AsyncIterator[DemoCSMS]:
    server = OCPPServer(protocols=["ocpp1.6", "ocpp2.0.1", "ocpp2.1"], strict_mode=True)
    demo = DemoCSMS(server, heartbeat_interval_s=1)
    await server.listen(0, "127.0.0.1")
    yield demo
    await server.close()
