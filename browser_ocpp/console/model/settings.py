"""The console's settings: defaults, what each field accepts, what makes a station.

Pure: no ``js``, so it runs (and is tested) under CPython as well as in the page.
"""

from __future__ import annotations

import math
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from ...peer.urls import station_url

__all__ = [
    "DEFAULTS",
    "FORM_KEY",
    "LIVE_KEYS",
    "STATION_KEYS",
    "STORAGE_KEY",
    "VERSIONS",
    "SettingsError",
    "check_form",
    "coerce_settings",
    "default_endpoint",
    "offered_protocols",
    "plain",
    "preview_url",
    "random_identity",
    "signature",
]

STORAGE_KEY = "browser-ocpp.console.v1"
FORM_KEY = "browser-ocpp.console.form"  # in sessionStorage: static/page.js writes it
MAX_CONNECTORS = 8
VERSIONS = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")

DEFAULTS: dict[str, Any] = {
    "endpoint": "",  # empty: ws(s)://<page host>/ocpp, computed in the page
    "identity": "",  # empty: a random EMU-xxxx, chosen once and then kept
    "version": "ocpp1.6",
    "strict": True,
    "offer_all": False,  # offer every version at connect: the CSMS picks
    "reconnect": True,
    "max_reconnects": None,  # None: unlimited
    "backoff_min": 1000,
    "backoff_max": 30000,
    "vendor": "BrowserOCPP",
    "model": "Emulator",
    "serial": "EMU-SN-0001",
    "firmware": "1.0.0",
    "connectors": 2,
    "meter_interval": 10.0,
    "power_kw": 11.0,
    "id_tag": "TAG-0001",
    "simulate_soc": True,
    "initial_soc": 20.0,
    "battery_kwh": 60.0,
    "custom_action": "",
}

STATION_KEYS = (
    "vendor",
    "model",
    "serial",
    "firmware",
    "connectors",
    "meter_interval",
    "power_kw",
    "id_tag",
    "simulate_soc",
    "initial_soc",
    "battery_kwh",
)
"""The station's settings (the rest are the connection's)."""
LIVE_KEYS = ("reconnect", "max_reconnects", "backoff_min", "backoff_max")
"""Reconnect options: they apply to the live client, the station stays."""


class SettingsError(ValueError):
    """A setting the user typed cannot be used; ``field`` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


def random_identity() -> str:
    return "EMU-" + secrets.token_hex(2).upper()


def default_endpoint(protocol: str, host: str) -> str:
    """``ws://<host>/ocpp`` (``wss`` when the page came over https)."""
    scheme = "wss" if protocol == "https:" else "ws"
    return f"{scheme}://{host or '127.0.0.1'}/ocpp"


def _number(
    raw: Any, name: str, *, minimum: float, integer: bool = False, maximum: float = math.inf
) -> float:
    if isinstance(raw, bool):
        raise SettingsError(name, f"{name} must be a number")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise SettingsError(name, f"{name} must be a number") from None
    if not math.isfinite(value) or value < minimum or value > maximum:
        high = "" if maximum == math.inf else f" and at most {maximum:g}"
        raise SettingsError(name, f"{name} must be at least {minimum:g}{high}")
    if integer:
        if value != int(value):
            raise SettingsError(name, f"{name} must be a whole number")
        return int(value)
    return value


def coerce_settings(raw: dict[str, Any], *, strict: bool = True) -> dict[str, Any]:
    """Settings from the form or from storage, typed and checked.

    With ``strict`` a bad value raises :class:`SettingsError`; without it (values
    restored from storage) a bad value falls back to its default.
    """
    out = dict(DEFAULTS)
    for key, default in DEFAULTS.items():
        if key not in raw:
            continue
        try:
            out[key] = _coerce_one(key, raw[key], default)
        except SettingsError:
            if strict:
                raise
    if out["backoff_max"] < out["backoff_min"]:
        if strict:
            raise SettingsError("backoff_max", "backoff max must not be below backoff min")
        out["backoff_min"], out["backoff_max"] = DEFAULTS["backoff_min"], DEFAULTS["backoff_max"]
    return out


