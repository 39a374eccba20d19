"""The web console: the emulated station, its client and the views, wired together.

The station logic is ``browser_ocpp.emulator``; the connection is a
``BrowserOCPPClient``; ``ui/`` binds each part of ``index.html`` (found by
``data-testid``), ``model/`` holds the state without the DOM.  This module builds
the client and the station, follows the client's events and hands them to the views.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import js

from ..browser import BrowserOCPPClient
from ..emulator import Station, StationConfig
from .model import power_loss
from .model import settings as settings_model
from .model.alerts import activity_alert, refused_request_alert
from .model.connection import ConnectionState
from .model.formatting import activity_level
from .model.message_log import MessageLog, strict_response_check
from .ui.blocks_view import BlocksView
from .ui.connection_view import ConnectionView
from .ui.custom_call import CustomCall
from .ui.dom import Page, by_id, by_selector, by_testid, describe
from .ui.elements import flush_writes
from .ui.faults_view import FaultsView
from .ui.identity import TabIdentity
from .ui.log_view import LogView
from .ui.notices import ActivityFeed, Notices
from .ui.output import route_output_to_console
from .ui.settings_form import FIELDS, SettingsForm, reconnect_options
from .ui.station_view import StationView
from .ui.toasts import Toasts
from .ui.window import document, in_worker, window

__all__ = ["start"]

KEEP_FRESH_S = 10.0
"""How often the open transactions are written down again while nothing else changes:
their PowerLoss stop is dated by the last write before the page went."""


class Console:
    def __init__(self) -> None:
        self.activity = ActivityFeed()
        self.page = Page(lambda text: self.activity.add(text, "error"))
        self.notices = Notices()
        self.form = SettingsForm(self.notices)
        self.conn = ConnectionState()
        self.client: BrowserOCPPClient | None = None
        self.station: Station | None = None
        self.built_with: tuple[Any, ...] | None = None
        self.station_running = False
        self._preview_handle: Any = None
        self._save_handle: Any = None
        self._lost_key: str | None = None  # the identity's power-loss storage key
        self._lost: list[power_loss.Record] = []  # lost with a page, not yet ended
        self._kept_text: str | None = None  # what is in storage under _lost_key
        self._kept_shape: str | None = None  # ... without the time it was written
        self._kept_at = 0.0
        self.connection = ConnectionView(self.page, self.conn, self.schedule_render)
        self.toasts = Toasts(self.page)
        self.identity = TabIdentity()
        self.identity_ready: asyncio.Future[None] = self.page.loop.create_future()
        self.stations = StationView(
            self.page,
            lambda: self.station,
            self.operable,
            lambda: str(self.form.inputs["id_tag"].value),
            self.activity.add,
            self.keep_open_transactions,
        )
        self.blocks = BlocksView(self.page, lambda: self.station)
        self.faults = FaultsView(
            self.page, self.notices, lambda: self.station, self.custom_protocol, self.activity.add
        )
        self.log = LogView(self.page, MessageLog(), self.export_meta, self.activity.add)
        self.custom: CustomCall | None = None

    # -- settings ------------------------------------------------------------------------

    def save(self) -> None:
        if self.custom is not None:
            self.form.extra = self.custom.state()  # type: ignore[assignment]
        self.form.save()
        if self.identity_ready.done():  # this tab's identity, kept through a reload
            TabIdentity.remember(self.form.value("identity"))

    def schedule_save(self) -> None:
        if self._save_handle is not None:
            self._save_handle.cancel()
        self._save_handle = self.page.loop.call_later(0.15, self.save)

    def on_field_input(self, key: str) -> None:
        self.save()  # at once: a reload may follow right away
        self.form.update_url_preview()
        self.form.recheck()
        if key in settings_model.LIVE_KEYS:
            self.apply_live_options()
        if self.conn.closed and (key in settings_model.STATION_KEYS or key == "version"):
            if self._preview_handle is not None:
                self._preview_handle.cancel()
            self._preview_handle = self.page.loop.call_later(0.3, self.preview)
        if key == "version" and self.conn.closed and self.custom is not None:
            self.custom.fill_actions()
        if key == "version":
            self.faults.fill_codes()

    def apply_live_options(self) -> None:
        """Reconnect options apply to the live client at once."""
        settings = self.form.current()
        if self.client is None or settings is None:
            return
        try:
            self.client.reconfigure(**reconnect_options(settings))
        except (TypeError, ValueError) as exc:
            js.console.warn(f"[console] reconnect options not applied: {exc!r}")

    def operable(self) -> bool:
        """Whether the connectors can be used: connected, or powered up (booted) and
        offline, when the station charges, authorizes locally and queues on."""
        station = self.station
        return station is not None and (self.conn.state == "open" or station.booted)

    def custom_protocol(self) -> str:
        return self.conn.protocol or self.form.value("version") or settings_model.VERSIONS[0]

    def strict(self) -> bool:
        if self.client is not None:
            return self.client.options.strict_mode is not False
        return bool(self.form.inputs["strict"].checked)

    def export_meta(self) -> dict[str, Any]:
        return {
            "exportedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "identity": self.form.value("identity") or "station",
            "endpoint": self.form.value("endpoint"),
            "protocol": self.conn.protocol or self.form.value("version"),
        }

    # -- client and station --------------------------------------------------------------

    def build(self, settings: dict[str, Any]) -> None:
        """A fresh client and station for ``settings`` (nothing is connected yet)."""
        client = BrowserOCPPClient(
            identity=settings["identity"],
            endpoint=settings["endpoint"],
            protocols=settings_model.offered_protocols(settings),
            strict_mode=settings["strict"],
            call_timeout_ms=30_000,
            **reconnect_options(settings),
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
            self.page.spawn(self.station.shutdown(), "shutting the previous station down")
        self.client, self.station = client, station
        self.built_with = settings_model.signature(settings)
        self.station_running = False
        self.watch(client, station)
        self.faults.apply()  # the panel's faults hold for the new station too
        self.stations.render()
        self.blocks.schedule()

    def preview(self) -> None:
        """While closed, the connector cards follow the station settings."""
        self._preview_handle = None
        settings = self.form.current()
        if not self.conn.closed or settings is None:
            return
        if settings_model.signature(settings) == self.built_with:
            return  # same station: keep its state (a transaction survives a reconnect)
        try:
            self.build(settings)
        except Exception as exc:
            js.console.warn(f"[console] preview not built: {exc!r}")

    def watch(self, client: BrowserOCPPClient, station: Station) -> None:
        conn, log = self.conn, self.log

        def current() -> bool:
            return client is self.client

        def on_connecting(event: Any) -> None:
            if current():
                conn.connecting()
                self.connection.show()

        def on_open(event: Any) -> None:
            if not current():
                return
            protocol = str(event.protocol)
            conn.opened(protocol)
            log.log.connected(
                protocol,
                strict_response_check(protocol, lambda a: client.options.is_strict(protocol, a)),
            )
            self.connection.show()
            self.activity.add(f"Connected to {client.url} ({protocol})", "good")
            if self.custom is not None:
                self.custom.fill_actions()
            self.faults.fill_codes()
            self.start_station()

        def on_disconnect(event: Any) -> None:
            if not current():
                return
            conn.protocol = None
            self.stop_station()
            if station.offline:
                conn.went_offline()
                self.connection.show()
                return
            if not conn.user_closing:
                reason = f" {event.reason}" if event.reason else ""
                self.activity.add(f"Connection lost ({event.code}{reason})", "warn")
            if client.options.reconnect and not conn.user_closing:
                conn.state = "reconnecting"
                self.connection.show()

        def on_reconnect(event: Any) -> None:
            if not current():
                return
            conn.retrying(event.attempt, event.delay / 1000, time.monotonic())
            self.connection.show()
            seconds = event.delay / 1000
            self.activity.add(f"Reconnecting: attempt {event.attempt} in {seconds:.1f} s", "warn")

        def on_close(event: Any) -> None:
            if not current():
                return
            self.stop_station()
            if station.offline:
                conn.went_offline()
                self.connection.show()
                conn.user_closing = False
                return
            reason = str(event.reason or "")
            if conn.ended(event.code, reason) != reason:  # e.g. why the last attempt failed
                self.notices.show("conn-error", reason)
            self.connection.show()
            if not conn.user_closing:
                self.activity.add(
                    f"Closed ({event.code} {event.reason})".replace(" )", ")"), "warn"
                )
            else:
                self.activity.add("Disconnected", "info")
            conn.user_closing = False

        def on_message(event: Any) -> None:
            if current():
                log.add(event.message, event.outbound)

        def on_bad(event: Any) -> None:
            if not current():
                return
            reason = describe(event.error, conn.protocol)
            log.mark_bad(event.message, reason)
            self.activity.add(f"Bad message from the CSMS: {reason}", "error")

        asked: dict[str, str] = {}  # the CSMS's CALLs by message id, until answered

        def on_call(event: Any) -> None:
            if not event.outbound and len(asked) < 1000:
                asked[str(event.frame.message_id)] = str(event.action or "")

        def on_result(event: Any) -> None:
            if event.outbound:
                asked.pop(str(event.frame.message_id), None)

        def on_call_error(event: Any) -> None:
            if not event.outbound or not current():
                return
            action = asked.pop(str(event.frame.message_id), None)
            text = refused_request_alert(action, str(event.frame.error_code))
            if text is not None:
                self.toasts.show(text, "warn")

        client.on("call", on_call)
        client.on("call_result", on_result)
        client.on("call_error", on_call_error)
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
                self.activity.add(str(line), activity_level(str(line)))
                alert = activity_alert(str(line))
                if alert is not None:
                    self.toasts.show(alert, "warn")

        station.on_change(on_change)
        station.on_activity(on_activity)

    def schedule_render(self) -> None:
        self.stations.schedule()
        self.blocks.schedule()
        self.faults.render()

    def start_station(self) -> None:
        if self.station is None or self.station_running:
            return
        self.station_running = True
        self.page.spawn(self.run_station(self.station), "Station start")

    async def run_station(self, station: Station) -> None:
        """Start the station; once booted, end the transactions a closed page left open."""
        await station.start()
        if station.booted and station is self.station:
            await self.end_lost_transactions(station)

    # -- a page closed mid-transaction: the station lost its power ---------------------

    def power_loss_key(self) -> str:
        return power_loss.STORAGE_PREFIX + (self.identity.claimed or self.form.value("identity"))

    def transactions_open(self) -> bool:
        station = self.station
        return station is not None and any(c.transaction_id is not None for c in station.connectors)

    def lost_records(self) -> list[power_loss.Record]:
        """Transactions a page of this identity lost with it, not yet ended at the
        CSMS (read from storage once per identity)."""
        key = self.power_loss_key()
        if key != self._lost_key:
            self._lost_key, self._kept_text, self._kept_shape = key, None, None
            self._lost = power_loss.load(window.localStorage.getItem(key))
        return self._lost

    def keep_open_transactions(self, station: Station) -> None:
        """Keep the open transactions written down as they change, to be ended with
        PowerLoss after the next boot if the page goes (as a station does after a
        power cut): a page that goes cannot wait for Python in the worker. The page
        asks before leaving while one is open (static/page.js)."""
        if station is not self.station:
            return
        flag = "open" if self.transactions_open() else ""
        if self.page.cache.get("transactions") != flag:
            self.page.cache["transactions"] = flag
            by_selector("body").dataset.transactions = flag
        now = time.time()
        current = power_loss.snapshot(station.protocol, station.connectors, now)
        lost = self.lost_records()
        shape = power_loss.dump(lost + [{**record, "at": None} for record in current])
        if shape == self._kept_shape and (not current or now - self._kept_at < KEEP_FRESH_S):
            return  # the same transactions: their time is rewritten every KEEP_FRESH_S
        self._kept_shape, self._kept_at = shape, now
        records = lost + current
        self._write_lost(power_loss.dump(records) if records else None)

    def _write_lost(self, text: str | None) -> None:
        if text == self._kept_text:
            return
        try:
            if text is None:
                window.localStorage.removeItem(self._lost_key)
            else:
                window.localStorage.setItem(self._lost_key, text)
        except Exception as exc:  # storage full or disabled
            js.console.warn(f"[console] open transactions not kept: {exc!r}")
            return
        self._kept_text = text

    async def end_lost_transactions(self, station: Station) -> None:
        lost = self.lost_records()
        for record in list(lost):
            if record["protocol"] != station.protocol:
                self.activity.add(
                    f"Transaction {record['transaction_id']} lost with the page was "
                    f"{record['protocol']}, not {station.protocol}: not ended",
                    "warn",
                )
            else:
                action, payload = power_loss.stop_messages(record)
                try:
                    await station.client.call(action, payload)
                except Exception as exc:
                    self.activity.add(f"{action} (PowerLoss) failed: {describe(exc)}", "error")
                else:
                    self.activity.add(
                        f"Transaction {record['transaction_id']} ended at the CSMS "
                        "(PowerLoss): the page had closed mid-transaction",
                        "warn",
                    )
            if record in lost:
                lost.remove(record)
            self.keep_open_transactions(station)

    def stop_station(self) -> None:
        if self.station is None or not self.station_running:
            return
        self.station_running = False
        self.page.spawn(self.station.stop(), "Station stop")

    def connected_station(self) -> Station | None:
        return self.station if self.conn.state == "open" else None

    async def connect(self) -> None:
        if not self.conn.closed:
            return
        settings = self.form.checked()
        if settings is None:
            return
        await asyncio.wait_for(asyncio.shield(self.identity_ready), 10)
        if not await self.identity.claim(settings["identity"]):
            self.form.show_error(
                settings_model.SettingsError(
                    "identity",
                    f"{settings['identity']} is in use in another tab of this browser: "
                    "choose another identity",
                )
            )
            return
        self.save()
        if self.client is not None and settings_model.signature(settings) == self.built_with:
            # The same station reconnects: its connectors and transactions carry on,
            # as a real station's would after going offline.
            self.client.reconfigure(**reconnect_options(settings))
        else:
            try:
                self.build(settings)
            except Exception as exc:
                self.notices.show("settings-error", describe(exc))
                return
        client = self.client
        assert client is not None
        self.conn.user_closing = False
        self.conn.attempt = 0
        self.conn.state = "connecting"
        self.connection.show()
        self.activity.add(f"Connecting to {client.url}…", "info")
        try:
            await client.connect()
        except Exception as exc:
            if client is not self.client:
                return
            self.conn.ended(1006, "connection failed")
            self.connection.show()
            self.notices.show("conn-error", f"Could not connect: {describe(exc)}")
            self.activity.add(f"Connection failed: {describe(exc)}", "error")

    async def disconnect(self) -> None:
        client = self.client
        if client is None or self.conn.closed:
            return
        self.conn.user_closing = True
        self.notices.show("conn-error", "")
        if self.conn.state == "connecting" and not self.conn.attempt:
            # The first attempt is still opening: stop it, then report closed.
            await client.close(1000, "bye")
            if client is self.client and not self.conn.closed:
                self.conn.ended(1000, "bye")
                self.connection.show()
                self.conn.user_closing = False
            return
        await client.close(1000, "bye")

    # -- wiring --------------------------------------------------------------------------

    def bind(self) -> None:
        listen, spawn = self.page.listen, self.page.spawn
        for key, (_, kind) in FIELDS.items():
            element = self.form.inputs[key]
            for event in ("change",) if kind == "check" else ("input", "change"):
                listen(element, event, self._field_listener(key))
            listen(element, "keydown", self.on_enter_connect)
        listen(by_testid("connect"), "click", lambda _e: spawn(self.connect(), "Connect"))
        listen(by_testid("disconnect"), "click", lambda _e: spawn(self.disconnect(), "Disconnect"))
        listen(by_testid("activity-clear"), "click", lambda _e: self.activity.clear())
        listen(by_testid("reconnect-now"), "click", lambda _e: self.reconnect_now())
        self.faults.bind()
        self.stations.bind()
        self.log.bind()
        assert self.custom is not None
        self.custom.bind()

    async def tick(self) -> None:
        """Keeps the offline queue's length live (it changes with no station event)."""
        while True:
            await asyncio.sleep(0.5)
            self.faults.render()
            self.blocks.schedule()  # a profile's schedule moves on with the clock
            if self.station is not None and self.station.reservations.by_id:
                self.stations.schedule()  # the reservations' countdown

    def reconnect_now(self) -> None:
        if self.client is not None and self.client.reconnect_now():
            self.activity.add("Reconnecting now", "info")

    async def settle_identity(self) -> None:
        """This tab's identity: the one it had (a reload), else the one last used in
        this browser, unless another tab holds it: then a fresh one, said aloud."""
        shown = self.form.value("identity")
        wanted = TabIdentity.remembered() or shown
        try:
            identity = await self.identity.settle(wanted)
        finally:
            self.identity_ready.set_result(None)
        if self.form.value("identity") != shown:
            return  # typed in while the claim was pending: the user's wins (Connect claims it)
        if identity != shown:
            self.form.inputs["identity"].value = identity
            self.form.update_url_preview()
            self.preview()
        if identity != wanted:
            text = f"{wanted} is open in another tab: this tab is {identity}"
            self.activity.add(text, "warn")
            self.toasts.show(text, "warn")
        self.save()

    def _field_listener(self, key: str) -> Any:
        return lambda _event: self.on_field_input(key)

    def on_enter_connect(self, event: Any) -> None:
        is_input = str(event.target.tagName) == "INPUT"
        if event.key == "Enter" and is_input and self.conn.closed:
            self.page.spawn(self.connect(), "Connect")

    def start(self) -> None:
        self.form.write(self.form.load())
        self.form.update_url_preview()
        self.custom = CustomCall(
            self.page,
            self.custom_protocol,
            self.connected_station,
            self.strict,
            self.schedule_save,
            self.form.stored_custom,
        )
        self.bind()
        self.connection.show()
        try:
            self.build(settings_model.coerce_settings(self.form.read(), strict=False))
        except Exception as exc:
            js.console.warn(f"[console] preview not built: {exc!r}")
        self.custom.fill_actions()
        self.faults.fill_codes()
        self.page.spawn(self.settle_identity(), "Choosing this tab's identity")
        self.log.update_count()
        self.page.spawn(self.connection.tick(), "UI ticker")
        self.page.spawn(self.tick(), "Queue ticker")
        import pyodide

        version = sys.version.split()[0]
        by_id("runtime-info").textContent = f"Python {version} on Pyodide {pyodide.__version__}"


_console: Console | None = None


async def start() -> None:
    """Build the console and tell the loading indicator the app is ready."""
    global _console
    try:
        route_output_to_console()
        window.consoleProgress("app", "Starting the emulator…", 94)
        _console = Console()
        _console.start()
        flush_writes()  # the page shows all of it as it says it is ready
        root = document.documentElement
        root.dataset.python = "worker" if in_worker else "main"
        root.dataset.ready = "true"
        window.consoleProgress("ready")  # last: what waits for it sees all of the above
    except Exception as exc:
        import traceback

        js.console.error(traceback.format_exc())
        window.consoleProgress("error", describe(exc))
