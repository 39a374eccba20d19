"""The settings form: reading and writing its fields, storage, checking before a
connect, the URL preview."""

from __future__ import annotations

import json
import math
from typing import Any

import js

from ..model import settings as model
from .dom import by_id, by_selector, by_testid
from .elements import read_all
from .notices import Notices
from .window import window

__all__ = ["FIELDS", "SettingsForm", "reconnect_options"]

# form field -> (data-testid, kind)
FIELDS: dict[str, tuple[str, str]] = {
    "endpoint": ("endpoint", "text"),
    "identity": ("identity", "text"),
    "version": ("version", "text"),
    "strict": ("strict", "check"),
    "offer_all": ("offer-all", "check"),
    "reconnect": ("reconnect", "check"),
    "max_reconnects": ("max-reconnects", "text"),
    "backoff_min": ("backoff-min", "text"),
    "backoff_max": ("backoff-max", "text"),
    "vendor": ("vendor", "text"),
    "model": ("model", "text"),
    "serial": ("serial", "text"),
    "firmware": ("firmware", "text"),
    "connectors": ("connectors", "text"),
    "meter_interval": ("meter-interval", "text"),
    "power_kw": ("power-kw", "text"),
    "id_tag": ("id-tag", "text"),
    "simulate_soc": ("simulate-soc", "check"),
    "initial_soc": ("initial-soc", "text"),
    "battery_kwh": ("battery-kwh", "text"),
}


def reconnect_options(settings: dict[str, Any]) -> dict[str, Any]:
    limit = settings["max_reconnects"]
    return {
        "reconnect": settings["reconnect"],
        "max_reconnects": math.inf if limit is None else limit,
        "backoff_min": settings["backoff_min"],
        "backoff_max": settings["backoff_max"],
    }


class SettingsForm:
    def __init__(self, notices: Notices) -> None:
        self.notices = notices
        self.inputs = {key: by_testid(testid) for key, (testid, _) in FIELDS.items()}
        for key, element in self.inputs.items():
            element.dataset.keep = key  # static/page.js writes it down as the page goes
        by_selector("html").dataset.keepKey = model.FORM_KEY
        self.stored_custom: dict[str, Any] = {}
        self.extra: dict[str, str] = {}  # other parts' state saved with the settings
        self.error_shown = False  # a field error is on show (see recheck)

    def default_endpoint(self) -> str:
        return model.default_endpoint(window.location.protocol, window.location.host)

    def value(self, key: str) -> str:
        return str(self.inputs[key].value).strip()

    def read(self) -> dict[str, Any]:
        kinds = {key: kind for key, (_, kind) in FIELDS.items()}
        values = read_all(
            [
                (self.inputs[key], "checked" if kind == "check" else "value")
                for key, kind in kinds.items()
            ]
        )
        return {
            key: bool(value) if kind == "check" else str(value if value is not None else "")
            for (key, kind), value in zip(kinds.items(), values, strict=True)
        }

    def write(self, settings: dict[str, Any]) -> None:
        for key, (_, kind) in FIELDS.items():
            element = self.inputs[key]
            value = settings.get(key)
            if kind == "check":
                element.checked = bool(value)
            else:
                element.value = "" if value is None else model.plain(value)

    def current(self) -> dict[str, Any] | None:
        """The form's settings, or None while one is invalid (nothing shown)."""
        try:
            return model.coerce_settings(self.read())
        except model.SettingsError:
            return None

    def load(self) -> dict[str, Any]:
        stored: dict[str, Any] = {}
        try:
            stored = _stored_dict(window.localStorage.getItem(model.STORAGE_KEY))
            stored.update(self._form_as_it_went())
        except Exception as exc:
            js.console.warn(f"[console] stored settings ignored: {exc!r}")
        settings = model.coerce_settings(stored, strict=False)
        if not settings["endpoint"]:
            settings["endpoint"] = self.default_endpoint()
        if not settings["identity"]:
            settings["identity"] = model.random_identity()
        self.stored_custom = {
            "action": str(stored.get("custom_action") or ""),
            "payload": stored.get("custom_payload"),
            "raw": bool(stored.get("custom_raw")),
        }
        return settings

    @staticmethod
    def _form_as_it_went() -> dict[str, Any]:
        """The form as static/page.js wrote it when this tab's page last went (a reload):
        newer than the settings saved as they changed, which Python in the worker may
        not have had the time to write (taken once)."""
        text = window.sessionStorage.getItem(model.FORM_KEY)
        window.sessionStorage.removeItem(model.FORM_KEY)
        return _stored_dict(text)

    def save(self) -> None:
        raw = self.read()
        if raw["endpoint"].strip() == self.default_endpoint():
            raw["endpoint"] = ""  # follow the page's host if it moves
        raw.update(self.extra)
        try:
            window.localStorage.setItem(model.STORAGE_KEY, json.dumps(raw))
        except Exception as exc:  # storage full or disabled
            js.console.warn(f"[console] settings not saved: {exc!r}")

    def checked(self) -> dict[str, Any] | None:
        """The form's settings, or None after showing what is wrong (in one place: the
        notice of the field's card, the field marked; :meth:`recheck` clears it once
        the value is fixed)."""
        try:
            settings = model.check_form(self.read())
        except model.SettingsError as exc:
            self.show_error(exc)
            return None
        self.show_error(None)
        return settings

    def recheck(self) -> None:
        """After an edit: a field error shown before follows the form (gone when fixed)."""
        if self.error_shown:
            self.checked()

    def show_error(self, error: model.SettingsError | None) -> None:
        for element in self.inputs.values():
            element.removeAttribute("aria-invalid")
        self.error_shown = error is not None
        target = ""
        if error is not None:
            element = self.inputs.get(error.field)
            if element is not None:
                element.setAttribute("aria-invalid", "true")
            target = "settings-error" if error.field in model.STATION_KEYS else "conn-error"
        for testid in ("conn-error", "settings-error"):
            self.notices.show(testid, error.message if testid == target and error else "")

    def update_url_preview(self) -> None:
        identity = self.value("identity")
        by_id("url-preview").textContent = model.preview_url(self.value("endpoint"), identity)
        by_id("top-ident").textContent = identity


def _stored_dict(text: Any) -> dict[str, Any]:
    """A JSON object from storage (nothing stored: empty); ValueError otherwise."""
    if not text:
        return {}
    loaded = json.loads(str(text))
    if not isinstance(loaded, dict):
        raise ValueError(f"not a JSON object: {str(text)[:40]!r}")
    return loaded
