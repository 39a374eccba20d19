"""The web console: the emulated station, its client and the message log on the page.

The station logic is ``browser_ocpp.emulator``; the connection is a
``BrowserOCPPClient``; this module only binds them to the DOM of ``index.html``
(elements are found by their ``data-testid``) and keeps the settings in
``localStorage``.  Nothing is written to stderr: PyScript would show it as a red
box, so diagnostics go to the browser console.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import math
import re
import sys
import time
import warnings
from collections.abc import Callable, Coroutine
from typing import Any

import js
from pyodide.ffi import create_proxy, to_js

from ..browser import BrowserOCPPClient
from ..emulator import ConnectorStatus, Station, StationConfig
from ..rpc.errors import RPCError
from ..rpc.skeleton import skeleton
from ..rpc.versions import known_actions
from . import model

__all__ = ["start"]

document = js.document
LOG_ROWS = 500  # rows kept in the DOM; every message stays in memory for export
ACTIVITY_ROWS = 200

# form field -> (data-testid, kind)
FIELDS: dict[str, tuple[str, str]] = {
    "endpoint": ("endpoint", "text"),
    "identity": ("identity", "text"),
    "version": ("version", "text"),
    "strict": ("strict", "check"),
    "reconnect": ("reconnect", "check"),
    "max_reconnects": ("max-reconnects", "text"),
    "backoff_min": ("backoff-min", "text"),
    "backoff_max": ("backoff-max", "text"),
    "vendor": ("vendor", "text"),
    "model": ("model", "text"),
    "serial": ("serial", "text"),
    "firmware": ("firmware", "text"),
    "connectors": ("connectors", "text"),
    "meter_interval": ("meter-interval", "text"),
    "power_kw": ("power-kw", "text"),
    "id_tag": ("id-tag", "text"),
    "simulate_soc": ("simulate-soc", "check"),
    "initial_soc": ("initial-soc", "text"),
    "battery_kwh": ("battery-kwh", "text"),
}
STATION_KEYS = (
    "vendor",
    "model",
    "serial",
    "firmware",
    "connectors",
    "meter_interval",
    "power_kw",
    "id_tag",
    "simulate_soc",
    "initial_soc",
    "battery_kwh",
)
LIVE_KEYS = ("reconnect", "max_reconnects", "backoff_min", "backoff_max")


# --- Python output goes to the browser console, never to stderr ----------------------


class _ConsoleHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            text = str(record.msg)
        if record.levelno >= logging.ERROR:
            js.console.error(text)
        elif record.levelno >= logging.WARNING:
            js.console.warn(text)
        else:
            js.console.info(text)


class _ConsoleStream:
    """Stands in for ``sys.stderr``: lines go to ``console.warn``."""

    def __init__(self) -> None:
        self._buffer = ""

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            if line.strip():
                js.console.warn(line)
        return len(text)

    def flush(self) -> None:
        if self._buffer.strip():
            js.console.warn(self._buffer)
        self._buffer = ""

    def isatty(self) -> bool:
        return False


def route_output_to_console() -> None:
    handler = _ConsoleHandler()
    handler.setFormatter(logging.Formatter("[%(name)s] %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)

    def show_warning(message: Any, category: Any, filename: str, lineno: int, *_: Any) -> None:
        js.console.warn(f"{category.__name__}: {message} ({filename}:{lineno})")

    warnings.showwarning = show_warning  # type: ignore[assignment]
    sys.stderr = _ConsoleStream()


# --- small DOM helpers ----------------------------------------------------------------


def by_testid(testid: str) -> Any:
    return document.querySelector(f'[data-testid="{testid}"]')


def by_id(element_id: str) -> Any:
    return document.getElementById(element_id)


def present(found: Any) -> bool:
    """Whether a DOM lookup found something (JS null arrives as ``jsnull``, not None)."""
    return found is not None and type(found).__name__ != "JsNull"


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


_JSON_TOKEN = re.compile(
    r'(?P<key>"(?:[^"\\]|\\.)*"(?=\s*:))|(?P<str>"(?:[^"\\]|\\.)*")'
    r"|(?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(?P<lit>\btrue\b|\bfalse\b|\bnull\b)"
)


def highlight_json(text: str) -> str:
    """Escaped HTML of pretty JSON with keys, strings, numbers and literals marked."""
    out: list[str] = []
    last = 0
    for match in _JSON_TOKEN.finditer(text):
        out.append(esc(text[last : match.start()]))
        kind = match.lastgroup
        out.append(f'<span class="j-{kind}">{esc(match.group())}</span>')
        last = match.end()
    out.append(esc(text[last:]))
    return "".join(out)


def describe(exc: BaseException) -> str:
    if isinstance(exc, RPCError):
        code = getattr(exc, "received_code", None) or type(exc).code
        return f"{code}: {exc.message}" if exc.message else code
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def status_value(status: Any) -> str:
    return str(getattr(status, "value", status))


# --- the console ----------------------------------------------------------------------


class Console:
    def __init__(self) -> None:
        self.loop = asyncio.get_event_loop()
        self.log = model.MessageLog()
        self.client: BrowserOCPPClient | None = None
        self.station: Station | None = None
        self.built_with: tuple[Any, ...] | None = None
        self.protocol: str | None = None  # negotiated, while open
        self.conn_state = "closed"
        self.connector_ids: list[int] = []
        self.station_running = False
        self.user_closing = False
        self.reconnect_attempt = 0
        self.countdown_until: float | None = None
        self._proxies: list[Any] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._text_cache: dict[str, str] = {}
        self._render_pending = False
        self._log_pending: list[model.LogEntry] = []
        self._log_flush_scheduled = False
        self._log_dom_rows = 0
        self._follow = True
        self._save_handle: asyncio.TimerHandle | None = None
        self._preview_handle: asyncio.TimerHandle | None = None
        self._validate_handle: asyncio.TimerHandle | None = None
        self._busy: set[int] = set()
        self.el = {
            name: by_testid(name)
            for name in (
                "progress",
                "app",
                "connect",
                "disconnect",
                "conn-state",
                "boot-status",
                "heartbeat-interval",
                "log",
                "log-filter-action",
                "log-filter-direction",
                "log-clear",
                "log-export",
                "log-count",
                "custom-action",
                "custom-payload",
                "custom-send",
                "custom-reset",
                "custom-error",
                "custom-result",
                "activity",
                "activity-clear",
                "conn-error",
                "settings-error",
            )
        }
        self.inputs = {key: by_testid(testid) for key, (testid, _) in FIELDS.items()}

    # -- plumbing ----------------------------------------------------------------------

    def listen(self, element: Any, event: str, handler: Callable[[Any], Any]) -> None:
        def guarded(evt: Any) -> None:
            try:
                handler(evt)
            except Exception as exc:
                js.console.error(f"[console] {event} handler failed: {exc!r}")
                self.activity(f"Internal error: {describe(exc)}", "error")

        proxy = create_proxy(guarded)
        self._proxies.append(proxy)
        element.addEventListener(event, proxy)

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def finished(done: asyncio.Task[Any]) -> None:
            self._tasks.discard(done)
            if done.cancelled():
                return
            exc = done.exception()
            if exc is not None:
                js.console.warn(f"[console] {what} failed: {exc!r}")
                self.activity(f"{what} failed: {describe(exc)}", "error")

        task.add_done_callback(finished)
        return task

    def set_text(self, element: Any, key: str, text: str) -> None:
        if self._text_cache.get(key) != text:
            self._text_cache[key] = text
            element.textContent = text

    # -- settings ----------------------------------------------------------------------

    def default_endpoint(self) -> str:
        return model.default_endpoint(js.location.protocol, js.location.host)

    def read_form(self) -> dict[str, Any]:
        raw: dict[str, Any] = {}
        for key, (_, kind) in FIELDS.items():
            element = self.inputs[key]
            raw[key] = bool(element.checked) if kind == "check" else str(element.value)
        return raw

    def write_form(self, settings: dict[str, Any]) -> None:
        for key, (_, kind) in FIELDS.items():
            element = self.inputs[key]
            value = settings.get(key)
            if kind == "check":
                element.checked = bool(value)
            else:
                element.value = "" if value is None else _plain(value)

    def load_settings(self) -> dict[str, Any]:
        stored: dict[str, Any] = {}
        try:
            text = js.localStorage.getItem(model.STORAGE_KEY)
            if text:
                loaded = json.loads(text)
                if isinstance(loaded, dict):
                    stored = loaded
        except Exception as exc:
            js.console.warn(f"[console] stored settings ignored: {exc!r}")
        settings = model.coerce_settings(stored, strict=False)
        if not settings["endpoint"]:
            settings["endpoint"] = self.default_endpoint()
        if not settings["identity"]:
            settings["identity"] = model.random_identity()
        self.stored_custom = {
            "action": str(stored.get("custom_action") or ""),
            "payload": stored.get("custom_payload"),
        }
        return settings

    def save_settings(self) -> None:
        raw = self.read_form()
        if raw["endpoint"].strip() == self.default_endpoint():
            raw["endpoint"] = ""  # follow the page's host if it moves
        raw["custom_action"] = str(self.el["custom-action"].value or "")
        raw["custom_payload"] = str(self.el["custom-payload"].value or "")
        try:
            js.localStorage.setItem(model.STORAGE_KEY, json.dumps(raw))
        except Exception as exc:  # storage full or disabled
            js.console.warn(f"[console] settings not saved: {exc!r}")

    def schedule_save(self) -> None:
        if self._save_handle is not None:
            self._save_handle.cancel()
        self._save_handle = self.loop.call_later(0.15, self.save_settings)

    def checked_settings(self) -> dict[str, Any] | None:
        """The form's settings, or None after showing what is wrong."""
        for element in self.inputs.values():
            element.removeAttribute("aria-invalid")
        try:
            settings = model.coerce_settings(self.read_form())
        except model.SettingsError as exc:
            element = self.inputs.get(exc.field)
            if element is not None:
                element.setAttribute("aria-invalid", "true")
            target = "settings-error" if exc.field in STATION_KEYS else "conn-error"
            self.show_notice(target, exc.message)
            return None
        if not settings["endpoint"]:
            self.inputs["endpoint"].setAttribute("aria-invalid", "true")
            self.show_notice("conn-error", "Enter the CSMS endpoint (ws://… or wss://…)")
            return None
        if not settings["identity"]:
            self.inputs["identity"].setAttribute("aria-invalid", "true")
            self.show_notice("conn-error", "Enter the station's identity")
            return None
        self.show_notice("conn-error", "")
        self.show_notice("settings-error", "")
        return settings

    def show_notice(self, testid: str, text: str) -> None:
        element = self.el[testid]
        element.textContent = text
        element.hidden = not text

    def _field_listener(self, key: str) -> Callable[[Any], None]:
        return lambda _event: self.on_field_input(key)

    def on_field_input(self, key: str) -> None:
        self.save_settings()  # at once: a reload may follow right away
        self.update_url_preview()
        if key in LIVE_KEYS:
            self.apply_live_options()
        if self.conn_state == "closed" and (key in STATION_KEYS or key == "version"):
            if self._preview_handle is not None:
                self._preview_handle.cancel()
            self._preview_handle = self.loop.call_later(0.3, self.preview)
        if key == "version" and self.conn_state == "closed":
            self.fill_actions()

    def apply_live_options(self) -> None:
        """Reconnect options apply to the live client at once."""
        client = self.client
        if client is None:
            return
        try:
            settings = model.coerce_settings(self.read_form())
        except model.SettingsError:
            return
        try:
            client.reconfigure(**self.reconnect_options(settings))
        except (TypeError, ValueError) as exc:
            js.console.warn(f"[console] reconnect options not applied: {exc!r}")

    @staticmethod
    def reconnect_options(settings: dict[str, Any]) -> dict[str, Any]:
        limit = settings["max_reconnects"]
        return {
            "reconnect": settings["reconnect"],
            "max_reconnects": math.inf if limit is None else limit,
            "backoff_min": settings["backoff_min"],
            "backoff_max": settings["backoff_max"],
        }

    def update_url_preview(self) -> None:
        endpoint = str(self.inputs["endpoint"].value).strip().rstrip("/")
        identity = str(self.inputs["identity"].value).strip()
        text = f"{endpoint}/{js.encodeURIComponent(identity)}" if endpoint else "—"
        by_id("url-preview").textContent = text
        by_id("top-ident").textContent = identity

    # -- client and station --------------------------------------------------------------

    def build(self, settings: dict[str, Any]) -> None:
        """A fresh client and station for ``settings`` (nothing is connected yet)."""
        client = BrowserOCPPClient(
            identity=settings["identity"],
            endpoint=settings["endpoint"],
            protocols=[settings["version"]],
            strict_mode=settings["strict"],
            call_timeout_ms=30_000,
            **self.reconnect_options(settings),
        )
        config = StationConfig(
            vendor=settings["vendor"],
            model=settings["model"],
            serial=settings["serial"],
            firmware=settings["firmware"],
            connectors=settings["connectors"],
            power_kw=settings["power_kw"],
            meter_interval_s=settings["meter_interval"],
            simulate_soc=settings["simulate_soc"],
            initial_soc=settings["initial_soc"],
            battery_kwh=settings["battery_kwh"],
            id_tag=settings["id_tag"],
        )
        station = Station(client, config)
        if self.station is not None:  # power the old one off: its meter and queue stop
            self.spawn(self.station.shutdown(), "shutting the previous station down")
        self.client, self.station = client, station
        self.built_with = signature(settings)
        self.station_running = False
        self.watch(client, station)
        self.render_station()

    def preview(self) -> None:
        """While closed, the connector cards follow the station settings."""
        self._preview_handle = None
        if self.conn_state != "closed":
            return
        try:
            settings = model.coerce_settings(self.read_form())
        except model.SettingsError:
            return
        if signature(settings) == self.built_with:
            return  # same station: keep its state (a transaction survives a reconnect)
        try:
            self.build(settings)
        except Exception as exc:
            js.console.warn(f"[console] preview not built: {exc!r}")

    def watch(self, client: BrowserOCPPClient, station: Station) -> None:
        def current() -> bool:
            return client is self.client

        def on_connecting(event: Any) -> None:
            if current():
                self.set_state("reconnecting" if self.reconnect_attempt else "connecting")

        def on_open(event: Any) -> None:
            if not current():
                return
            self.protocol = event.protocol
            self.reconnect_attempt = 0
            self.countdown_until = None
            self.set_state("open")
            self.activity(f"Connected to {client.url} ({event.protocol})", "good")
            self.fill_actions()
            self.start_station()

        def on_disconnect(event: Any) -> None:
            if not current():
                return
            self.protocol = None
            self.stop_station()
            if not self.user_closing:
                reason = f" {event.reason}" if event.reason else ""
                self.activity(f"Connection lost ({event.code}{reason})", "warn")
            if client.options.reconnect and not self.user_closing:
                self.set_state("reconnecting")

        def on_reconnect(event: Any) -> None:
            if not current():
                return
            self.reconnect_attempt = event.attempt
            self.countdown_until = time.monotonic() + event.delay / 1000
            self.set_state("reconnecting")
            seconds = event.delay / 1000
            self.activity(f"Reconnecting: attempt {event.attempt} in {seconds:.1f} s", "warn")

        def on_close(event: Any) -> None:
            if not current():
                return
            self.protocol = None
            self.stop_station()
            self.reconnect_attempt = 0
            self.countdown_until = None
            reason = str(event.reason or "")
            if len(reason) > 48:  # e.g. why the last reconnect attempt failed
                self.show_notice("conn-error", reason)
                reason = reason[:47].rstrip() + "…"
            self.closed_with = (event.code, reason)
            self.set_state("closed")
            if not self.user_closing:
                self.activity(f"Closed ({event.code} {event.reason})".replace(" )", ")"), "warn")
            else:
                self.activity("Disconnected", "info")
            self.user_closing = False

        def on_message(event: Any) -> None:
            if current():
                self.queue_log(self.log.add(event.message, event.outbound))

        def on_bad(event: Any) -> None:
            if not current():
                return
            entry = self.log.mark_bad(event.message, describe(event.error))
            if entry is not None:
                self.refresh_log_row(entry)
            self.activity(f"Bad message from the CSMS: {describe(event.error)}", "error")

        client.on("connecting", on_connecting)
        client.on("open", on_open)
        client.on("disconnect", on_disconnect)
        client.on("reconnect", on_reconnect)
        client.on("close", on_close)
        client.on("message", on_message)
        client.on("bad_message", on_bad)

        def on_change(*_: Any) -> None:
            if station is self.station:
                self.schedule_render()

        def on_activity(line: Any, *_: Any) -> None:
            if station is self.station:
                text = str(line)
                lowered = text.lower()
                level = "info"
                if any(word in lowered for word in ("reject", "fail", "error", "fault", "invalid")):
                    level = "warn"
                elif any(word in lowered for word in ("accepted", "started", "booted")):
                    level = "good"
                self.activity(text, level)

        station.on_change(on_change)
        station.on_activity(on_activity)

    def start_station(self) -> None:
        station = self.station
        if station is None or self.station_running:
            return
        self.station_running = True
        self.spawn(station.start(), "Station start")

    def stop_station(self) -> None:
        station = self.station
        if station is None or not self.station_running:
            return
        self.station_running = False
        self.spawn(station.stop(), "Station stop")

    async def connect(self) -> None:
        if self.conn_state != "closed":
            return
        settings = self.checked_settings()
        if settings is None:
            return
        self.save_settings()
        if self.client is not None and signature(settings) == self.built_with:
            # The same station reconnects: its connectors and transactions carry on,
            # as a real station's would after going offline.
            self.client.reconfigure(**self.reconnect_options(settings))
        else:
            try:
                self.build(settings)
            except Exception as exc:
                self.show_notice("settings-error", describe(exc))
                return
        client = self.client
        assert client is not None
        self.user_closing = False
        self.reconnect_attempt = 0
        self.set_state("connecting")
        self.activity(f"Connecting to {client.url}…", "info")
        try:
            await client.connect()
        except Exception as exc:
            if client is not self.client:
                return
            self.closed_with = (1006, "connection failed")
            self.set_state("closed")
            self.show_notice("conn-error", describe(exc))
            self.activity(f"Connection failed: {describe(exc)}", "error")

    async def disconnect(self) -> None:
        client = self.client
        if client is None or self.conn_state == "closed":
            return
        self.user_closing = True
        self.show_notice("conn-error", "")
        if self.conn_state == "connecting" and not self.reconnect_attempt:
            # The first attempt is still opening: stop it, then report closed.
            await client.close(1000, "bye")
            if client is self.client and self.conn_state != "closed":
                self.closed_with = (1000, "bye")
                self.set_state("closed")
                self.user_closing = False
            return
        await client.close(1000, "bye")

    # -- connection state ----------------------------------------------------------------

    closed_with: tuple[int, str] | None = None

    def state_text(self) -> str:
        state = self.conn_state
        if state == "open":
            return f"open ({self.protocol})" if self.protocol else "open"
        if state == "reconnecting":
            attempt = self.reconnect_attempt
            if not attempt:
                return "reconnecting…"
            if self.countdown_until is not None:
                left = self.countdown_until - time.monotonic()
                if left > 0:
                    return f"reconnecting (attempt {attempt}, {math.ceil(left)} s)"
            return f"reconnecting (attempt {attempt}, connecting…)"
        if state == "closed" and self.closed_with is not None:
            code, reason = self.closed_with
            return f"closed ({code} {reason})" if reason else f"closed ({code})"
        return state

    def set_state(self, state: str) -> None:
        self.conn_state = state
        text = self.state_text()
        self.set_text(self.el["conn-state"], "conn-state", text)
        self.set_text(by_id("top-state").querySelector(".pill-text"), "top-state", text)
        for pill in (by_id("conn-pill"), by_id("top-state")):
            pill.dataset.state = state
        closed = state == "closed"
        self.el["connect"].disabled = not closed
        self.el["disconnect"].disabled = closed
        by_id("conn-fields").disabled = not closed
        by_id("station-fields").disabled = not closed
        by_id("station-lock-hint").hidden = closed
        document.body.dataset.conn = state
        self.schedule_render()

    async def tick(self) -> None:
        """Keeps the reconnect countdown live."""
        while True:
            await asyncio.sleep(0.25)
            if self.conn_state == "reconnecting":
                self.set_text(self.el["conn-state"], "conn-state", self.state_text())
                self.set_text(
                    by_id("top-state").querySelector(".pill-text"), "top-state", self.state_text()
                )

    # -- station rendering ---------------------------------------------------------------

    def schedule_render(self) -> None:
        if not self._render_pending:
            self._render_pending = True
            self.loop.call_soon(self.render_station)

    def render_station(self) -> None:
        self._render_pending = False
        station = self.station
        if station is None:
            return
        boot = station.boot_status
        boot_text = status_value(boot) if boot else "—"
        boot_el = self.el["boot-status"]
        self.set_text(boot_el, "boot", boot_text)
        boot_el.dataset.status = boot_text if boot else ""
        interval = station.heartbeat_interval_s
        self.set_text(
            self.el["heartbeat-interval"],
            "heartbeat",
            f"every {_plain(interval)} s" if interval else "—",
        )
        self.render_configuration(station.configuration)
        self.render_connectors(station)

    def render_configuration(self, configuration: dict[str, Any]) -> None:
        rows = "".join(
            f"<tr><th>{esc(key)}</th><td>{esc(value)}</td></tr>"
            for key, value in sorted(configuration.items())
        )
        if self._text_cache.get("config") != rows:
            self._text_cache["config"] = rows
            by_id("config-table").tBodies[0].innerHTML = rows
            by_id("config-count").textContent = f"({len(configuration)} keys)"

    def render_connectors(self, station: Station) -> None:
        connectors = list(station.connectors)
        ids = [c.id for c in connectors]
        if ids != self.connector_ids or not present(
            by_testid(f"connector-{ids[0]}" if ids else "x")
        ):
            self.connector_ids = ids
            default_tag = str(self.inputs["id_tag"].value)
            by_id("connectors-list").innerHTML = "".join(
                connector_card(c.id, default_tag) for c in connectors
            )
            for key in [k for k in self._text_cache if k.startswith("cn:")]:
                del self._text_cache[key]
        online = self.conn_state == "open"
        for c in connectors:
            self.render_connector(c, online)
        if online:
            charging = sum(1 for c in connectors if c.transaction_id is not None)
            power_kw = sum(float(c.power_w or 0) for c in connectors) / 1000
            hint = f"{charging} of {len(connectors)} in a transaction · {power_kw:.1f} kW"
        else:
            hint = "Connect to operate the connectors"
        self.set_text(by_id("connectors-hint"), "connectors-hint", hint)

    def render_connector(self, c: Any, online: bool) -> None:
        n = c.id
        status = status_value(c.status)
        card = by_testid(f"connector-{n}")
        if not present(card):
            return
        key = f"cn:{n}"
        state = (
            status,
            c.plugged,
            c.transaction_id,
            c.id_tag,
            online,
            n in self._busy,
        )
        energy = model.format_energy_kwh(c.energy_wh)
        power = model.format_power_kw(c.power_w)
        soc = model.format_soc(c.soc)
        self.set_text(by_testid(f"energy-{n}"), f"{key}e", energy)
        self.set_text(by_testid(f"power-{n}"), f"{key}p", power)
        self.set_text(by_testid(f"soc-{n}"), f"{key}s", soc)
        if self._text_cache.get(f"{key}socbar") != soc:
            self._text_cache[f"{key}socbar"] = soc
            width = 0 if c.soc is None else max(0.0, min(100.0, float(c.soc)))
            card.querySelector(".socbar > span").style.width = f"{width:.1f}%"
        if self._text_cache.get(f"{key}state") == repr(state):
            return
        self._text_cache[f"{key}state"] = repr(state)
        card.dataset.status = status
        card.dataset.busy = "true" if n in self._busy else "false"
        self.set_text(by_testid(f"status-{n}"), f"{key}st", status)
        by_testid(f"status-{n}").dataset.status = status
        tx = c.transaction_id
        tx_html = (
            f'Tx <code data-testid="tx-{n}">{esc(tx)}</code>'
            + (f" · idTag <code>{esc(c.id_tag)}</code>" if c.id_tag else "")
            if tx is not None
            else '<span class="muted">No transaction</span>'
        )
        tx_box = card.querySelector(".tx")
        tx_box.innerHTML = tx_html
        tx_box.title = "" if tx is None else f"Transaction {tx}, idTag {c.id_tag or '—'}"
        plug = "plugged in" if c.plugged else "unplugged"
        card.querySelector(".cable").textContent = plug
        card.querySelector(".cable").dataset.plugged = "true" if c.plugged else "false"
        faulted = status == ConnectorStatus.FAULTED.value
        charging = status == ConnectorStatus.CHARGING.value
        suspended = status == ConnectorStatus.SUSPENDED_EV.value
        blocked = status in (ConnectorStatus.FAULTED.value, ConnectorStatus.UNAVAILABLE.value)
        busy = n in self._busy
        enabled = {
            "plug": not c.plugged,
            "unplug": c.plugged,
            "start": tx is None and not blocked,
            "stop": tx is not None,
            "suspend": charging,
            "resume": suspended,
            "fault": True,
            "meter": True,
        }
        for action, allowed in enabled.items():
            button = by_testid(f"{action}-{n}")
            button.disabled = not (online and allowed and not busy)
        fault_button = by_testid(f"fault-{n}")
        fault_button.textContent = "Clear fault" if faulted else "Fault"
        fault_button.setAttribute("aria-pressed", "true" if faulted else "false")

    async def connector_action(self, action: str, n: int) -> None:
        station = self.station
        if station is None or self.conn_state != "open":
            return
        if action == "start":
            tag_input = by_testid(f"connector-id-tag-{n}")
            tag = str(tag_input.value).strip() if present(tag_input) else ""
            coro: Coroutine[Any, Any, object] = station.start_transaction(n, id_tag=tag or None)
        elif action == "fault":
            faulted = status_value(station.connectors[n - 1].status) == "Faulted"
            coro = station.set_fault(n, not faulted)
        else:
            method = {
                "plug": station.plug,
                "unplug": station.unplug,
                "stop": station.stop_transaction,
                "suspend": station.suspend_ev,
                "resume": station.resume,
                "meter": station.send_meter_values,
            }[action]
            coro = method(n)
        self._busy.add(n)
        self.schedule_render()
        try:
            await coro
        except Exception as exc:
            self.activity(f"Connector {n}: {action} failed: {describe(exc)}", "error")
        finally:
            self._busy.discard(n)
            self.schedule_render()

    def on_connectors_click(self, event: Any) -> None:
        button = event.target.closest("button[data-act]")
        if not present(button) or button.disabled:
            return
        action = str(button.dataset.act)
        n = int(button.dataset.n)
        self.spawn(self.connector_action(action, n), f"Connector {n} {action}")

    # -- activity ------------------------------------------------------------------------

    def activity(self, text: str, level: str = "info") -> None:
        feed = self.el["activity"]
        empty = feed.querySelector(".empty")
        if present(empty):
            empty.remove()
        stamp = time.strftime("%H:%M:%S")
        feed.insertAdjacentHTML(
            "afterbegin",
            f'<li class="lv-{esc(level)}"><time>{stamp}</time><span>{esc(text)}</span></li>',
        )
        while feed.childElementCount > ACTIVITY_ROWS:
            feed.lastElementChild.remove()

    # -- message log ---------------------------------------------------------------------

    def queue_log(self, entry: model.LogEntry) -> None:
        self._log_pending.append(entry)
        if not self._log_flush_scheduled:
            self._log_flush_scheduled = True
            self.loop.call_later(0.03, self.flush_log)

    def filters(self) -> tuple[str, str]:
        return (
            str(self.el["log-filter-action"].value).strip().lower(),
            str(self.el["log-filter-direction"].value),
        )

    def flush_log(self) -> None:
        self._log_flush_scheduled = False
        pending, self._log_pending = self._log_pending, []
        needle, direction = self.filters()
        shown = [e for e in pending if model.matches(e, needle, direction)]
        box = self.el["log"]
        if shown:
            if len(shown) >= LOG_ROWS:
                box.innerHTML = "".join(log_row(e) for e in shown[-LOG_ROWS:])
                self._log_dom_rows = min(len(shown), LOG_ROWS)
            else:
                box.insertAdjacentHTML("beforeend", "".join(log_row(e) for e in shown))
                self._log_dom_rows += len(shown)
                while self._log_dom_rows > LOG_ROWS:
                    box.firstElementChild.remove()
                    self._log_dom_rows -= 1
            if self._follow:
                box.scrollTop = box.scrollHeight
        self.update_log_count()

    def rerender_log(self) -> None:
        needle, direction = self.filters()
        entries = [e for e in self.log.entries if model.matches(e, needle, direction)]
        self._log_pending = []
        box = self.el["log"]
        box.innerHTML = "".join(log_row(e) for e in entries[-LOG_ROWS:])
        self._log_dom_rows = min(len(entries), LOG_ROWS)
        box.scrollTop = box.scrollHeight
        self._follow = True
        by_id("log-follow").checked = True
        self.update_log_count(len(entries))

    def refresh_log_row(self, entry: model.LogEntry) -> None:
        row = self.el["log"].querySelector(f'[data-seq="{entry.seq}"]')
        if present(row):
            row.outerHTML = log_row(entry)

    def update_log_count(self, matching: int | None = None) -> None:
        total = len(self.log.entries)
        if total == 0:
            text = "No messages yet"
        else:
            needle, direction = self.filters()
            filtered = bool(needle) or direction != "all"
            if matching is None and filtered:
                matching = sum(1 for e in self.log.entries if model.matches(e, needle, direction))
            text = f"{total} message{'s' if total != 1 else ''}"
            if filtered:
                text = f"{matching} of {text} match"
            visible = matching if filtered else total
            if visible is not None and visible > LOG_ROWS:
                text += f" · newest {LOG_ROWS} shown, export has all"
        self.set_text(self.el["log-count"], "log-count", text)

    def on_log_scroll(self, _event: Any) -> None:
        box = self.el["log"]
        at_bottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 24
        if at_bottom != self._follow:
            self._follow = at_bottom
            by_id("log-follow").checked = at_bottom

    def on_follow_toggle(self, _event: Any) -> None:
        self._follow = bool(by_id("log-follow").checked)
        if self._follow:
            box = self.el["log"]
            box.scrollTop = box.scrollHeight

    def clear_log(self) -> None:
        self.log.clear()
        self._log_pending = []
        self.el["log"].innerHTML = ""
        self._log_dom_rows = 0
        self.update_log_count()

    def export_log(self) -> None:
        identity = str(self.inputs["identity"].value).strip() or "station"
        meta = {
            "exportedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "identity": identity,
            "endpoint": str(self.inputs["endpoint"].value).strip(),
            "protocol": self.protocol or str(self.inputs["version"].value),
            "count": len(self.log.entries),
        }
        text = self.log.export(meta)
        options = to_js({"type": "application/json"}, dict_converter=js.Object.fromEntries)
        blob = js.Blob.new(to_js([text]), options)
        url = js.URL.createObjectURL(blob)
        link = document.createElement("a")
        link.href = url
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", identity)
        link.download = f"ocpp-log-{safe}-{time.strftime('%Y%m%d-%H%M%S')}.json"
        document.body.appendChild(link)
        link.click()
        link.remove()
        self.loop.call_later(30, lambda: js.URL.revokeObjectURL(url))
        self.activity(f"Exported {len(self.log.entries)} messages as {link.download}", "info")

    # -- custom call ---------------------------------------------------------------------

    def custom_protocol(self) -> str:
        return self.protocol or str(self.inputs["version"].value) or model.DEFAULTS["version"]

    def fill_actions(self) -> None:
        protocol = self.custom_protocol()
        select = self.el["custom-action"]
        previous = str(select.value or "") or self.stored_custom.get("action", "")
        groups = model.action_groups(known_actions(protocol))
        select.innerHTML = "".join(
            f'<optgroup label="{esc(label)}">'
            + "".join(f'<option value="{esc(a)}">{esc(a)}</option>' for a in actions)
            + "</optgroup>"
            for label, actions in groups
        )
        names = {a for _, actions in groups for a in actions}
        choice = previous if previous in names else ("Heartbeat" if "Heartbeat" in names else "")
        if not choice and groups:
            choice = groups[0][1][0]
        select.value = choice
        if self._text_cache.get("custom-for") != f"{protocol}/{choice}":
            stored = self.stored_custom
            if stored.get("payload") and stored.get("action") == choice and not self._custom_init:
                self.el["custom-payload"].value = str(stored["payload"])
                self.update_gutter()
            else:
                self.fill_template()
        self._custom_init = True
        self._text_cache["custom-for"] = f"{protocol}/{choice}"

    _custom_init = False

    def fill_template(self) -> None:
        action = str(self.el["custom-action"].value or "")
        protocol = self.custom_protocol()
        try:
            payload = skeleton(protocol, action) if action else {}
        except Exception as exc:
            payload = {}
            js.console.warn(f"[console] no template for {action}: {exc!r}")
        self.el["custom-payload"].value = json.dumps(payload, indent=2, ensure_ascii=False)
        self._text_cache["custom-for"] = f"{protocol}/{action}"
        self.clear_custom_feedback()
        self.update_gutter()
        self.schedule_save()

    def clear_custom_feedback(self) -> None:
        self.el["custom-error"].hidden = True
        self.el["custom-error"].textContent = ""
        self.el["custom-result"].hidden = True
        self.el["custom-result"].innerHTML = ""
        self.mark_line(None)

    def update_gutter(self, error_line: int | None = None) -> None:
        text = str(self.el["custom-payload"].value)
        count = text.count("\n") + 1
        gutter = by_id("custom-gutter")
        gutter.innerHTML = "\n".join(
            f'<span class="bad">{i}</span>' if i == error_line else str(i)
            for i in range(1, count + 1)
        )
        gutter.scrollTop = self.el["custom-payload"].scrollTop

    def mark_line(self, line: int | None) -> None:
        self._error_line = line
        self.update_gutter(line)
        by_id("editor").dataset.invalid = "true" if line else "false"

    _error_line: int | None = None

    def show_custom_error(
        self, title: str, path: str | None, message: str, line: int | None
    ) -> None:
        box = self.el["custom-error"]
        where = f" (line {line})" if line else ""
        path_html = f'<code class="path">{esc(path)}</code> ' if path else ""
        box.innerHTML = (
            f'<strong>{esc(title)}{esc(where)}</strong><div class="msg">{path_html}'
            f"{esc(message)}</div>"
        )
        box.hidden = False
        self.mark_line(line)

    def validate_custom(self) -> tuple[str, dict[str, Any]] | None:
        """The action and payload, or None after showing why they cannot be sent."""
        action = str(self.el["custom-action"].value or "")
        text = str(self.el["custom-payload"].value)
        self.el["custom-error"].hidden = True
        if not action:
            self.show_custom_error("Choose an action", None, "", None)
            return None
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            self.show_custom_error(
                "Not valid JSON", None, f"{exc.msg} at column {exc.colno}", exc.lineno
            )
            return None
        if not isinstance(payload, dict):
            self.show_custom_error("The payload must be a JSON object", "$", "{ … }", 1)
            return None
        from ..rpc.validation import validator_for  # loads jsonschema

        validator = validator_for(self.custom_protocol())
        if validator is not None and validator.has_schema(action, "request"):
            try:
                validator.validate_request(action, payload)
            except RPCError as exc:
                details = exc.details or {}
                path = str(details.get("path") or "$")
                keyword = details.get("keyword")
                message = exc.message
                if message.startswith(path + ": "):
                    message = message[len(path) + 2 :]
                line = model.error_line(text, path, keyword, message)
                code = type(exc).code
                self.show_custom_error(f"Schema violation · {code}", path, message, line)
                return None
        self.mark_line(None)
        return action, payload

    async def send_custom(self) -> None:
        self.el["custom-result"].hidden = True
        checked = self.validate_custom()
        if checked is None:
            return
        action, payload = checked
        client = self.client
        if client is None or self.conn_state != "open":
            self.show_custom_error("Not connected", None, "Connect first, then send.", None)
            return
        self.save_settings()
        result_box = self.el["custom-result"]
        result_box.dataset.kind = "pending"
        waiting = f"Waiting for the answer to {action}…"
        result_box.innerHTML = f'<div class="res-head">{esc(waiting)}</div>'
        result_box.hidden = False
        button = self.el["custom-send"]
        button.disabled = True
        started = time.perf_counter()
        try:
            response = await client.call(action, payload)
        except RPCError as exc:
            elapsed = (time.perf_counter() - started) * 1000
            received = getattr(exc, "received_code", None)
            if received:
                head = f"CALLERROR {received} after {elapsed:.0f} ms"
            else:
                head = f"Rejected here: {type(exc).code}"
            body = {"description": exc.message, "details": exc.details}
            result_box.dataset.kind = "error"
            result_box.innerHTML = (
                f'<div class="res-head">{esc(head)}</div>'
                f'<pre class="json">{highlight_json(json.dumps(body, indent=2))}</pre>'
            )
        except Exception as exc:
            result_box.dataset.kind = "error"
            result_box.innerHTML = f'<div class="res-head">{esc(describe(exc))}</div>'
        else:
            elapsed = (time.perf_counter() - started) * 1000
            result_box.dataset.kind = "result"
            pretty = json.dumps(response, indent=2, ensure_ascii=False)
            result_box.innerHTML = (
                f'<div class="res-head">CALLRESULT after {elapsed:.0f} ms</div>'
                f'<pre class="json">{highlight_json(pretty)}</pre>'
            )
        finally:
            button.disabled = False

    def on_payload_input(self, _event: Any) -> None:
        self.update_gutter(self._error_line)
        self.schedule_save()
        if not self.el["custom-error"].hidden:
            # An error is on show: check again as the user fixes it.
            if self._validate_handle is not None:
                self._validate_handle.cancel()
            self._validate_handle = self.loop.call_later(0.6, self.revalidate)

    def revalidate(self) -> None:
        self._validate_handle = None
        if self.validate_custom() is not None:
            self.el["custom-error"].hidden = True

    def on_payload_scroll(self, _event: Any) -> None:
        by_id("custom-gutter").scrollTop = self.el["custom-payload"].scrollTop

    def on_payload_keydown(self, event: Any) -> None:
        if event.key == "Tab" and not event.shiftKey:
            event.preventDefault()
            area = self.el["custom-payload"]
            start, end = int(area.selectionStart), int(area.selectionEnd)
            value = str(area.value)
            area.value = value[:start] + "  " + value[end:]
            area.selectionStart = area.selectionEnd = start + 2
        elif event.key == "Enter" and (event.ctrlKey or event.metaKey):
            event.preventDefault()
            self.spawn(self.send_custom(), "Custom call")

    # -- wiring --------------------------------------------------------------------------

    def bind(self) -> None:
        for key, (_, kind) in FIELDS.items():
            element = self.inputs[key]
            for event in ("change",) if kind == "check" else ("input", "change"):
                self.listen(element, event, self._field_listener(key))
        self.listen(self.el["connect"], "click", lambda _e: self.spawn(self.connect(), "Connect"))
        self.listen(
            self.el["disconnect"], "click", lambda _e: self.spawn(self.disconnect(), "Disconnect")
        )
        for element in self.inputs.values():
            self.listen(element, "keydown", self.on_enter_connect)
        self.listen(by_id("connectors-list"), "click", self.on_connectors_click)
        self.listen(self.el["log-filter-action"], "input", lambda _e: self.rerender_log())
        self.listen(self.el["log-filter-direction"], "change", lambda _e: self.rerender_log())
        self.listen(self.el["log-clear"], "click", lambda _e: self.clear_log())
        self.listen(self.el["log-export"], "click", lambda _e: self.export_log())
        self.listen(self.el["log"], "scroll", self.on_log_scroll)
        self.listen(by_id("log-follow"), "change", self.on_follow_toggle)
        self.listen(self.el["custom-action"], "change", lambda _e: self.fill_template())
        self.listen(self.el["custom-reset"], "click", lambda _e: self.fill_template())
        send = self.el["custom-send"]
        self.listen(send, "click", lambda _e: self.spawn(self.send_custom(), "Custom call"))
        self.listen(self.el["custom-payload"], "input", self.on_payload_input)
        self.listen(self.el["custom-payload"], "scroll", self.on_payload_scroll)
        self.listen(self.el["custom-payload"], "keydown", self.on_payload_keydown)
        self.listen(self.el["activity-clear"], "click", lambda _e: self.clear_activity())
        self.listen(js.window, "pagehide", lambda _e: self.save_settings())

    def on_enter_connect(self, event: Any) -> None:
        is_input = str(event.target.tagName) == "INPUT"
        if event.key == "Enter" and is_input and self.conn_state == "closed":
            self.spawn(self.connect(), "Connect")

    def clear_activity(self) -> None:
        self.el["activity"].innerHTML = ""

    def start(self) -> None:
        settings = self.load_settings()
        self.write_form(settings)
        self.update_url_preview()
        self.bind()
        self.set_state("closed")
        try:
            self.build(model.coerce_settings(self.read_form(), strict=False))
        except Exception as exc:
            js.console.warn(f"[console] preview not built: {exc!r}")
        self.fill_actions()
        self.save_settings()  # keeps the identity chosen for this browser
        self.update_log_count()
        self.spawn(self.tick(), "UI ticker")
        import pyodide

        version = sys.version.split()[0]
        by_id("runtime-info").textContent = f"Python {version} on Pyodide {pyodide.__version__}"


