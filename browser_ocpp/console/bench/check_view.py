"""The "Check a CSMS" view: the conformance pack for the chosen version, run case by
case into a live table (id, title, clause, verdict, reason); a click on a row shows
its steps and the frames that decided it."""

from __future__ import annotations

from typing import Any

from ...scenario.conformance import cases_for
from ..model.run_log import RunLog
from ..ui.dom import Page, by_id, esc, present
from .case_run import CaseRunView
from .render import badge, case_detail
from .target import Target

__all__ = ["CheckView"]

FIELDS = {"identity": "check-identity", "timeout": "check-timeout"}


class CheckView(CaseRunView):
    render_every_s = 0.2
    what = "the conformance check"

    def __init__(self, page: Page, target: Target) -> None:
        super().__init__(page, target, "check", FIELDS)
        self.rows = by_id("check-rows")
        self.opened: set[str] = set()
        page.listen(self.rows, "click", self._on_click)

    def run(self) -> None:
        if self.running:
            return
        settings = self.settings()
        if settings is None:
            return
        self.target.remember(list(FIELDS.values()))
        self.opened = set()
        self.start(cases_for(settings.protocol), settings)

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

    def render_rows(self, log: RunLog) -> None:
        markup = []
        for row in log.rows.values():
            opened = row.id in self.opened
            expanded = "true" if opened else "false"
            markup.append(
                f'<tr class="case-row" data-case="{esc(row.id)}" data-testid="check-row" '
                f'data-verdict="{esc(row.state)}" tabindex="0" aria-expanded="{expanded}" '
                "data-toggles>"
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
