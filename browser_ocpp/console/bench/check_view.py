"""The "Check a CSMS" view: the conformance pack for the chosen version, run case by
case into a live table (id, title, clause, verdict, reason); a click on a row shows
its steps and the frames that decided it."""

from __future__ import annotations

import asyncio
from typing import Any

from ...scenario import Settings, run_cases
from ...scenario.conformance import cases_for
from ..model.bench_form import scenario_settings
from ..model.run_log import RunLog
from ..model.settings import SettingsError
from ..ui.dom import Page, by_id, esc, present
from .render import badge, case_detail, set_verdict
from .target import Target

__all__ = ["CheckView"]

FIELDS = {"identity": "check-identity", "timeout": "check-timeout"}
RENDER_EVERY_S = 0.2


class CheckView:
    def __init__(self, page: Page, target: Target) -> None:
        self.page, self.target = page, target
        self.run_button, self.stop_button = by_id("check-run"), by_id("check-stop")
        self.verdict, self.summary = by_id("check-verdict"), by_id("check-summary")
        self.rows = by_id("check-rows")
        self.log: RunLog | None = None
        self.opened: set[str] = set()
        self.task: asyncio.Task[Any] | None = None
        self._render_handle: Any = None
        page.listen(self.run_button, "click", lambda _: self.run())
        page.listen(self.stop_button, "click", lambda _: self.stop())
        page.listen(self.rows, "click", self._on_click)
        page.listen(self.rows, "keydown", self._on_key)

    def run(self) -> None:
        if self.task is not None and not self.task.done():
            return
        self.target.clear_error()
        try:
            settings = scenario_settings(self.target.raw(FIELDS))
        except SettingsError as error:
            self.target.settings_error(error, FIELDS)
            return
        self.target.remember(list(FIELDS.values()))
        cases = cases_for(settings.protocol)
        self.log, self.opened = RunLog(cases), set()
        self.task = self.page.spawn(self._run(settings, self.log), "the conformance check")
        self._buttons(running=True)
        self.render()

    async def _run(self, settings: Settings, log: RunLog) -> None:
        try:
            await run_cases(cases_for(settings.protocol), settings, lambda e: self._event(log, e))
            log.finished = True
        finally:
            self._buttons(running=False)
            self.render()

    def _event(self, log: RunLog, event: Any) -> None:
        log.apply(event)
        if self._render_handle is None:
            self._render_handle = self.page.loop.call_later(RENDER_EVERY_S, self.render)

    def stop(self) -> None:
        if self.task is None or self.task.done():
            return
        self.task.cancel()
        if self.log is not None:
            self.log.stop()
        self.render()

    def _buttons(self, running: bool) -> None:
        self.run_button.disabled = running
        self.stop_button.disabled = not running

    def _toggle(self, event: Any) -> None:
        """Open or close the row clicked (a click inside an open detail does neither)."""
        if present(event.target.closest(".case-detail")):
            return
        row = event.target.closest("tr[data-case]")
        if not present(row):
            return
        self.opened.symmetric_difference_update({str(row.dataset.case)})
        self.render()

    def _on_click(self, event: Any) -> None:
        self._toggle(event)

    def _on_key(self, event: Any) -> None:
        if event.key in ("Enter", " ") and str(event.target.tagName) == "TR":
            event.preventDefault()
            self._toggle(event)

    def render(self) -> None:
        self._render_handle = None
        log = self.log
        if log is None:
            return
        verdict = log.verdict
        if log.stopped:
            set_verdict(self.verdict, "stopped")
        elif not log.finished:
            set_verdict(self.verdict, "running")
        else:
            set_verdict(self.verdict, str(verdict) if verdict else "none")
        self.summary.textContent = log.summary()
        markup = []
        for row in log.rows.values():
            opened = row.id in self.opened
            expanded = "true" if opened else "false"
            markup.append(
                f'<tr class="case-row" data-case="{esc(row.id)}" data-testid="check-row" '
                f'data-verdict="{esc(row.state)}" tabindex="0" aria-expanded="{expanded}">'
                f'<td class="case-id" data-label="Case">{esc(row.id)}</td>'
                f'<td data-label="Title">{esc(row.title)}</td>'
                f'<td class="clause" data-label="Clause">{esc(row.clause)}</td>'
                f'<td data-label="Verdict">{badge(row.state)}</td>'
                f'<td class="reason" data-label="Reason">{esc(row.reason)}</td></tr>'
            )
            if opened:
                markup.append(
                    f'<tr class="case-detail" data-testid="check-detail"><td colspan="5">'
                    f"{case_detail(row)}</td></tr>"
                )
        self.page.set_html(self.rows, "check-rows", "".join(markup))
