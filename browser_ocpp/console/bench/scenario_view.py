"""The Scenarios view: a Python editor (prefilled with an example), Run/Stop, the
live step log, a verdict per step and the run's verdict."""

from __future__ import annotations

from ...scenario import Scenario, Settings, load_source
from ..model.example_scenario import EXAMPLE_SCENARIO
from ..model.run_log import RunLog
from ..ui.dom import Page, by_id, esc
from .case_run import CaseRunView
from .render import badge, log_html, steps_html
from .target import Target

__all__ = ["ScenarioView"]

FIELDS = {"identity": "scenario-identity", "timeout": "scenario-timeout"}


class ScenarioView(CaseRunView):
    render_every_s = 0.15
    what = "the scenario run"

    def __init__(self, page: Page, target: Target) -> None:
        super().__init__(page, target, "scenario", FIELDS)
        self.editor = by_id("scenario-editor")
        self.cases, self.lines = by_id("scenario-cases"), by_id("scenario-log")
        self.count = by_id("scenario-log-count")
        self.editor.value = target.stored.get("scenario-editor") or EXAMPLE_SCENARIO
        page.listen(by_id("scenario-reset"), "click", lambda _: self.reset())
        # static/page.js: Tab indents, Ctrl+Enter runs.
        self.editor.dataset.indent = "4"
        self.editor.dataset.submit = "#scenario-run"

    def reset(self) -> None:
        self.editor.value = EXAMPLE_SCENARIO

    def _load(self) -> tuple[list[Scenario], Settings] | None:
        """The editor's scenarios and the settings, or None after saying what is wrong."""
        settings = self.settings()
        if settings is None:
            return None
        try:
            cases = load_source(str(self.editor.value), "scenario.py")
        except SyntaxError as error:
            self.target.show_error(f"Line {error.lineno}: {error.msg}", "scenario-editor")
            return None
        except Exception as error:  # the file's own code raised while loading
            self.target.show_error(
                f"The scenario did not load: {type(error).__name__}: {error}", "scenario-editor"
            )
            return None
        if not cases:
            self.target.show_error(
                "No scenario found: mark an async function with @scenario, or name it "
                "scenario_something(bench)",
                "scenario-editor",
            )
            return None
        return cases, settings

    def run(self) -> None:
        if self.running:
            return
        loaded = self._load()
        if loaded is None:
            return
        cases, settings = loaded
        self.target.remember([*FIELDS.values(), "scenario-editor"])
        self.target.stored["scenario-editor"] = str(self.editor.value)
        self.start(cases, settings)

    def render_rows(self, log: RunLog) -> None:
        items = []
        for row in log.rows.values():
            title = f'<span class="case-id">{esc(row.id)}</span> {esc(row.title)}'
            reason = f'<div class="case-reason">{esc(row.reason)}</div>' if row.reason else ""
            items.append(
                f'<li class="case" data-testid="scenario-case" data-verdict="{esc(row.state)}">'
                f'<div class="case-head">{badge(row.state)}{title}</div>{reason}'
                f"{steps_html(row.steps)}</li>"
            )
        self.page.set_html(self.cases, "scenario-cases", "".join(items))
        if self.page.set_html(self.lines, "scenario-log", log_html(log.lines)):
            self.lines.scrollTop = self.lines.scrollHeight
        dropped = f", {log.lines_dropped} older dropped" if log.lines_dropped else ""
        self.count.textContent = f"({len(log.lines)} lines{dropped})"
