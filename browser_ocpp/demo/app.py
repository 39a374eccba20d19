"""One process serving the web console, the vendored runtime, the demo CSMS and the
operator view, all on one port (so page and CSMS share an origin)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers

from ..console import static_dir
from ..rpc.versions import SUPPORTED_PROTOCOLS
from ..server import OCPPServer
from .csms import DemoCSMS

__all__ = ["ConsoleServer"]

JSON = "application/json"
OPERATOR_HEADER = "X-OCPP-Operator"
"""Sent by the operator view. Another site's page cannot send it (a custom header
needs a CORS preflight, which this server never grants), so a link or an image
elsewhere cannot make a station reset."""


def _from_operator_page(headers: Headers) -> bool:
    if headers.get(OPERATOR_HEADER) != "1":
        return False
    origin = headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == headers.get("Host")


def _json(status: int, value: Any) -> tuple[int, str, bytes]:
    return status, JSON, json.dumps(value).encode("utf-8")


class ConsoleServer:
    """The console's page at ``/`` (``web``, default: the installed console), the
    runtime at ``/pyodide/`` and ``/pyscript/``, the demo CSMS at
    ``ws://host:port/ocpp/<identity>``, the operator view at ``/csms``."""

    def __init__(self, runtime: Path, web: Path | None = None, **options: Any) -> None:
        options.setdefault("protocols", tuple(reversed(SUPPORTED_PROTOCOLS)))
        self.server = OCPPServer(**options)
        self.csms = DemoCSMS(self.server)
        self.server.mount("/", web or static_dir())
        self.server.mount("/pyodide/", runtime / "pyodide")
        self.server.mount("/pyscript/", runtime / "pyscript")
        operator = resources.files("browser_ocpp.demo") / "operator"
        self.server.mount("/csms/", Path(str(operator)))
        self.server.route("/api/stations", self._stations)
        self.server.route("/api/command", self._command)

    async def listen(self, port: int = 8080, host: str = "127.0.0.1") -> int:
        return await self.server.listen(port, host)

    async def close(self) -> None:
        await self.server.close()

    def _stations(self, path: str, headers: Headers) -> tuple[int, str, bytes]:
        return _json(200, {"stations": self.csms.snapshot()})

    async def _command(self, path: str, headers: Headers) -> tuple[int, str, bytes]:
        if not _from_operator_page(headers):
            message = f"commands need the {OPERATOR_HEADER} header, from this server's own pages"
            return _json(403, {"ok": False, "error": "Forbidden", "message": message})
        query = parse_qs(urlsplit(path).query)
        identity = query.get("identity", [""])[0]
        action = query.get("action", [""])[0]
        try:
            params = json.loads(query.get("params", ["{}"])[0])
        except ValueError as exc:
            return _json(400, {"ok": False, "error": "BadParams", "message": str(exc)})
        if not identity or not action or not isinstance(params, dict):
            message = "identity, action and params (a JSON object) are required"
            return _json(400, {"ok": False, "error": "BadRequest", "message": message})
        return _json(200, await self.csms.command(identity, action, params))
