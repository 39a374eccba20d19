"""The network & faults card: the offline switch (``station.set_offline``), the offline
queue's length, and ``station.faults``: answers delayed, dropped or refused, and
frames no station should send."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from ...emulator import Station
from ..model.faults import FaultSettings, error_codes, parse_faults
from .dom import Page, by_id, by_testid, describe, esc, present
from .elements import read_all
from .notices import Notices

__all__ = ["FaultsView"]

MISDEEDS = ("disconnect", "malformed", "duplicate", "wrong-type")


class FaultsView:
    """``station()`` is the current station; ``protocol()`` the version its faults
    speak; ``report(text, level)`` tells the activity feed."""

    def __init__(
        self,
        page: Page,
        notices: Notices,
        station: Callable[[], Station | None],
        protocol: Callable[[], str],
        report: Callable[[str, str], None],
    ) -> None:
        self.page, self.notices, self.station = page, notices, station
        self.protocol, self.report = protocol, report
        self.settings = FaultSettings()
        self._codes_for: str | None = None

    def bind(self) -> None:
        listen = self.page.listen
        for testid in ("fault-delay", "fault-actions"):
            listen(by_testid(testid), "input", lambda _e: self.apply())
        for testid in ("fault-reject", "fault-drop"):
            listen(by_testid(testid), "change", lambda _e: self.apply())
        listen(by_testid("offline"), "change", self.on_offline)
        listen(by_id("faults-box"), "click", self.on_click)

    def fill_codes(self) -> None:
        """The refusal codes as the current version spells them."""
        protocol = self.protocol()
        if protocol == self._codes_for:
            return
        self._codes_for = protocol
        select = by_testid("fault-reject")
        chosen = str(select.value)
        options = ['<option value="">— answer normally —</option>']
        options += [f'<option value="{esc(c)}">{esc(c)}</option>' for c in error_codes(protocol)]
        select.innerHTML = "".join(options)
        select.value = chosen if chosen in error_codes(protocol) else ""
        self.apply()

    def apply(self) -> None:
        """The form's fault settings onto the current station (a new one gets them too)."""
        delay, reject, actions, drop = read_all(
            [
                (by_testid("fault-delay"), "value"),
                (by_testid("fault-reject"), "value"),
                (by_testid("fault-actions"), "value"),
                (by_testid("fault-drop"), "checked"),
            ]
        )
        try:
            self.settings = parse_faults(
                str(delay or ""), str(reject or ""), str(actions or ""), bool(drop)
            )
        except ValueError as exc:
            self.notices.show("fault-error", str(exc))
            return
        self.notices.show("fault-error", "")
        station = self.station()
        if station is not None:
            faults = station.faults
            faults.reply_delay_ms = self.settings.reply_delay_ms
            faults.drop_replies = self.settings.drop_replies
            faults.reject_with = self.settings.reject_with
            faults.actions = self.settings.actions
        self.render()

    def render(self) -> None:
        station = self.station()
        queued = len(station.queue) if station is not None else 0
        hint = by_testid("queue-length")
        self.page.set_text(hint, "queue", f"Queue: {queued}")
        hint.dataset.queued = "true" if queued else "false"
        offline = station is not None and station.offline
        switch = by_testid("offline")
        if self.page.cache.get("offline") != str(offline):  # not over a click on its way
            self.page.cache["offline"] = str(offline)
            switch.checked = offline
        switch.disabled = station is None or not (station.booted or offline)
        by_id("faults-box").dataset.active = "true" if self.settings.active else "false"
        self.page.set_text(by_testid("faults-state"), "faults-state", self.summary())
        connected = station is not None and station.online
        for name in MISDEEDS:
            by_testid(f"fault-{name}").disabled = not connected

    def summary(self) -> str:
        s = self.settings
        parts = []
        if s.drop_replies:
            parts.append("dropping commands")
        elif s.reject_with:
            parts.append(f"refusing with {s.reject_with}")
        if s.reply_delay_ms and not s.drop_replies:
            parts.append(f"answering {s.reply_delay_ms / 1000:g} s late")
        if parts and s.actions:
            parts.append("for " + ", ".join(sorted(s.actions)))
        return f"({'; '.join(parts)})" if parts else ""

    def on_offline(self, _event: Any) -> None:
        station = self.station()
        if station is None:
            return
        wanted = bool(by_testid("offline").checked)
        self.page.spawn(station.set_offline(wanted), "Going offline" if wanted else "Going online")

    def on_click(self, event: Any) -> None:
        button = event.target.closest("button[data-fault]")
        station = self.station()
        if not present(button) or station is None:  # (no clicks reach a disabled one)
            return
        name = str(button.dataset.fault)
        faults = station.faults
        misdeeds: dict[str, Callable[[], Coroutine[Any, Any, object]]] = {
            "disconnect": faults.disconnect,
            "malformed": faults.send_malformed,
            "duplicate": faults.send_duplicate_id,
            "wrong-type": faults.send_wrong_type,
        }
        misdeed = misdeeds[name]()
        self.page.spawn(self.commit(name, misdeed), f"Fault {name}")

    async def commit(self, name: str, misdeed: Coroutine[Any, Any, object]) -> None:
        try:
            await misdeed
        except Exception as exc:
            self.report(f"Fault {name} not sent: {describe(exc)}", "error")
            return
        self.report(f"Fault on purpose: {button_text(name)}", "warn")


def button_text(name: str) -> str:
    return {
        "disconnect": "connection dropped without a closing handshake",
        "malformed": "a CALL cut short (not JSON) sent",
        "duplicate": "one CALL sent twice with one message id",
        "wrong-type": "a message of type 7 sent",
    }[name]
