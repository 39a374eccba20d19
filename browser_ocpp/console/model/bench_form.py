"""The test bench's forms, checked: where a scenario or the conformance pack runs
(:class:`~browser_ocpp.scenario.Settings`) and what a fleet does
(:class:`~browser_ocpp.fleet.FleetConfig`).  A bad value raises
:class:`~.settings.SettingsError` naming the field."""

from __future__ import annotations

from typing import Any

from ...fleet import FleetConfig, Profile
from ...rpc.versions import SUPPORTED_PROTOCOLS
from ...scenario import Settings
from .settings import SettingsError, _number, coerce_settings

__all__ = ["MAX_TAB_STATIONS", "fleet_config", "scenario_settings"]

MAX_TAB_STATIONS = 500
"""The most stations the fleet view starts in one tab."""


def _num(raw: dict[str, Any], key: str, label: str, default: Any = None, **limits: Any) -> float:
    """The form's ``key`` as a number within ``limits``; the error names ``key``."""
    try:
        return _number(raw.get(key, default), label, **limits)
    except SettingsError as exc:
        raise SettingsError(key, exc.message) from None


def _csms(raw: dict[str, Any]) -> str:
    try:
        csms = coerce_settings({"endpoint": raw.get("csms", "")})["endpoint"]
    except SettingsError as exc:
        raise SettingsError("csms", exc.message.replace("endpoint", "CSMS URL")) from None
    if not csms:
        raise SettingsError("csms", "Enter the CSMS URL (ws://… or wss://…)")
    return str(csms)


def _protocol(raw: dict[str, Any]) -> str:
    protocol = str(raw.get("protocol", ""))
    if protocol not in SUPPORTED_PROTOCOLS:
        raise SettingsError("protocol", f"unknown OCPP version {protocol!r}")
    return protocol


def _identity(raw: dict[str, Any], key: str) -> str:
    try:
        text = coerce_settings({"identity": raw.get(key, "")})["identity"]
    except SettingsError as exc:
        raise SettingsError(key, exc.message) from None
    if not text or set(text) & set("/?#% "):
        raise SettingsError(key, "the identity has 1 to 48 characters, no colon, / ? # % or space")
    return str(text)


def scenario_settings(raw: dict[str, Any]) -> Settings:
    """Settings for a scenario or the pack from the form's ``csms``, ``protocol``,
    ``identity``, ``id_tag`` and ``timeout`` (seconds)."""
    id_tag = str(raw.get("id_tag", "")).strip() or "TAG-0001"
    return Settings(
        csms=_csms(raw),
        protocol=_protocol(raw),
        identity=_identity(raw, "identity"),
        timeout_s=_num(raw, "timeout", "timeout", 10, minimum=0.5, maximum=300),
        id_tag=id_tag,
    )


def fleet_config(raw: dict[str, Any]) -> FleetConfig:
    """A fleet from the form's ``csms``, ``protocol``, ``prefix``, ``stations``,
    ``duration``, ``ramp``, ``heartbeat`` and ``meter`` (seconds); FleetConfig's own
    checks name the field too."""
    stations = int(_num(raw, "stations", "stations", minimum=1, integer=True))
    if stations > MAX_TAB_STATIONS:
        raise SettingsError("stations", f"stations must be at most {MAX_TAB_STATIONS} in one tab")
    profile = Profile(
        heartbeat_s=_num(raw, "heartbeat", "heartbeat", 10, minimum=1, maximum=3600),
        meter_interval_s=_num(raw, "meter", "meter interval", 5, minimum=1, maximum=3600),
    )
    prefix = str(raw.get("prefix", "")).strip()
    if not prefix:
        raise SettingsError("prefix", "Enter an identity prefix (stations are PREFIX001…)")
    config = FleetConfig(
        csms=_csms(raw),
        stations=stations,
        duration_s=_num(raw, "duration", "duration", minimum=1, maximum=24 * 3600),
        protocol=_protocol(raw),
        identity_prefix=prefix,
        ramp_s=_num(raw, "ramp", "ramp", 0, minimum=0, maximum=3600),
        profile=profile,
    )
    try:
        config.check()
    except ValueError as exc:
        field = "prefix" if "identit" in str(exc) else "stations"
        raise SettingsError(field, str(exc)) from None
    return config
