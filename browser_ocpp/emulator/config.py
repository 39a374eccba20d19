"""Station settings and the configuration table shared by OCPP 1.6 and 2.x.

One store, keyed by the 1.6 configuration key, holds every value as a string.
OCPP 2.x reaches the same values as component/variable pairs
(``OCPPCommCtrlr.HeartbeatInterval`` is 1.6's ``HeartbeatInterval``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from .charging_profiles import MAX_PERIODS, MAX_PROFILES, MAX_STACK_LEVEL
from .local_list import MAX_ENTRIES, MAX_PER_MESSAGE

__all__ = [
    "CONFIG_KEYS",
    "MEASURANDS",
    "ConfigKey",
    "StationConfig",
    "default_configuration",
    "entry",
    "find_key",
    "find_variable",
    "is_known_component",
    "normalize",
]

MAX_CONNECTORS = 8

MEASURANDS: tuple[str, ...] = ("Energy.Active.Import.Register", "Power.Active.Import", "SoC")
"""What the emulated meter can sample (``MeterValuesSampledData``)."""

ValueKind = Literal["seconds", "int", "bool", "measurands", "string"]


@dataclass
class StationConfig:
    """What the emulated station is and how it charges."""

    vendor: str = "ACME"
    model: str = "Emulator"
    serial: str = "EMU-0001"
    firmware: str = "1.0.0"
    connectors: int = 2
    """Number of connectors, 1 to 8 (in 2.x: EVSEs, each with connector 1)."""
    power_kw: float = 11.0
    """Simulated charging power (the hardware limit; charging profiles may lower it)."""
    voltage_v: float = 230.0
    """Line voltage: converts charging limits in A to W."""
    phases: int = 3
    """Phases the station charges on (1 to 3)."""
    meter_interval_s: float = 10.0
    """MeterValues / TransactionEvent(Updated) interval while charging; 0 is off."""
    simulate_soc: bool = True
    initial_soc: float = 20.0
    battery_kwh: float = 60.0
    id_tag: str = "TAG-0001"
    """Default idTag / idToken for local starts."""

    def check(self) -> None:
        """Raise ValueError for settings no station could have."""
        if not 1 <= self.connectors <= MAX_CONNECTORS:
            raise ValueError(f"connectors must be 1 to {MAX_CONNECTORS}, not {self.connectors}")
        if self.phases not in (1, 2, 3):
            raise ValueError(f"phases must be 1, 2 or 3, not {self.phases!r}")
        if not (math.isfinite(self.voltage_v) and self.voltage_v > 0):
            raise ValueError(f"voltage_v must be a finite number > 0, not {self.voltage_v!r}")
        for name in ("power_kw", "meter_interval_s", "battery_kwh"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
        if not 0 <= self.initial_soc <= 100:
            raise ValueError(f"initial_soc must be 0 to 100, not {self.initial_soc!r}")


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One configuration value: its 1.6 key and, if 2.x has it, component/variable
    (and the variable's instance, for those the device model names with one)."""

    key: str
    component: str | None
    variable: str | None
    kind: ValueKind
    readonly: bool = False
    instance: str | None = None


CONFIG_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey("HeartbeatInterval", "OCPPCommCtrlr", "HeartbeatInterval", "seconds"),
    ConfigKey("MeterValueSampleInterval", "SampledDataCtrlr", "TxUpdatedInterval", "seconds"),
    ConfigKey("MeterValuesSampledData", "SampledDataCtrlr", "TxUpdatedMeasurands", "measurands"),
    ConfigKey("ClockAlignedDataInterval", "AlignedDataCtrlr", "Interval", "int"),
    ConfigKey("ConnectionTimeOut", "TxCtrlr", "EVConnectionTimeOut", "int"),
    ConfigKey("StopTransactionOnEVSideDisconnect", "TxCtrlr", "StopTxOnEVSideDisconnect", "bool"),
    ConfigKey("StopTransactionOnInvalidId", "TxCtrlr", "StopTxOnInvalidId", "bool"),
    ConfigKey("AuthorizeRemoteTxRequests", "AuthCtrlr", "AuthorizeRemoteStart", "bool"),
    ConfigKey("LocalAuthorizeOffline", "AuthCtrlr", "LocalAuthorizeOffline", "bool"),
    ConfigKey("LocalPreAuthorize", "AuthCtrlr", "LocalPreAuthorize", "bool"),
    ConfigKey("AllowOfflineTxForUnknownId", "AuthCtrlr", "OfflineTxForUnknownIdEnabled", "bool"),
    ConfigKey("AuthorizationCacheEnabled", "AuthCacheCtrlr", "Enabled", "bool"),
    ConfigKey("LocalAuthListEnabled", "LocalAuthListCtrlr", "Enabled", "bool"),
    ConfigKey(
        "TransactionMessageAttempts",
        "OCPPCommCtrlr",
        "MessageAttempts",
        "int",
        instance="TransactionEvent",
    ),
    ConfigKey(
        "TransactionMessageRetryInterval",
        "OCPPCommCtrlr",
        "MessageAttemptInterval",
        "seconds",
        instance="TransactionEvent",
    ),
    ConfigKey("ResetRetries", "OCPPCommCtrlr", "ResetRetries", "int"),
    ConfigKey("ChargeProfileMaxStackLevel", "SmartChargingCtrlr", "ProfileStackLevel", "int", True),
    ConfigKey(
        "ChargingScheduleAllowedChargingRateUnit", "SmartChargingCtrlr", "RateUnit", "string", True
    ),
    ConfigKey(
        "ChargingScheduleMaxPeriods", "SmartChargingCtrlr", "PeriodsPerSchedule", "int", True
    ),
    ConfigKey(
        "MaxChargingProfilesInstalled",
        "SmartChargingCtrlr",
        "Entries",
        "int",
        readonly=True,
        instance="ChargingProfiles",
    ),
    ConfigKey("ReserveConnectorZeroSupported", "ReservationCtrlr", "NonEvseSpecific", "bool", True),
    ConfigKey("LocalAuthListMaxLength", None, None, "int", readonly=True),
    ConfigKey("SendLocalListMaxLength", "LocalAuthListCtrlr", "ItemsPerMessage", "int", True),
    ConfigKey("NumberOfConnectors", None, None, "int", readonly=True),
    ConfigKey("SupportedFeatureProfiles", None, None, "string", readonly=True),
)
"""Every key the station knows.  HeartbeatInterval, MeterValueSampleInterval,
MeterValuesSampledData, AuthorizeRemoteTxRequests, StopTransactionOnInvalidId, the
authorization keys (LocalAuthorizeOffline, LocalPreAuthorize, AllowOfflineTxForUnknownId,
AuthorizationCacheEnabled, LocalAuthListEnabled) and the retry keys of transaction
messages (TransactionMessageAttempts and TransactionMessageRetryInterval; in 2.x
OCPPCommCtrlr.MessageAttempts and MessageAttemptInterval, instance TransactionEvent)
change behaviour; the others are stored and reported."""


