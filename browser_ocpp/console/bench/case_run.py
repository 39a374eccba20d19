"""What the Scenarios and Check views share: Run/Stop buttons over one run of cases
at a time into a :class:`RunLog`, rendered at most every ``render_every_s`` while
events come, with the run's verdict and summary; the rows are each view's own."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ...scenario import Scenario, Settings, run_cases
from ..model.bench_form import scenario_settings
from ..model.run_log import RunLog
from ..model.settings import SettingsError
from ..ui.dom import Page, by_id
from .render import set_verdict
from .target import Target

__all__ = ["CaseRunView"]


class CaseRunView:
    """A view with ``{prefix}-run``, ``-stop``, ``-verdict`` and ``-summary`` elements;
    a subclass implements :meth:`run` (calling :meth:`start`) and :meth:`render_rows`."""

    render_every_s = 0.2
    what = "the run"
    """Named in the error shown if the run fails."""

    def __init__(self, page: Page, target: Target, prefix: str, fields: dict[str, str]) -> None:
        self.page, self.target, self.fields = page, target, fields
        self.run_button, self.stop_button = by_id(f"{prefix}-run"), by_id(f"{prefix}-stop")
        self.verdict, self.summary = by_id(f"{prefix}-verdict"), by_id(f"{prefix}-summary")
        self.log: RunLog | None = None
        self.task: asyncio.Task[Any] | None = None
        self._render_handle: Any = None
        page.listen(self.run_button, "click", lambda _: self.run())
        page.listen(self.stop_button, "click", lambda _: self.stop())

    def run(self) -> None:
        raise NotImplementedError

    def render_rows(self, log: RunLog) -> None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    def settings(self) -> Settings | None:
        """The form's settings, or None after saying what is wrong at its field."""
        self.target.clear_error()
        try:
            return scenario_settings(self.target.raw(self.fields))
        except SettingsError as error:
            self.target.settings_error(error, self.fields)
            return None

    def start(self, cases: Sequence[Scenario], settings: Settings) -> None:
        """Run ``cases`` into a fresh log (the caller checked that none is running)."""
        self.log = log = RunLog(cases)
        self.task = self.page.spawn(self._run(cases, settings, log), self.what)
        self._buttons(running=True)
        self.render()

    async def _run(self, cases: Sequence[Scenario], settings: Settings, log: RunLog) -> None:
        try:
            await run_cases(cases, settings, lambda event: self._event(log, event))
            log.finished = True
        finally:
            self._buttons(running=False)
            self.render()

    def _event(self, log: RunLog, event: Any) -> None:
        log.apply(event)
        if self._render_handle is None:
            self._render_handle = self.page.loop.call_later(self.render_every_s, self.render)

    def stop(self) -> None:
        if not self.running or self.task is None:
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
        self.render_rows(log)