def signature(settings: dict[str, Any]) -> tuple[Any, ...]:
    """What makes a station (and its client) different; reconnect options apply live."""
    return tuple(
        settings[key] for key in sorted(FIELDS) if key not in LIVE_KEYS and key in settings
    )


def _plain(value: Any) -> str:
    """``10`` for 10.0, ``2.5`` for 2.5, text as is."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def connector_card(n: int, default_tag: str) -> str:
    def button(action: str, label: str, style: str = "", title: str = "") -> str:
        tip = f' title="{esc(title)}"' if title else ""
        return (
            f'<button type="button" class="btn small {style}" data-testid="{action}-{n}" '
            f'data-act="{action}" data-n="{n}"{tip} disabled>{label}</button>'
        )

    return f"""
<article class="connector" data-testid="connector-{n}" data-status="Unavailable">
  <header>
    <h3>Connector {n}</h3>
    <span class="cable" data-plugged="false">unplugged</span>
    <span class="badge" data-testid="status-{n}">—</span>
  </header>
  <div class="meter">
    <div><span class="v" data-testid="energy-{n}">—</span><span class="u">kWh</span>
      <span class="l">Energy</span></div>
    <div><span class="v" data-testid="power-{n}">—</span><span class="u">kW</span>
      <span class="l">Power</span></div>
    <div><span class="v" data-testid="soc-{n}">—</span><span class="u">%</span>
      <span class="l">SoC</span></div>
  </div>
  <div class="socbar" aria-hidden="true"><span></span></div>
  <div class="tx"><span class="muted">No transaction</span></div>
  <div class="cactions">
    <div class="group">{button("plug", "Plug in")}{button("unplug", "Unplug")}</div>
    <div class="group tagged">
      <input class="tag" data-testid="connector-id-tag-{n}" value="{esc(default_tag)}"
        aria-label="idTag for connector {n}" spellcheck="false">
      {button("start", "Start", "primary")}{button("stop", "Stop", "danger")}
    </div>
    <div class="group four">
      {button("suspend", "Suspend", "", "The EV pauses charging (SuspendedEV)")}
      {button("resume", "Resume", "", "The EV resumes charging")}
      {button("fault", "Fault", "warn", "Toggle a connector fault")}
      {button("meter", "Meter", "ghost", "Send MeterValues now")}</div>
  </div>
