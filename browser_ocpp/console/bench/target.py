"""The bench's shared form (the CSMS under test) and its error notice, kept across
reloads in localStorage with the views' own fields."""

from __future__ import annotations

import contextlib
import json

from ..model.settings import SettingsError, default_endpoint
from ..ui.dom import by_id, present
from ..ui.window import document, window

__all__ = ["STORAGE_KEY", "Target"]

STORAGE_KEY = "browser-ocpp.bench.v1"
TARGET_FIELDS = {"csms": "bench-csms", "protocol": "bench-protocol", "id_tag": "bench-idtag"}


class Target:
    """Reads the form's values, shows what is wrong with them, and remembers them."""

    def __init__(self) -> None:
        self.error = by_id("bench-error")
        self.stored: dict[str, str] = {}
        try:
            loaded = json.loads(window.localStorage.getItem(STORAGE_KEY) or "{}")
            if isinstance(loaded, dict):
                self.stored = {str(k): str(v) for k, v in loaded.items()}
        except Exception:  # storage off, or not ours: start from the defaults
            self.stored = {}
        location = window.location
        by_id("bench-csms").value = default_endpoint(str(location.protocol), str(location.host))
        for element_id, value in self.stored.items():
            element = by_id(element_id)
            if present(element):
                element.value = value

    def value(self, element_id: str) -> str:
        return str(by_id(element_id).value)

    def raw(self, fields: dict[str, str]) -> dict[str, str]:
        """The target's values and a view's (``{key: element id}``), as typed."""
        return {
            key: self.value(element_id) for key, element_id in {**TARGET_FIELDS, **fields}.items()
        }

    def remember(self, element_ids: list[str]) -> None:
        for element_id in [*TARGET_FIELDS.values(), *element_ids]:
            self.stored[element_id] = self.value(element_id)
        with contextlib.suppress(Exception):  # storage full or off: the bench still runs
            window.localStorage.setItem(STORAGE_KEY, json.dumps(self.stored))

    def clear_error(self) -> None:
        self.error.hidden = True
        self.error.textContent = ""
        for element in document.querySelectorAll('.bench [aria-invalid="true"]'):
            element.removeAttribute("aria-invalid")

    def show_error(self, message: str, element_id: str | None = None) -> None:
        self.error.textContent = message
        self.error.hidden = False
        if element_id is not None:
            element = by_id(element_id)
            if present(element):
                element.setAttribute("aria-invalid", "true")
                element.focus()

    def settings_error(self, error: SettingsError, fields: dict[str, str]) -> None:
        """Show ``error`` at the input of its field (a target's or the view's)."""
        self.show_error(error.message, {**TARGET_FIELDS, **fields}.get(error.field))
