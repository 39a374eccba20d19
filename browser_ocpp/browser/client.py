"""BrowserOCPPClient: the station client that runs in the page under Pyodide."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from ..peer import RPCClient
from ..peer.logs import OCPPLogger
from ..peer.options import ClientOptions
from .console import console_sink, route_library_logs_to_console
from .scheduler import speed_up
from .transport import BrowserTransport, JSApi, open_browser_socket

__all__ = ["BrowserOCPPClient"]


class BrowserOCPPClient(RPCClient):
    """The shared station client over the browser's own ``WebSocket``.

    Options are the reference's BrowserClientOptions (``identity``, ``endpoint``,
    ``protocols``, ``query``, ``reconnect``, ``max_reconnects``, ``backoff_min``,
    ``backoff_max``, ``call_timeout_ms``, ``call_concurrency``, ``max_bad_messages``,
    ``respond_with_detailed_errors``, ``logging``) plus, from the shared engine,
    ``strict_mode``, ``strict_mode_methods``, ``offline_queue`` and
    ``offline_queue_max_size``.  Logs go to the browser console (and to a ``logging``
    ``handler`` as well, when one is given) unless ``logging`` names a ``logger``.

    On connect it gives Pyodide's event loop a faster ``call_soon`` (see
    :mod:`browser_ocpp.browser.scheduler`), unless ``ready_queue`` is set False.
    """

    __slots__ = ("_js_api",)
    component = "BrowserOCPPClient"
    options_class = ClientOptions
    ready_queue: ClassVar[bool] = True

    def __init__(
        self, options: ClientOptions | None = None, *, js_api: JSApi | None = None, **kwargs: Any
    ) -> None:
        super().__init__(options, **kwargs)
        route_library_logs_to_console()
        self._js_api = js_api
        self._use_console_logger()

    def _use_console_logger(self) -> None:
        self._logger = OCPPLogger(
            self._options.logging, self.component, self._identity, sink=console_sink
        )

    def reconfigure(self, **options: Any) -> None:
        super().reconfigure(**options)
        if "logging" in options or "identity" in options:
            self._use_console_logger()

    async def _open_transport(self, url: str) -> tuple[BrowserTransport, str | None]:
        if self.ready_queue:
            speed_up(asyncio.get_running_loop())
        return await open_browser_socket(url, self._options.protocols, self._js_api)
