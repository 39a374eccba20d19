"""The Fleet view: N emulated stations from this tab against the CSMS, each on its own
``BrowserOCPPClient``, with a live table per action and a live chart of the CSMS's
response times (p50, p99) and throughput, drawn by our own code as inline SVG."""

from __future__ import annotations

import asyncio
from typing import Any

from ...browser import BrowserOCPPClient
from ...fleet import Fleet, FleetConfig, FleetSnapshot, client_options
from ...peer.client import RPCClient
from ..model.bench_form import fleet_config
from ..model.fleet_live import FleetSeries, action_rows, chart_svg, headline
from ..model.settings import SettingsError
from ..ui.dom import Page, by_id, esc
from .render import set_verdict
from .target import Target

__all__ = ["FleetView", "browser_client"]

FIELDS = {
    "stations": "fleet-stations",
    "duration": "fleet-duration",
    "ramp": "fleet-ramp",
    "heartbeat": "fleet-heartbeat",
    "meter": "fleet-meter",
    "prefix": "fleet-prefix",
}
CHART_HEIGHT = 220


def browser_client(identity: str, config: FleetConfig) -> RPCClient:
    """One station's client in the page (the fleet's options, the page's WebSocket)."""
    return BrowserOCPPClient(**client_options(identity, config))


class FleetView:
    def __init__(self, page: Page, target: Target) -> None:
        self.page, self.target = page, target
        self.start_button, self.stop_button = by_id("fleet-start"), by_id("fleet-stop")
        self.state, self.chart, self.rows = (
            by_id("fleet-state"),
            by_id("fleet-chart"),
            by_id("fleet-rows"),
        )
        self.fleet: Fleet | None = None
        self.series = FleetSeries()
        self.task: asyncio.Task[Any] | None = None
        self.last: FleetSnapshot | None = None
        page.listen(self.start_button, "click", lambda _: self.start())
        page.listen(self.stop_button, "click", lambda _: self.stop())
        self.draw_chart()

    def start(self) -> None:
        if self.task is not None and not self.task.done():
            return
        self.target.clear_error()
        try:
            config = fleet_config(self.target.raw(FIELDS))
        except SettingsError as error:
            self.target.settings_error(error, FIELDS)
            return
        self.target.remember(list(FIELDS.values()))
        fleet = self.fleet = Fleet(config, client_factory=browser_client)
        series = self.series = FleetSeries()
        fleet.stats.on_call(lambda action, outcome, s: series.add(fleet.stats.clock(), outcome, s))
        fleet.subscribe(self._on_snapshot)
        self.task = self.page.spawn(self._run(fleet), "the fleet")
        self.start_button.disabled, self.stop_button.disabled = True, False
        set_verdict(self.state, "running", f"running: {config.stations} stations")

    async def _run(self, fleet: Fleet) -> None:
        try:
            final = await fleet.run()
        finally:
            self.start_button.disabled, self.stop_button.disabled = False, True
        boots = final.boots
        state = "pass" if boots.accepted == boots.stations else "fail"
        set_verdict(self.state, state, f"finished: {boots.accepted} of {boots.stations} booted")

    def stop(self) -> None:
        if self.fleet is None or self.task is None or self.task.done():
            return
        self.fleet.stop()
        self.stop_button.disabled = True
        set_verdict(self.state, "stopping", "stopping: closing the stations")

    def _on_snapshot(self, snapshot: FleetSnapshot) -> None:
        self.last = snapshot
        self.series.advance(snapshot.elapsed_s)
        figures = headline(snapshot)
        for key in ("elapsed", "booted", "connected", "calls", "errors", "sessions"):
            self.page.set_text(by_id(f"ff-{key}"), f"ff-{key}", figures[key])
        self.page.set_text(
            by_id("ff-boots"), "ff-boots", f"Boots: {figures['boots']} · {figures['disconnects']}"
        )
        markup = "".join(
            f'<tr data-action="{esc(row[0])}">'
            + "".join(
                f'<td data-label="{label}">{esc(cell)}</td>'
                for label, cell in zip(LABELS, row, strict=True)
            )
            + "</tr>"
            for row in action_rows(snapshot)
        )
        self.page.set_html(self.rows, "fleet-rows", markup)
        self.draw_chart()

    def draw_chart(self) -> None:
        width = int(self.chart.clientWidth or 640)
        self.page.set_html(
            self.chart, "fleet-chart", chart_svg(self.series.points, width, CHART_HEIGHT)
        )


LABELS = ("Action", "Calls", "OK", "Errors", "Timeouts", "Lost", "p50 ms", "p99 ms", "max ms")
