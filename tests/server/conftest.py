"""Real servers and stations on loopback sockets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from browser_ocpp import OCPPClient, OCPPServer
from browser_ocpp.peer import RPCPeer

from .their_csms import their_csms  # noqa: F401  (the fixture, for the interop tests)

BOOT16 = {"chargePointVendor": "ACME", "chargePointModel": "One"}
BOOT_OK = {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 300}


def boot_handlers(client: RPCPeer) -> None:
    client.handle("BootNotification", lambda ctx: BOOT_OK)
    client.handle("Heartbeat", lambda ctx: {"currentTime": "2024-01-01T00:00:00Z"})


ServerFactory = Callable[..., Awaitable[OCPPServer]]
ClientFactory = Callable[..., OCPPClient]


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    """``await make_server(**options)``: a listening server that answers boots."""
    servers: list[OCPPServer] = []

    async def make(
        port: int = 0, setup: bool = True, auth: Any = None, **options: Any
    ) -> OCPPServer:
        options.setdefault("protocols", ["ocpp1.6"])
        server = OCPPServer(**options)
        if auth is not None:
            server.auth(auth)
        if setup:
            server.on("client", boot_handlers)
        servers.append(server)
        await server.listen(port)
        return server

    yield make
    for server in servers:
        await server.close()


@pytest.fixture
async def make_client() -> AsyncIterator[ClientFactory]:
    """``make_client(server_or_url, **options)``: a station (closed after the test)."""
    clients: list[OCPPClient] = []

    def make(target: OCPPServer | str, **options: Any) -> OCPPClient:
        if isinstance(target, OCPPServer):
            scheme = "wss" if options.get("tls") else "ws"
            target = f"{scheme}://127.0.0.1:{target.port}/ocpp"
        options.setdefault("identity", "CP-1")
        options.setdefault("protocols", ["ocpp1.6"])
        options.setdefault("backoff_min", 10)
        options.setdefault("backoff_max", 50)
        client = OCPPClient(endpoint=target, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close(force=True)