def default_configuration(config: StationConfig) -> dict[str, str]:
    """The configuration store of a station freshly powered up with ``config``."""
    return {
        "HeartbeatInterval": "0",
        "MeterValueSampleInterval": _seconds(config.meter_interval_s),
        "MeterValuesSampledData": ",".join(MEASURANDS),
        "ClockAlignedDataInterval": "0",
        "ConnectionTimeOut": "60",
        "StopTransactionOnEVSideDisconnect": "true",
        "StopTransactionOnInvalidId": "true",
        "AuthorizeRemoteTxRequests": "false",
        "LocalAuthorizeOffline": "true",
        "LocalPreAuthorize": "false",
        "AllowOfflineTxForUnknownId": "false",
        "AuthorizationCacheEnabled": "true",
        "LocalAuthListEnabled": "true",
        "TransactionMessageAttempts": "3",
        "TransactionMessageRetryInterval": "60",
        "ResetRetries": "1",
        "ChargeProfileMaxStackLevel": str(MAX_STACK_LEVEL),
        "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
        "ChargingScheduleMaxPeriods": str(MAX_PERIODS),
        "MaxChargingProfilesInstalled": str(MAX_PROFILES),
        "ReserveConnectorZeroSupported": "true",
        "LocalAuthListMaxLength": str(MAX_ENTRIES),
        "SendLocalListMaxLength": str(MAX_PER_MESSAGE),
        "NumberOfConnectors": str(config.connectors),
        "SupportedFeatureProfiles": (
            "Core,RemoteTrigger,SmartCharging,Reservation,LocalAuthListManagement,"
            "FirmwareManagement"
        ),
    }


def _seconds(value: float) -> str:
    """``10`` for 10.0, ``0.05`` for 0.05."""
    return format(Decimal(repr(float(value))).normalize(), "f")


_BY_KEY = {entry.key.lower(): entry for entry in CONFIG_KEYS}
_BY_VARIABLE = {
    (entry.component.lower(), entry.variable.lower()): entry
    for entry in CONFIG_KEYS
    if entry.component is not None and entry.variable is not None
}
_COMPONENTS = frozenset(component for component, _ in _BY_VARIABLE)


def entry(key: str) -> ConfigKey:
    """The entry of a key the table has (KeyError otherwise)."""
    return _BY_KEY[key.lower()]


def find_key(key: str) -> ConfigKey | None:
    """The entry of a 1.6 key (case-insensitive)."""
    return _BY_KEY.get(key.lower())


def find_variable(component: str, variable: str, instance: str | None = None) -> ConfigKey | None:
    """The entry of a 2.x component/variable pair (case-insensitive); an instance, when
    given, must be the entry's (a request without one finds the entry all the same)."""
    found = _BY_VARIABLE.get((component.lower(), variable.lower()))
    if found is None or instance is None:
        return found
    return found if (found.instance or "").lower() == instance.lower() else None


def is_known_component(component: str) -> bool:
    return component.lower() in _COMPONENTS


def normalize(entry: ConfigKey, value: str) -> str | None:
    """``value`` as stored for ``entry``, or None if the value is not acceptable.

    Interval keys (``seconds``) take fractional seconds too, so demos and tests
    can run fast; ``int`` keys take whole numbers >= 0.
    """
    text = value.strip()
    if entry.kind == "bool":
        return text.lower() if text.lower() in ("true", "false") else None
    if entry.kind == "measurands":
        names = [name.strip() for name in text.split(",") if name.strip()]
        return ",".join(names) if all(name in MEASURANDS for name in names) else None
    if entry.kind == "string":
        return value
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    if not number.is_finite() or number < 0:
        return None
    if entry.kind == "int":
        return str(int(number)) if number == number.to_integral_value() else None
    return format(number.normalize(), "f")
