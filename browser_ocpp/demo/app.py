"""One process serving the web console, the vendored runtime, the demo CSMS and the
operator view, all on one port (so page and CSMS share an origin)."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers

from ..console import static_dir
from ..rpc.versions import SUPPORTED_PROTOCOLS
from ..server import AuthContext, OCPPServer
from ..server.static import CROSS_ORIGIN_ISOLATED
from .commands import catalogue
from .csms import COMMAND_TIMEOUT_MS, COMMAND_TIMEOUT_RANGE_MS, DemoCSMS
from .uploads import MAX_UPLOAD_BYTES

__all__ = ["ConsoleServer"]

JSON = "application/json"
OPERATOR_HEADER = "X-OCPP-Operator"
"""Sent by the operator view. Another site's page cannot send it (a custom header
needs a CORS preflight, which this server never grants), so a link or an image
elsewhere cannot make a station reset."""


def _host_name(host: str | None) -> str | None:
    """The name in a ``Host`` header or an origin's netloc (``[::1]:80`` -> ``::1``)."""
    try:
        return urlsplit("//" + host).hostname if host else None
    except ValueError:
        return None


def _same_origin(headers: Mapping[str, str]) -> bool:
    """No Origin (not a browser), or the page's origin is this very host and port."""
    origin = headers.get("Origin")
    try:
        return origin is None or urlsplit(origin).netloc == headers.get("Host")
    except ValueError:
        return False


def _json(status: int, value: Any) -> tuple[int, str, bytes]:
    return status, JSON, json.dumps(value, allow_nan=False).encode("utf-8")


def _forbidden(message: str) -> tuple[int, str, bytes]:
    return _json(403, {"ok": False, "error": "Forbidden", "message": message})


def _bad_request(message: str, error: str = "BadRequest") -> tuple[int, str, bytes]:
    return _json(400, {"ok": False, "error": error, "message": message})


def _timeout_ms(text: str | None) -> int:
    """The operator's ``timeout_ms``, checked: ValueError says what is wrong."""
    if text is None:
        return COMMAND_TIMEOUT_MS
    low, high = COMMAND_TIMEOUT_RANGE_MS
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(f"timeout_ms must be a whole number from {low} to {high}, not {text!r}")
    return int(text)


