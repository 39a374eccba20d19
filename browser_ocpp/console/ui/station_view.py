"""The station on the page: boot status, heartbeat, configuration, and the connector
cards with their buttons (plug, start, stop, suspend, resume, fault, meter)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from ...emulator import ConnectorStatus, Station
from ..model.blocks import limit_text, reservation_text
from ..model.formatting import format_energy_kwh, format_power_kw, format_soc
from ..model.settings import plain
from .dom import (
    Page,
    by_id,
    by_selector,
    by_testid,
    describe,
    esc,
    forget_lookups,
    present,
    status_value,
)

__all__ = ["StationView", "connector_card"]


class StationView:
    """``station()`` is the current station (or None); ``online()`` whether its
    connectors can be used (connected, or powered up and offline: it charges and
    queues on); ``default_tag()`` the idTag a new card starts with; ``rendered(station)``
    runs after each render."""

    def __init__(
        self,
        page: Page,
        station: Callable[[], Station | None],
        online: Callable[[], bool],
        default_tag: Callable[[], str],
        report: Callable[[str, str], None],
        rendered: Callable[[Station], None] = lambda _station: None,
    ) -> None:
        self.page, self.station, self.online = page, station, online
        self.default_tag, self.report, self.rendered = default_tag, report, rendered
        self.connector_ids: list[int] = []
        self.busy: set[int] = set()
        self._locks: dict[int, asyncio.Lock] = {}
        self._pending = False

    def bind(self) -> None:
        self.page.listen(by_id("connectors-list"), "click", self.on_click)

    def schedule(self) -> None:
        if not self._pending:
            self._pending = True
            self.page.loop.call_soon(self.render)

    def render(self) -> None:
        self._pending = False
        station = self.station()
        if station is None:
            return
        boot = station.boot_status
        boot_text = status_value(boot) if boot else "—"
        boot_el = by_testid("boot-status")
        self.page.set_text(boot_el, "boot", boot_text)
        boot_el.dataset.status = boot_text if boot else ""
        interval = station.heartbeat_interval_s
        every = f"every {plain(interval)} s" if interval else "—"
        self.page.set_text(by_testid("heartbeat-interval"), "heartbeat", every)
        self.render_configuration(station.configuration)
        self.render_connectors(station)
        self.rendered(station)

    def render_configuration(self, configuration: dict[str, Any]) -> None:
        rows = "".join(
            f"<tr><th>{esc(key)}</th><td>{esc(value)}</td></tr>"
            for key, value in sorted(configuration.items())
        )
        if self.page.set_html(by_selector('[id="config-table"] tbody'), "config", rows):
            by_id("config-count").textContent = f"({len(configuration)} keys)"

    def render_connectors(self, station: Station) -> None:
        connectors = list(station.connectors)
        ids = [c.id for c in connectors]
        if ids != self.connector_ids or not present(
            by_testid(f"connector-{ids[0]}" if ids else "x")
        ):
            self.connector_ids = ids
            tag = self.default_tag()
            by_id("connectors-list").innerHTML = "".join(connector_card(i, tag) for i in ids)
            forget_lookups()
            self.page.forget("cn:")
        online = self.online()
        now = datetime.now(UTC)
        for c in connectors:
            self.render_connector(c, online)
            self.render_blocks(station, c, now)
        if online:
            charging = sum(1 for c in connectors if c.transaction_id is not None)
            power_kw = sum(float(c.power_w or 0) for c in connectors) / 1000
            hint = f"{charging} of {len(connectors)} in a transaction · {power_kw:.1f} kW"
            if not station.online:
                hint += f" · offline, {len(station.queue)} queued"
        else:
            hint = "Connect to operate the connectors"
        self.page.set_text(by_id("connectors-hint"), "connectors-hint", hint)

    def render_connector(self, c: Any, online: bool) -> None:
        n = c.id
        status = status_value(c.status)
        card = by_testid(f"connector-{n}")  # written to only: no look-up
        key = f"cn:{n}"
        busy = n in self.busy
        state = repr((status, c.plugged, c.transaction_id, c.id_tag, online, busy))
        soc = format_soc(c.soc)
        self.page.set_text(by_testid(f"energy-{n}"), f"{key}e", format_energy_kwh(c.energy_wh))
        self.page.set_text(by_testid(f"power-{n}"), f"{key}p", format_power_kw(c.power_w))
        self.page.set_text(by_testid(f"soc-{n}"), f"{key}s", soc)
        if self.page.cache.get(f"{key}socbar") != soc:
            self.page.cache[f"{key}socbar"] = soc
            width = 0 if c.soc is None else max(0.0, min(100.0, float(c.soc)))
            inside(n, ".socbar > span").style.width = f"{width:.1f}%"
        if self.page.cache.get(f"{key}state") == state:
            return
        self.page.cache[f"{key}state"] = state
        card.dataset.status = status
        card.dataset.busy = "true" if busy else "false"
        self.page.set_text(by_testid(f"status-{n}"), f"{key}st", status)
        by_testid(f"status-{n}").dataset.status = status
        tx = c.transaction_id
        tx_html = (
            f'Tx <code data-testid="tx-{n}">{esc(tx)}</code>'
            + (f" · idTag <code>{esc(c.id_tag)}</code>" if c.id_tag else "")
            if tx is not None
            else '<span class="muted">No transaction</span>'
        )
        tx_box = inside(n, ".tx")
        tx_box.innerHTML = tx_html
        tx_box.title = "" if tx is None else f"Transaction {tx}, idTag {c.id_tag or '—'}"
        cable = inside(n, ".cable")
        cable.textContent = "plugged in" if c.plugged else "unplugged"
        cable.dataset.plugged = "true" if c.plugged else "false"
        faulted = status == ConnectorStatus.FAULTED.value
        blocked = status in (ConnectorStatus.FAULTED.value, ConnectorStatus.UNAVAILABLE.value)
        enabled = {
            "plug": not c.plugged,
            "unplug": c.plugged,
            "start": tx is None and not blocked,
            "stop": tx is not None,
            "suspend": status == ConnectorStatus.CHARGING.value,
            "resume": status == ConnectorStatus.SUSPENDED_EV.value,
            "fault": True,
            "meter": True,
        }
        # Not disabled while an action is under way (busy): the clicks queue, in order
        # (see act). In the worker a button disabled for that could be clicked on its
        # way to being disabled, and the browser drops a click on a disabled button.
        for action, allowed in enabled.items():
            by_testid(f"{action}-{n}").disabled = not (online and allowed)
        fault_button = by_testid(f"fault-{n}")
        fault_button.textContent = "Clear fault" if faulted else "Fault"
        fault_button.ariaPressed = "true" if faulted else "false"

    def render_blocks(self, station: Station, c: Any, now: datetime) -> None:
        """The connector's charging limit (and what sets it) and its reservation."""
        n, key = c.id, f"cn:{c.id}"
        config = station.config
        watts, source = station.charging.limit_source(n)
        limit = limit_text(watts, source, config.voltage_v, config.phases)
        limit_el = by_testid(f"limit-{n}")
        self.page.set_text(limit_el, f"{key}lim", limit)
        limit_el.dataset.source = source
        reservation = station.reservations.of(c)
        text = "" if reservation is None else reservation_text(reservation, now)
        badge = by_testid(f"reservation-{n}")
        self.page.set_text(badge, f"{key}res", text)
        badge.hidden = reservation is None

    async def act(self, action: str, n: int) -> None:
        """Carry out a button's ``action`` on connector ``n``, after the ones clicked
        before it on that connector (a click does not wait for the render of the one
        before it to reach the page)."""
        async with self._queue(n):
            await self._act(action, n)

    def _queue(self, n: int) -> asyncio.Lock:
        return self._locks.setdefault(n, asyncio.Lock())

    async def _act(self, action: str, n: int) -> None:
        station = self.station()
        if station is None or not self.online():
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
        self.busy.add(n)
        self.schedule()
        try:
            await coro
        except Exception as exc:
            self.report(f"Connector {n}: {action} failed: {describe(exc)}", "error")
        finally:
            self.busy.discard(n)
            self.schedule()

    def on_click(self, event: Any) -> None:
        # No check of ``disabled`` here: the browser sends no clicks to a disabled
        # button, and by the time a click reaches the worker a render may have
        # disabled the one that was clicked while it was enabled.
        button = event.target.closest("button[data-act]")
        if not present(button):
            return
        action = str(button.dataset.act)
        n = int(button.dataset.n)
        self.page.spawn(self.act(action, n), f"Connector {n} {action}")


def inside(n: int, selector: str) -> Any:
    """The element ``selector`` finds in connector ``n``'s card."""
    return by_selector(f'[data-testid="connector-{n}"] {selector}')


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
  <div class="climit" title="The charging limit now, and what sets it">Limit
    <span data-testid="limit-{n}">—</span></div>
  <div class="socbar" aria-hidden="true"><span></span></div>
  <div class="reservation" data-testid="reservation-{n}" hidden></div>
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