def check_form(raw: dict[str, Any]) -> dict[str, Any]:
    """The form's settings, ready to connect with; raises :class:`SettingsError` for
    the first field that is wrong (an empty endpoint or identity among them)."""
    settings = coerce_settings(raw)
    if not settings["endpoint"]:
        raise SettingsError("endpoint", "Enter the CSMS endpoint (ws://… or wss://…)")
    if not settings["identity"]:
        raise SettingsError("identity", "Enter the station's identity")
    return settings


def _coerce_one(key: str, value: Any, default: Any) -> Any:
    if key == "version":
        if value not in VERSIONS:
            raise SettingsError(key, f"unknown OCPP version {value!r}")
        return value
    if key == "max_reconnects":
        if value is None or (isinstance(value, str) and value.strip() == ""):
            return None
        return _number(value, "max reconnects", minimum=0, integer=True)
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.lower() in ("1", "true", "on", "yes")
        return bool(value)
    if key == "endpoint":
        return _endpoint(str(value).strip())
    if key == "identity":
        text = str(value).strip()
        if len(text) > 48 or ":" in text:
            raise SettingsError(key, "the identity has 1 to 48 characters and no colon")
        return text
    if key == "connectors":
        return _number(value, "connectors", minimum=1, maximum=MAX_CONNECTORS, integer=True)
    if key in ("backoff_min", "backoff_max"):
        return _number(value, key.replace("_", " ") + " (ms)", minimum=1, integer=True)
    if key == "meter_interval":
        return _number(value, "meter interval", minimum=0)
    if key == "power_kw":
        return _number(value, "power", minimum=0.1, maximum=1000)
    if key == "initial_soc":
        return _number(value, "initial SoC", minimum=0, maximum=100)
    if key == "battery_kwh":
        return _number(value, "battery", minimum=1, maximum=1000)
    text = str(value).strip()
    if key in ("vendor", "model", "id_tag") and not text:
        raise SettingsError(key, f"{key.replace('_', ' ')} must not be empty")
    return text


def _endpoint(text: str) -> str:
    """A ``ws://`` or ``wss://`` URL with a host and a port the browser accepts."""
    if not text:
        return text
    if not re.match(r"^wss?://[^/\s]+", text, re.IGNORECASE):
        raise SettingsError("endpoint", "the endpoint must start with ws:// or wss://")
    if re.search(r"\s", text):
        raise SettingsError("endpoint", "the endpoint must not contain spaces")
    try:
        parts = urlsplit(text)
        port = parts.port  # raises on a port out of range or not a number
    except ValueError:
        port = 0
    if port == 0:
        raise SettingsError("endpoint", "the endpoint's port must be a number from 1 to 65535")
    if not parts.hostname:
        raise SettingsError("endpoint", "the endpoint needs a host name (ws://host:port/path)")
    if parts.fragment:
        raise SettingsError("endpoint", "the endpoint must not have a #fragment")
    return text


def offered_protocols(settings: dict[str, Any]) -> list[str]:
    """The subprotocols offered at connect: the chosen version, then (``offer_all``)
    every other one, newest first; the CSMS picks."""
    chosen = settings["version"]
    if not settings.get("offer_all"):
        return [chosen]
    return [chosen] + [v for v in reversed(VERSIONS) if v != chosen]


def preview_url(endpoint: str, identity: str) -> str:
    """The URL the station connects to, as the client builds it (the identity goes into
    the path, before any query), or ``—`` without an endpoint."""
    if not endpoint:
        return "—"
    try:
        return station_url(endpoint, identity)
    except ValueError:
        return "—"


def signature(settings: dict[str, Any]) -> tuple[Any, ...]:
    """What makes a station (and its client) different; reconnect options apply live."""
    keys = sorted(key for key in DEFAULTS if key not in LIVE_KEYS and key != "custom_action")
    return tuple(settings.get(key) for key in keys)


def plain(value: Any) -> str:
    """``10`` for 10.0, ``2.5`` for 2.5, text as is."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