class ConsoleServer:
    """The console's page at ``/`` (``web``, default: the installed console), the
    runtime at ``/pyodide/`` and ``/pyscript/``, the demo CSMS at
    ``ws://host:port/ocpp/<identity>``, the operator view at ``/csms``."""

    def __init__(
        self,
        runtime: Path,
        web: Path | None = None,
        allowed_hosts: Iterable[str] = (),
        **options: Any,
    ) -> None:
        options.setdefault("protocols", tuple(reversed(SUPPORTED_PROTOCOLS)))
        # A CSMS to test stations against answers a malformed payload with the
        # spec's CALLERROR, as a real one should, rather than acting on it.
        options.setdefault("strict_mode", True)
        self.allowed_hosts = frozenset({"localhost", *allowed_hosts})
        self.server = OCPPServer(**options)
        self.server.auth(self._no_foreign_pages)
        self.csms = DemoCSMS(self.server)
        # Isolated, so the console's Python runs in a Web Worker that reaches the page.
        self.server.mount("/", web or static_dir(), CROSS_ORIGIN_ISOLATED)
        self.server.mount("/pyodide/", runtime / "pyodide", CROSS_ORIGIN_ISOLATED)
        self.server.mount("/pyscript/", runtime / "pyscript", CROSS_ORIGIN_ISOLATED)
        operator = resources.files("browser_ocpp.demo") / "operator"
        self.server.mount("/csms/", Path(str(operator)))
        self.server.route("/api/stations", self._stations)
        self.server.route("/api/command", self._command)
        self.server.route("/api/commands", self._commands)
        self.server.route("/api/forget", self._forget)
        self.server.route("/api/uploads", self._uploads)
        self.server.post_route("/api/uploads", self._upload, max_body_bytes=MAX_UPLOAD_BYTES)

    async def listen(self, port: int = 8080, host: str = "127.0.0.1") -> int:
        return await self.server.listen(port, host)

    async def close(self) -> None:
        await self.server.close()

    def _known_host(self, headers: Mapping[str, str]) -> bool:
        """Whether ``Host`` names this server: an IP address, ``localhost`` or a name in
        ``allowed_hosts``. Any other name may be a DNS-rebinding page's."""
        name = _host_name(headers.get("Host"))
        if name is None:
            return False
        if name in self.allowed_hosts:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

    def _no_foreign_pages(self, ctx: AuthContext) -> None:
        """Stations (no Origin) and this server's own console may connect; a page of
        another site may not take a station's identity over."""
        headers = ctx.handshake.headers
        if "Origin" in headers and not (self._known_host(headers) and _same_origin(headers)):
            ctx.reject(403, "pages of other origins may not connect to the demo CSMS")
        else:
            ctx.accept()

    def _refused(self, headers: Headers, operator: bool) -> tuple[int, str, bytes] | None:
        """403 for an unknown Host and, for what changes something (``operator``), for
        a request without the operator header or from another origin."""
        if not self._known_host(headers):
            return _forbidden("unknown Host: pass --allow-host NAME to use this name")
        if operator and (headers.get(OPERATOR_HEADER) != "1" or not _same_origin(headers)):
            return _forbidden(
                f"commands need the {OPERATOR_HEADER} header, from this server's own pages"
            )
        return None

    def _stations(self, path: str, headers: Headers) -> tuple[int, str, bytes]:
        refused = self._refused(headers, operator=False)
        if refused:
            return refused
        body = {"stations": self.csms.snapshot(), "forget_after_s": self.csms.forget_after_s}
        return _json(200, body)

    def _commands(self, path: str, headers: Headers) -> tuple[int, str, bytes]:
        """Per version, the commands an operator may send, with a payload to start from
        (made now: times from now, URLs of this server as the page reached it)."""
        refused = self._refused(headers, operator=False)
        return refused or _json(200, catalogue(f"http://{headers.get('Host')}"))

    def _upload(self, path: str, headers: Headers, body: bytes) -> tuple[int, str, bytes]:
        """A station's log (GetDiagnostics / GetLog): kept in memory (bounded).  Stations
        send no Origin; a page may upload only from this server's own origin."""
        if not self._known_host(headers) or not _same_origin(headers):
            return _forbidden("uploads come from stations or this server's own pages")
        name = parse_qs(urlsplit(path).query).get("name", [None])[0]
        upload = self.csms.receive_upload(headers, name, body)
        return _json(201, {"ok": True, "name": upload.name, "bytes": len(upload.body)})

    def _uploads(self, path: str, headers: Headers) -> tuple[int, str, bytes]:
        """The uploads kept (newest first), or with ``?name=`` that file, as plain text."""
        refused = self._refused(headers, operator=False)
        if refused:
            return refused
        name = parse_qs(urlsplit(path).query).get("name", [""])[0]
        if not name:
            return _json(200, {"uploads": self.csms.uploads.listing()})
        upload = self.csms.uploads.get(name)
        if upload is None:
            return _json(404, {"ok": False, "error": "NotFound", "message": f"no upload {name!r}"})
        return 200, "text/plain; charset=utf-8", upload.body

    def _forget(self, path: str, headers: Headers) -> tuple[int, str, bytes]:
        refused = self._refused(headers, operator=True)
        if refused:
            return refused
        identity = parse_qs(urlsplit(path).query).get("identity", [""])[0]
        if not identity:
            return _bad_request("identity is required")
        return _json(200, self.csms.forget(identity))

    async def _command(self, path: str, headers: Headers) -> tuple[int, str, bytes]:
        refused = self._refused(headers, operator=True)
        if refused:
            return refused
        query = parse_qs(urlsplit(path).query)
        identity = query.get("identity", [""])[0]
        action = query.get("action", [""])[0]
        try:
            params = json.loads(query.get("params", ["{}"])[0])
        except ValueError as exc:
            return _bad_request(str(exc), "BadParams")
        try:
            timeout_ms = _timeout_ms(query.get("timeout_ms", [None])[0])
        except ValueError as exc:
            return _bad_request(str(exc), "BadTimeout")
        if not identity or not action or not isinstance(params, dict):
            return _bad_request("identity, action and params (a JSON object) are required")
        return _json(200, await self.csms.command(identity, action, params, timeout_ms))
