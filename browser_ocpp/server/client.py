"""OCPPClient: the CPython charging-station client on ``websockets``."""

from __future__ import annotations

import asyncio
import base64
import random
from typing import Any, cast

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from ..peer import RPCClient
from ..rpc.errors import UnexpectedHttpResponse, WebsocketUpgradeError
from .compression import CompressionOptions, client_extensions
from .options import OCPPClientOptions, SecurityProfile
from .tls import client_context
from .transport import OCPPClientConnection, WebSocketTransport

__all__ = ["OCPPClient"]

PING_JITTER = 0.25
SERVER_CLOSE_WAIT_S = 2.0
CLOSE_TIMEOUT_S = 10.0
"""How long a closing handshake may take; shorter with fast pings, so that a dead
peer found by a ping is also let go of quickly."""


class OCPPClient(RPCClient):
    """A charging station on CPython: the shared client over a ``websockets`` socket.

    Adds the security profiles (Basic auth, TLS, client certificates), extra
    ``headers``, WebSocket pings every ``ping_interval_ms`` (+-25 % jitter; a peer
    that stops answering is dropped and reconnected) and ``compression``.
    """

    __slots__ = ()
    component = "OCPPClient"
    options_class = OCPPClientOptions
    _options: OCPPClientOptions

    @property
    def options(self) -> OCPPClientOptions:
        return self._options

    def _headers(self) -> dict[str, str]:
        opts = self._options
        headers = dict(opts.headers or {})
        if opts.security_profile in (SecurityProfile.BASIC_AUTH, SecurityProfile.TLS_BASIC_AUTH):
            password = opts.password or b""
            secret = password.encode("utf-8") if isinstance(password, str) else password
            token = base64.b64encode(opts.identity.encode("utf-8") + b":" + secret).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        return headers

    async def _open_transport(self, url: str) -> tuple[WebSocketTransport, str | None]:
        opts = self._options
        opts.check_connectable()
        interval = None
        if opts.ping_interval_ms:
            jitter = random.uniform(1 - PING_JITTER, 1 + PING_JITTER)
            interval = opts.ping_interval_ms * jitter / 1000
        tls = opts.tls or {}
        ssl = client_context(tls) if url.startswith("wss://") else None
        named: dict[str, Any] = {}
        if ssl is not None and "server_hostname" in tls:  # the name the certificate must carry
            named["server_hostname"] = tls["server_hostname"]
        try:
            connection = await connect(
                url,
                **named,
                subprotocols=list(opts.protocols) or None,  # type: ignore[arg-type]
                additional_headers=self._headers(),
                ssl=ssl,
                compression=None,
                extensions=client_extensions(CompressionOptions.coerce(opts.compression)),
                ping_interval=interval,
                ping_timeout=interval,
                close_timeout=CLOSE_TIMEOUT_S
                if interval is None
                else min(CLOSE_TIMEOUT_S, max(1.0, interval)),
                open_timeout=opts.handshake_timeout_ms / 1000,
                max_size=opts.max_payload_bytes,
                create_connection=OCPPClientConnection,
            )
        except InvalidStatus as exc:
            response = exc.response
            raise UnexpectedHttpResponse(
                response.status_code,
                response.reason_phrase,
                {name: value for name, value in response.headers.raw_items()},
                bytes(response.body or b""),
            ) from exc
        except InvalidHandshake as exc:
            raise WebsocketUpgradeError(f"WebSocket upgrade failed: {exc}") from exc
        if opts.protocols and connection.subprotocol is None:
            raise await self._no_subprotocol(connection)
        return WebSocketTransport(cast(OCPPClientConnection, connection)), connection.subprotocol

    async def _no_subprotocol(self, connection: ClientConnection) -> WebsocketUpgradeError:
        """The server agreed to none of our protocols: per the spec it closes at once
        (with its reason); retrying cannot help."""
        try:
            await asyncio.wait_for(connection.wait_closed(), SERVER_CLOSE_WAIT_S)
        except TimeoutError:
            await connection.close(1002, "no subprotocol agreed")
        offered = ", ".join(self._options.protocols)
        detail = connection.close_reason or "the server answered without one"
        return WebsocketUpgradeError(
            f"no common subprotocol (offered: {offered}): {detail}", retryable=False
        )
