"""The test bench page: the shared target form, the tabs, and the three views
(scenarios, the conformance check, a fleet), each a module of this package."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..ui.dom import Page, by_id
from ..ui.elements import flush_writes
from ..ui.output import route_output_to_console
from ..ui.window import window
from .check_view import CheckView
from .fleet_view import FleetView
from .scenario_view import ScenarioView
from .target import Target

__all__ = ["start"]

VIEWS = ("scenario", "check", "fleet")


class BenchPage:
    def __init__(self) -> None:
        self.target = Target()
        self.page = Page(lambda text: self.target.show_error(text))
        self.scenarios = ScenarioView(self.page, self.target)
        self.check = CheckView(self.page, self.target)
        self.fleet = FleetView(self.page, self.target)
        for name in VIEWS:
            self.page.listen(by_id(f"tab-{name}"), "click", self._shows(name))
        self.page.listen(window, "hashchange", lambda _: self.show_hash())
        self.page.listen(window, "resize", lambda _: self.fleet.draw_chart())

    def _shows(self, name: str) -> Callable[[Any], None]:
        return lambda _event: self.show(name)

    def show_hash(self) -> None:
        name = str(window.location.hash).lstrip("#")
        self.show(name if name in VIEWS else VIEWS[0], push=False)

    def show(self, name: str, push: bool = True) -> None:
        for view in VIEWS:
            selected = view == name
            by_id(f"view-{view}").hidden = not selected
            by_id(f"tab-{view}").setAttribute("aria-selected", str(selected).lower())
        if push and str(window.location.hash) != f"#{name}":
            window.history.replaceState(None, "", f"#{name}")
        if name == "fleet":
            self.fleet.draw_chart()


PAGE: Any = None


async def start() -> None:
    global PAGE
    route_output_to_console()
    PAGE = BenchPage()
    PAGE.show_hash()
    flush_writes()  # the page shows all of it as it says it is ready
    window.consoleProgress("ready")
