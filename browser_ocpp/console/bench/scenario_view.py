"""The Scenarios view: a Python editor (prefilled with an example), Run/Stop, the
live step log, a verdict per step and the run's verdict."""

from __future__ import annotations

import asyncio
from typing import Any

from ...scenario import Scenario, Settings, load_source, run_cases
from ..model.bench_form import scenario_settings
from ..model.example_scenario import EXAMPLE_SCENARIO
from ..model.run_log import RunLog
from ..model.settings import SettingsError
from ..ui.dom import Page, by_id, esc
from .render import badge, log_html, set_verdict, steps_html
from .target import Target

__all__ = ["ScenarioView"]

FIELDS = {"identity": "scenario-identity", "timeout": "scenario-timeout"}
RENDER_EVERY_S = 0.15


class ScenarioView:
    def __init__(self, page: Page, target: Target) -> None:
        self.page, self.target = page, target
        self.editor = by_id("scenario-editor")
        self.run_button, self.stop_button = by_id("scenario-run"), by_id("scenario-stop")
        self.verdict, self.summary = by_id("scenario-verdict"), by_id("scenario-summary")
        self.cases, self.lines = by_id("scenario-cases"), by_id("scenario-log")
        self.count = by_id("scenario-log-count")
        self.editor.value = target.stored.get("scenario-editor") or EXAMPLE_SCENARIO
        self.log: RunLog | None = None
        self.task: asyncio.Task[Any] | None = None
        self._render_handle: Any = None
        page.listen(self.run_button, "click", lambda _: self.run())
        page.listen(self.stop_button, "click", lambda _: self.stop())
        page.listen(by_id("scenario-reset"), "click", lambda _: self.reset())
        page.listen(self.editor, "keydown", self._on_key)

    def _on_key(self, event: Any) -> None:
        if event.key == "Tab":  # indent, not leave the editor
            event.preventDefault()
            start, end = int(self.editor.selectionStart), int(self.editor.selectionEnd)
            text = str(self.editor.value)
            self.editor.value = text[:start] + "    " + text[end:]
            self.editor.selectionStart = self.editor.selectionEnd = start + 4
        elif event.key == "Enter" and (event.ctrlKey or event.metaKey):
            event.preventDefault()
            self.run()

    def reset(self) -> None:
        self.editor.value = EXAMPLE_SCENARIO

    def _load(self) -> tuple[list[Scenario], Settings] | None:
        """The editor's scenarios and the settings, or None after saying what is wrong."""
        self.target.clear_error()
        try:
            settings = scenario_settings(self.target.raw(FIELDS))
        except SettingsError as error:
            self.target.settings_error(error, FIELDS)
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
        if self.task is not None and not self.task.done():
            return
        loaded = self._load()
        if loaded is None:
            return
        cases, settings = loaded
        self.target.remember([*FIELDS.values(), "scenario-editor"])
        self.target.stored["scenario-editor"] = str(self.editor.value)
        self.log = RunLog(cases)
        self.task = self.page.spawn(self._run(cases, settings, self.log), "the scenario run")
        self._buttons(running=True)
        self.render()

    async def _run(self, cases: list[Scenario], settings: Settings, log: RunLog) -> None:
        try:
            await run_cases(cases, settings, lambda event: self._event(log, event))
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