</article>"""


def log_row(entry: model.LogEntry) -> str:
    arrow = "→" if entry.outbound else "←"
    where = "station → CSMS" if entry.outbound else "CSMS → station"
    rtt = "" if entry.rtt_ms is None else f"{entry.rtt_ms:.0f} ms"
    action = entry.action or ""
    size = len(entry.raw.encode("utf-8"))
    meta = f"{esc(entry.label)} · {where} · {size} bytes"
    if entry.message_id is not None:
        meta += f" · id <code>{esc(entry.message_id)}</code>"
    if entry.rtt_ms is not None:
        meta += f" · {'round trip' if entry.outbound is False else 'answered in'} {rtt}"
    if entry.problem and entry.kind == "bad":
        meta += f" · <b>{esc(entry.problem)}</b>"
    return (
        f'<details class="row k-{entry.kind}" data-testid="log-row" data-seq="{entry.seq}" '
        f'data-direction="{entry.direction}" data-action="{esc(action)}" '
        f'data-kind="{entry.kind}">'
        f'<summary><span class="t">{model.clock(entry.time)}</span>'
        f'<span class="d" title="{where}">{arrow}</span>'
        f'<span class="k">{esc(entry.label)}</span>'
        f'<span class="a">{esc(action) or "—"}</span>'
        f'<span class="rtt">{rtt}</span>'
        f'<span class="s">{esc(entry.summary())}</span></summary>'
        f'<div class="meta">{meta}</div>'
        f'<pre class="json">{highlight_json(entry.pretty())}</pre></details>'
    )


_console: Console | None = None


async def start() -> None:
    """Build the console and tell the loading indicator the app is ready."""
    global _console
    try:
        route_output_to_console()
        js.window.consoleProgress("app", "Starting the emulator…", 94)
        _console = Console()
        _console.start()
        js.window.consoleProgress("ready")
        document.documentElement.dataset.ready = "true"
    except Exception as exc:
        import traceback

        js.console.error(traceback.format_exc())
        js.window.consoleProgress("error", describe(exc))
