"""OCPPServer: a CSMS foundation on the ``websockets`` asyncio server."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import math
import os
import ssl
import sys
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from ..peer import EventEmitter, OCPPLogger, RPCPeer, State
from ..peer.options import PeerOptions
from ..rpc.errors import ConnectionClosedError, RPCError
from ..rpc.frames import Call, Send
from ..rpc.session import Refused
from .accept import bind
from .bodies import BodyBudget, BodyRequest
from .compression import CompressionOptions, server_extensions
from .guards import CorsRules, Guards, Refusal, duplicated_header, peer_host, security_event
from .handshake import AuthContext, Handshake
from .options import SecurityProfile, ServerOptions
from .sessions import SessionStore
from .static import StaticFiles
from .tls import server_context, switch_context
from .transport import OCPPServerConnection, SendBudget, WebSocketTransport

if TYPE_CHECKING:
    from ..adapters.base import Adapter
    from .metrics import ServerMetrics

__all__ = ["OCPPServer", "OCPPServerClient"]

RECONFIGURABLE = frozenset(
    {"rate_limit", "connection_rate_limit", "max_connections", "anomaly", "protocols"}
    | {f.name for f in dataclasses.fields(PeerOptions)}
)
"""What ``OCPPServer.reconfigure`` may change."""

AuthHandler = Callable[[AuthContext], Any]
HttpHandler = Callable[[str, Headers], Any]
"""Called with the request path (and query) and headers; returns ``(status,
content_type, body)``, or an awaitable of it."""
PostHandler = Callable[[str, Headers, bytes], Any]
"""An :data:`HttpHandler` that gets the request body too."""
MAX_POST_BYTES = 1024 * 1024
"""The largest body a POST route takes unless told otherwise (413 beyond)."""

CLOSE_REPLACED = (4000, "replaced by a new connection with the same identity")
CLOSE_IDLE = (4001, "session expired after inactivity")
CLOSE_SHUTDOWN = (1001, "server shutting down")
CLOSE_NO_SUBPROTOCOL = 1002
BROADCAST_CONCURRENCY = 100
SWEEP_PERIOD_MAX_S = 60.0
MAX_CLOSE_REASON_BYTES = 123


class OCPPServerClient(RPCPeer):
    """A connected station, as the server sees it."""

    __slots__ = ("_connection", "_guard", "handshake", "server", "session")
    component = "OCPPServerClient"

    def __init__(
        self,
        options: PeerOptions,
        handshake: Handshake,
        session: dict[str, Any],
        server: OCPPServer,
    ) -> None:
        super().__init__(options)
        self._identity = handshake.identity
        self._logger = server.logger.child(self.component, handshake.identity)
        self.handshake = handshake
        self.session = session
        self.server = server
        self._connection: OCPPServerConnection | None = None
        self._guard: Any = None  # guards.ConnectionGuard, made when first needed

    def _last_seen(self) -> float:
        """``time.monotonic()`` of the last OCPP frame either way, or of the last
        WebSocket ping (or unsolicited pong) from the station."""
        connection = self._connection
        control = connection.control_at if connection is not None else 0.0
        return max(self.last_activity, control)

    def _on_bad(self, refused: Refused[Any]) -> None:
        super()._on_bad(refused)
        self.server._guards.invalid_payload(self, refused.verdict.error, "bad_message")

    def _invalid_request(self, frame: Call | Send, error: RPCError) -> None:
        self.server._guards.invalid_payload(self, error, "strict_mode", frame.action)


class OCPPServer(EventEmitter):
    """Accepts stations over WebSocket and gives each one an :class:`OCPPServerClient`.

    Events: ``client`` (a new connection, before its first frame is read),
    ``security_event`` (a dict: ``type``, ``identity``, ``ip``, ``timestamp``
    (ISO 8601 UTC), ``details``), ``error``.

    Each identity's session (``ctx.accept(session=...)``, and what the application
    puts in ``client.session``) is kept across reconnects and merged under the next
    connection's; it is dropped after ``session_ttl_ms`` without activity, or when
    ``max_sessions`` are kept. ``idle_timeout_ms`` closes silent connections.
    """

    events = frozenset({"client", "security_event", "error"})

    def __init__(self, options: ServerOptions | None = None, **kwargs: Any) -> None:
        super().__init__()
        if options is None:
            options = ServerOptions.from_kwargs(kwargs)
        elif kwargs:
            options = options.replace(**kwargs)
        self._options = options
        self._peer_options = options.peer_options()
        self._logger = OCPPLogger(options.logging, "OCPPServer")
        self._auth: AuthHandler | None = None
        self._server: Server | None = None
        self._ssl: ssl.SSLContext | None = None
        self._clients: dict[str, OCPPServerClient] = {}
        self._decisions: weakref.WeakKeyDictionary[ServerConnection, AuthContext] = (
            weakref.WeakKeyDictionary()
        )
        self._static = StaticFiles()
        self._routes: dict[str, HttpHandler] = {}
        self._posts: dict[str, tuple[PostHandler, int]] = {}
        self._sessions = SessionStore(options.session_ttl_ms / 1000, options.max_sessions)
        self._started = time.monotonic()
        self._sweeper: asyncio.Task[None] | None = None
        self._server_tasks: set[asyncio.Task[Any]] = set()
        self._adapter: Adapter | None = None
        self._guards = Guards(self)
        self._configure_guards()
        self._upgrading = 0  # upgrades past the connection limit, not yet decided
        self._metrics: ServerMetrics | None = None
        if options.health_endpoint:
            from .metrics import ServerMetrics  # prometheus_client, only when asked for

            self._metrics = ServerMetrics(self)

    # -- properties ------------------------------------------------------------------

    @property
    def options(self) -> ServerOptions:
        return self._options

    @property
    def logger(self) -> OCPPLogger:
        return self._logger

    @property
    def metrics(self) -> ServerMetrics | None:
        """What ``/metrics`` reports (``health_endpoint=True``), else None."""
        return self._metrics

    @property
    def clients(self) -> Mapping[str, OCPPServerClient]:
        """Connected stations by identity (read-only view)."""
        return self._clients

    @property
    def port(self) -> int:
        """The bound port (after :meth:`listen`)."""
        if self._server is None:
            raise RuntimeError("the server is not listening")
        return int(next(iter(self._server.sockets)).getsockname()[1])

    # -- setup -------------------------------------------------------------------------

    def auth(self, handler: AuthHandler) -> AuthHandler:
        """Set the handshake handler; it calls ``ctx.accept(...)`` or ``ctx.reject(...)``."""
        if not callable(handler):
            raise TypeError("auth handler must be callable")
        self._auth = handler
        return handler

    async def listen(
        self, port: int = 0, host: str = "127.0.0.1", *, reuse_port: bool = False
    ) -> int:
        """Start listening; port 0 picks a free port. Returns the bound port.
        ``reuse_port``: SO_REUSEPORT, so worker processes share the port."""
        if self._server is not None:
            raise RuntimeError("the server is already listening")
        options = self._options
        profile = options.security_profile
        if profile in (SecurityProfile.BASIC_AUTH, SecurityProfile.TLS_BASIC_AUTH) and (
            self._auth is None
        ):
            raise ValueError(f"security profile {int(profile)} needs server.auth(handler)")
        if profile >= SecurityProfile.TLS_BASIC_AUTH:
            self._ssl = self._tls_context(options.tls or {})
        handshake_timeout = options.handshake_timeout_ms / 1000
        address = await bind(host, port, reuse_port=reuse_port, log=self._logger)
        self._server = await serve(
            self._handle,
            process_request=self._process_request,
            process_response=self._process_response,
            select_subprotocol=self._select_subprotocol,
            ssl=self._ssl,
            max_size=options.max_payload_bytes,
            open_timeout=None,  # the connection applies it, not to streamed responses
            ssl_handshake_timeout=handshake_timeout if self._ssl else None,
            compression=None,
            extensions=server_extensions(CompressionOptions.coerce(options.compression)),
            server_header=None,
            create_connection=OCPPServerConnection.factory(
                budget=SendBudget(options.max_buffered_bytes),
                handshake_timeout=handshake_timeout,
                body_limit=self._post_limit,
                body_budget=BodyBudget(options.max_post_bytes),
            ),
            **address,  # our own socket, so that accepting backs off at the file limit
        )
        self._sweeper = asyncio.ensure_future(self._sweep())
        if self._adapter is not None:
            try:
                await self._adapter.start(self)
            except BaseException:
                await self.close()
                raise
        self._logger.info("listening", host=host, port=self.port, profile=int(profile))
        return self.port

    def cors(
        self,
        allowed_origins: Iterable[str] | None = None,
        allowed_ips: Iterable[str] | None = None,
        allowed_schemes: Iterable[str] | None = None,
        trust_proxy: bool | Iterable[str] = False,
    ) -> OCPPServer:
        """Who may open a WebSocket, checked before the upgrade (403 otherwise):
        page origins (requests without ``Origin``, i.e. stations, pass), client
        addresses and CIDR ranges, ``"ws"``/``"wss"``. ``trust_proxy``: take the
        address and scheme from ``X-Forwarded-For``/``-Proto`` (``True``: from any
        peer; a list: from those proxies only); see :class:`CorsRules`. A new call
        replaces the rules; ``cors()`` removes them."""
        self._guards.cors = CorsRules.build(
            allowed_origins, allowed_ips, allowed_schemes, trust_proxy
        )
        return self

    def reconfigure(self, **options: Any) -> None:
        """Change options of the running server (checked first; nothing changes if
        one is wrong). ``rate_limit`` applies at once to every connection (each
        starts with full buckets), the other guards to the next upgrade; the peer
        options and ``protocols`` to connections made from now on. The rest is
        fixed once the server is made (``update_tls`` changes TLS)."""
        fixed = sorted(set(options) - RECONFIGURABLE)
        if fixed:
            raise TypeError(f"cannot reconfigure {', '.join(fixed)} on a server")
        self._options = self._options.replace(**options)
        self._peer_options = self._options.peer_options()
        if "logging" in options:
            self._logger = OCPPLogger(self._options.logging, "OCPPServer")
        self._configure_guards()
        if "rate_limit" in options:
            for client in self._clients.values():
                self._guards.attach(client)

    def _configure_guards(self) -> None:
        options = self._options
        self._guards.configure(
            options.rate_limit,  # type: ignore[arg-type]  # coerced by ServerOptions
            options.connection_rate_limit,  # type: ignore[arg-type]
            options.max_connections,
            options.anomaly,  # type: ignore[arg-type]
        )

    def mount(
        self, prefix: str, directory: str | Path, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        """Serve the files of ``directory`` under ``prefix`` to plain HTTP GETs on the
        same port as the stations (pages and the CSMS then share one origin), each
        with ``headers`` as well (for example :data:`~.static.CROSS_ORIGIN_ISOLATED`)."""
        self._static.mount(prefix, directory, headers)

    def route(self, path: str, handler: HttpHandler) -> None:
        """Answer plain HTTP GETs of ``path`` with ``handler(path_and_query, headers)``.

        Routes and mounted files are outside the security profile: they answer
        before any station authentication, so guard what they expose yourself.
        """
        self._routes["/" + path.strip("/")] = handler

    def post_route(
        self, path: str, handler: PostHandler, max_body_bytes: int = MAX_POST_BYTES
    ) -> None:
        """Answer plain HTTP POSTs of ``path`` with ``handler(path_and_query, headers,
        body)``.  The body needs a ``Content-Length`` (411 without) of at most
        ``max_body_bytes`` (413 beyond, unread); a POST elsewhere gets 405, and so
        does a GET of ``path`` unless :meth:`route` serves it too.  Outside the
        security profile, as :meth:`route`."""
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int):
            raise TypeError(f"max_body_bytes must be an int, not {max_body_bytes!r}")
        if max_body_bytes < 0:
            raise ValueError(f"max_body_bytes must be 0 or more, not {max_body_bytes}")
        self._posts["/" + path.strip("/")] = (handler, max_body_bytes)

    def _post_limit(self, path: str) -> int | None:
        route = self._posts.get(path)
        return None if route is None else route[1]

    def update_tls(
        self,
        *,
        cert: str | bytes | None = None,
        key: str | bytes | None = None,
        ca: str | bytes | Sequence[str | bytes] | None = None,
        passphrase: Any = None,
        password: Any = None,
    ) -> None:
        """Replace TLS options (the reference's ``updateTLS``): the values given are
        merged over the current ``tls``, checked, then used by every new connection
        (open ones stay up) and by later ``listen()`` calls. ``ca`` replaces the CAs
        that verify station certificates (profile 3); ``password`` is an alias of
        ``passphrase``."""
        if self._options.security_profile < SecurityProfile.TLS_BASIC_AUTH:
            raise RuntimeError("TLS is not in use (security profile 2 or 3)")
        given = {"cert": cert, "key": key, "ca": ca, "passphrase": passphrase, "password": password}
        changes = {name: value for name, value in given.items() if value is not None}
        if not changes:
            raise TypeError("update_tls needs cert, key, ca or passphrase")
        merged = dict(self._options.tls or {})
        if "passphrase" in changes or "password" in changes:
            merged.pop("passphrase", None)
            merged.pop("password", None)
        merged.update(changes)
        fresh = self._tls_context(merged)  # raises before anything changes
        self._options = self._options.replace(tls=merged)
        if self._ssl is not None:
            switch_context(self._ssl, fresh)
        self._logger.info("TLS options updated", changed=sorted(changes))

    def _tls_context(self, tls: Mapping[str, Any]) -> ssl.SSLContext:
        profile = self._options.security_profile
        return server_context(tls, client_certificates=profile is SecurityProfile.TLS_CLIENT_CERT)

    async def close(self, code: int = CLOSE_SHUTDOWN[0], reason: str = CLOSE_SHUTDOWN[1]) -> None:
        """Close every connection cleanly, then stop listening."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        await asyncio.gather(
            *(
                client.close(code, reason, await_pending=False)
                for client in list(self._clients.values())
            ),
            return_exceptions=True,
        )
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._adapter is not None:
            await self._adapter.close()

    # -- handshake -----------------------------------------------------------------------

    def _security_event(
        self, kind: str, identity: str | None, ip: str | None, details: Mapping[str, Any]
    ) -> None:
        event = security_event(kind, identity, ip, details)
        self._logger.warn("security event", **event)
        self.emit("security_event", event)

    @staticmethod
    def _offered(headers: Headers) -> list[str]:
        offered: list[str] = []
        for value in headers.get_all("Sec-WebSocket-Protocol"):
            offered.extend(item.strip() for item in value.split(",") if item.strip())
        return offered

    @staticmethod
    def _refuse(connection: ServerConnection, status: int, message: str) -> Response:
        text = message or HTTPStatus(status).phrase
        response = connection.respond(status, text + "\n")
        if status == HTTPStatus.UNAUTHORIZED:
            response.headers["WWW-Authenticate"] = 'Basic realm="OCPP", charset="UTF-8"'
        return response

    def _refused(self, connection: ServerConnection, refusal: Refusal, ip: str | None) -> Response:
        """Report ``refusal`` (one security event) and answer it."""
        details = {**refusal.details, "status": refusal.status}
        self._security_event(refusal.kind, None, ip, details)
        response = self._refuse(connection, refusal.status, refusal.message)
        if refusal.retry_after_ms is not None:
            response.headers["Retry-After"] = str(math.ceil(refusal.retry_after_ms / 1000))
        return response

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """Screen every request before any auth work (duplicated headers, then for
        upgrades the connection limits and CORS rules), then authenticate."""
        headers = request.headers
        peer = peer_host(connection.remote_address)
        duplicate = duplicated_header(headers)
        if duplicate is not None:
            reason = f"duplicate {duplicate} header"
            ip = self._guards.cors.client_ip(peer, headers)
            return self._refused(
                connection, Refusal(400, reason, "UPGRADE_ABORTED", {"reason": reason}), ip
            )
        if isinstance(request, BodyRequest):  # a POST: never an upgrade
            try:
                return await self._post(request)
            finally:
                request.body = b""  # answered: the bytes are no longer held
                budget = getattr(connection, "body_budget", None)
                if budget is not None:
                    budget.release(connection.protocol)
        if headers.get("Upgrade", "").lower() != "websocket":
            if self._routes or self._static or self._posts:
                method = getattr(request, "method", "GET")  # websockets < 17: GET only
                return await self._http(request.path, request.headers, method)
            return None  # websockets answers 426 Upgrade Required
        upgrading = self._upgrading + len(self._decisions)
        ip, refusal = self._guards.screen(
            headers, peer, self._ssl is not None, len(self._clients) + upgrading
        )
        if refusal is not None:
            return self._refused(connection, refusal, ip)
        self._upgrading += 1
        try:
            return await self._authenticate(connection, request, ip)
        finally:
            self._upgrading -= 1

    async def _authenticate(
        self, connection: ServerConnection, request: Request, ip: str | None
    ) -> Response | None:
        remote = connection.remote_address
        certificate = connection.transport.get_extra_info("peercert") if self._ssl else None
        try:
            handshake = Handshake.parse(
                request.path,
                request.headers,
                self._offered(request.headers),
                remote,
                certificate,
                security_profile=self._options.security_profile,
            )
        except ValueError as exc:
            self._security_event("UPGRADE_ABORTED", None, ip, {"reason": str(exc), "status": 400})
            return self._refuse(connection, 400, str(exc))
        context = AuthContext(handshake)
        profile = self._options.security_profile
        if profile in (SecurityProfile.BASIC_AUTH, SecurityProfile.TLS_BASIC_AUTH) and (
            handshake.password is None
        ):
            reason = "missing or malformed Basic credentials for this identity"
            self._auth_failed(handshake.identity, ip, 401, reason)
            return self._refuse(connection, 401, reason)
        if self._auth is None:
            context.accept()
        else:
            try:
                result = self._auth(context)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                self._logger.error("auth handler raised", error=repr(exc))
                self.emit("error", exc)
                details = {"reason": "the auth handler raised", "status": 500}
                self._security_event("UPGRADE_ABORTED", handshake.identity, ip, details)
                return self._refuse(connection, 500, "authentication failed")
            if not context.decided:
                context.reject(401, "not accepted")
        if not context.accepted:
            self._auth_failed(handshake.identity, ip, context.status, context.message)
            return self._refuse(connection, context.status, context.message)
        self._decisions[connection] = context
        return None

    def _process_response(
        self, connection: ServerConnection, request: Request, response: Response
    ) -> None:
        """An upgrade we accepted that websockets refused (a malformed WebSocket
        request: bad key, version...) is a closed door too."""
        if response.status_code == HTTPStatus.SWITCHING_PROTOCOLS:
            return
        context = self._decisions.pop(connection, None)
        if context is not None:
            reason = bytes(response.body or b"").decode(errors="replace").strip()
            details = {"reason": reason, "status": response.status_code}
            self._security_event(
                "UPGRADE_ABORTED", context.identity, self._guards.ip(context), details
            )

    def _auth_failed(self, identity: str, ip: str | None, status: int, message: str) -> None:
        self._security_event("AUTH_FAILED", identity, ip, {"code": status, "message": message})
        self._guards.auth_failed(identity, ip)

    async def _http(self, path: str, request_headers: Headers, method: str = "GET") -> Response:
        route = urlsplit(path).path.rstrip("/") or "/"
        handler = self._routes.get(route)
        if handler is None and route in self._posts:
            return _plain(405, f"{route} takes POST only\n", allow="POST")
        if handler is None:
            return self._static.response(path, request_headers, method)
        return await self._answer(path, lambda: handler(path, request_headers))

    async def _post(self, request: BodyRequest) -> Response:
        if request.refusal is not None:
            status, message = request.refusal
            response = _plain(status, message + "\n", allow="GET, HEAD" if status == 405 else None)
            if status == 503:
                response.headers["Retry-After"] = "1"
            return response
        handler, _ = self._posts[urlsplit(request.path).path.rstrip("/") or "/"]
        return await self._answer(
            request.path, lambda: handler(request.path, request.headers, request.body)
        )

    async def _answer(self, path: str, call: Callable[[], Any]) -> Response:
        """The response of a route's handler (500 if it raised)."""
        try:
            result = call()
            status, kind, body = await result if inspect.isawaitable(result) else result
        except Exception as exc:
            self._logger.error("HTTP handler raised", path=path, error=repr(exc))
            status, kind, body = 500, "text/plain", b"Internal Server Error\n"
        headers = Headers(
            [
                ("Content-Type", kind),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
                ("X-Content-Type-Options", "nosniff"),  # a route's text is never a page
            ]
        )
        return Response(status, HTTPStatus(status).phrase, headers, body)

    def _select_subprotocol(
        self, connection: ServerConnection, offered: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        context = self._decisions.get(connection)
        if context is not None and context.protocol is not None:
            return Subprotocol(context.protocol)
        if not self._options.protocols:  # as the reference: the station's first choice
            return offered[0] if offered else None
        choice = next((p for p in self._options.protocols if p in offered), None)
        return None if choice is None else Subprotocol(choice)

    # -- connections ---------------------------------------------------------------------

    async def _handle(self, connection: ServerConnection) -> None:
        context = self._decisions.pop(connection, None)
        if context is None:  # cannot happen: process_request accepted it
            await connection.close(1011, "handshake state lost")
            return
        protocol = connection.subprotocol
        if protocol is None and self._options.protocols:
            offered = ", ".join(context.handshake.protocols) or "none"
            ours = ", ".join(self._options.protocols)
            reason = f"no common subprotocol (offered: {offered}; server: {ours})"
            reason = reason.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")
            ip = self._guards.ip(context)
            self._security_event("UPGRADE_ABORTED", context.identity, ip, {"reason": reason})
            await connection.close(CLOSE_NO_SUBPROTOCOL, reason)
            return
        identity = context.identity
        session = self._sessions.merged(identity, context.session)
        client = OCPPServerClient(self._peer_options, context.handshake, session, self)
        direct = cast(OCPPServerConnection, connection)
        client._connection = direct
        client._observer = self._metrics
        self._sessions.keep(identity, session, time.monotonic())
        transport = WebSocketTransport(direct)
        previous = self._clients.get(identity)
        self._clients[identity] = client
        if self._adapter is not None:
            self._adapter.connected(identity)
        self._guards.attach(client)
        self._guards.connected(client, previous)
        if previous is not None:
            self._logger.info(
                "identity reconnected: closing the previous connection", identity=identity
            )
            self._spawn(previous.close(*CLOSE_REPLACED, await_pending=False))
        client.attach(transport, protocol)
        self.emit("client", client)
        transport.reader = asyncio.current_task()
        transport.deliver_to(client)  # this handler is the connection's only task
        try:
            await direct.lost()
        finally:
            transport.report_lost()
            if self._clients.get(identity) is client:
                del self._clients[identity]
                self._sessions.keep(identity, client.session, time.monotonic())
                if self._adapter is not None:
                    self._adapter.disconnected(identity)

    async def _sweep(self) -> None:
        """Drop sessions inactive for session_ttl_ms; close connections idle for
        idle_timeout_ms (when set)."""
        ttl = self._options.session_ttl_ms / 1000
        idle_ms = self._options.idle_timeout_ms
        idle = None if idle_ms is None else idle_ms / 1000
        period = min(ttl / 4, math.inf if idle is None else idle / 4, SWEEP_PERIOD_MAX_S)
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for identity, client in list(self._clients.items()):
                seen = client._last_seen()
                self._sessions.touch(identity, client.session, seen)
                if idle is not None and seen < now - idle and client.state is State.OPEN:
                    client.logger.info("closing idle connection", idle_s=round(now - seen, 1))
                    self._spawn(client.close(*CLOSE_IDLE, await_pending=False))
            self._sessions.sweep(now)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._server_tasks.add(task)
        task.add_done_callback(self._server_tasks.discard)

    # -- calls to stations -----------------------------------------------------------------

    def _client(self, identity: str) -> OCPPServerClient:
        client = self._clients.get(identity)
        if client is None:
            raise ConnectionClosedError(f"no station with identity {identity!r} is connected")
        return client

    async def send_to_client(self, identity: str, *args: Any, **options: Any) -> dict[str, Any]:
        """``client.call`` on the station ``identity``: ``(identity, protocol?, method,
        params, timeout_ms=...)``; raises ConnectionClosedError if it is not connected.
        With an adapter, a station connected to another node answers through it."""
        if self._adapter is not None and identity not in self._clients:
            return await self._adapter.call(identity, args, options)
        return await self._client(identity).call(*args, **options)

    async def safe_send_to_client(
        self, identity: str, *args: Any, **options: Any
    ) -> dict[str, Any] | None:
        """Like :meth:`send_to_client`, but returns None (and logs) on any error."""
        try:
            return await self.send_to_client(identity, *args, **options)
        except Exception as exc:
            self._logger.warn("safe_send_to_client failed", identity=identity, error=repr(exc))
            return None

    async def broadcast_batch(
        self,
        identities: Iterable[str],
        method: str,
        params: Mapping[str, Any],
        *,
        concurrency: int = BROADCAST_CONCURRENCY,
        **options: Any,
    ) -> dict[str, dict[str, Any] | Exception]:
        """Call ``method`` on many stations at once (at most ``concurrency`` in flight);
        returns each identity's response payload or the error it got. With an adapter,
        stations on other nodes are sent the call in one pipeline per node."""
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be an integer of 1 or more, not {concurrency!r}")
        limit = asyncio.Semaphore(concurrency)

        async def one(identity: str) -> dict[str, Any] | Exception:
            async with limit:
                try:
                    return await self.send_to_client(identity, method, params, **options)
                except Exception as exc:
                    return exc

        targets = list(dict.fromkeys(identities))
        adapter = self._adapter
        local = targets if adapter is None else [i for i in targets if i in self._clients]
        remote = [] if adapter is None else [i for i in targets if i not in self._clients]
        here, elsewhere = await asyncio.gather(
            asyncio.gather(*(one(identity) for identity in local)),
            adapter.call_many(remote, (method, params), options) if adapter and remote else _none(),
        )
        results = dict(zip(local, here, strict=True)) | (elsewhere or {})
        return {identity: results[identity] for identity in targets}

    def set_adapter(self, adapter: Adapter) -> None:
        """Join other servers through ``adapter`` (``browser_ocpp.adapters.RedisAdapter``):
        ``send_to_client``, ``safe_send_to_client`` and ``broadcast_batch`` then reach
        stations connected to any of them, and a station connecting here is closed
        (4000) where it was connected before. Set before :meth:`listen`, which starts it."""
        from ..adapters.base import Adapter

        if not isinstance(adapter, Adapter):
            raise TypeError(f"not an adapter: {adapter!r}")
        if self._server is not None:
            raise RuntimeError("set the adapter before listen()")
        self._adapter = adapter

    @property
    def adapter(self) -> Adapter | None:
        return self._adapter

    async def adapter_metrics(self) -> dict[str, Any] | None:
        """The adapter's figures (nodes alive, messages pending per node, presence
        entries); None without an adapter, or when it cannot tell (logged)."""
        if self._adapter is None:
            return None
        try:
            return await self._adapter.metrics()
        except Exception as exc:
            self._logger.warn("adapter metrics failed", error=repr(exc))
            return None

    def stats(self) -> dict[str, Any]:
        """Live figures: stations connected, sessions, sockets, buffered bytes, memory,
        CPU time (microseconds, like Node's ``process.cpuUsage()``), uptime (seconds
        since this server was created), pid."""
        connections = list(self._server.connections) if self._server is not None else []
        buffered = 0
        for connection in connections:
            transport = connection.transport
            if transport is not None and not transport.is_closing():
                buffered += transport.get_write_buffer_size()
        figures: dict[str, Any] = {
            "connected_clients": len(self._clients),
            "active_sessions": len(self._sessions),
            "web_sockets": {"total": len(connections), "buffered_amount": buffered},
            "memory_usage": _memory_usage(),
            "uptime_seconds": time.monotonic() - self._started,
            "pid": os.getpid(),
        }
        cpu = _cpu_usage()
        if cpu is not None:
            figures["cpu_usage"] = cpu
        return figures


def _plain(status: int, text: str, allow: str | None = None) -> Response:
    """A short text/plain answer (``allow``: the Allow header of a 405)."""
    body = text.encode()
    headers = Headers([("Content-Type", "text/plain; charset=utf-8")])
    headers["Content-Length"] = str(len(body))
    if allow is not None:
        headers["Allow"] = allow
    return Response(status, HTTPStatus(status).phrase, headers, body)


async def _none() -> None:
    return None


def _memory_usage() -> dict[str, int]:
    """Resident and peak memory of this process, in bytes."""
    usage: dict[str, int] = {}
    try:
        with open("/proc/self/statm") as file:
            pages = file.read().split()
        usage["rss"] = int(pages[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:
        return usage
    unit = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux kilobytes
    usage["max_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit
    return usage


def _cpu_usage() -> dict[str, int] | None:
    """User and system CPU time of this process, in microseconds (None without
    :mod:`resource`, as on Windows)."""
    try:
        import resource
    except ImportError:
        return None
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"user": round(usage.ru_utime * 1e6), "system": round(usage.ru_stime * 1e6)}
