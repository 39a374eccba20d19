"""A charging-station emulator on any browser_ocpp client (browser or CPython).

``Station(client, StationConfig(...))`` registers the station's handlers on the
client; call ``await station.start()`` after each connect.  It speaks OCPP 1.6,
2.0.1 or 2.1, whichever the connection negotiated, lives on offline
(``station.set_offline``) and misbehaves on demand (``station.faults``).
"""

from __future__ import annotations

from .auth import IdInfo
from .config import CONFIG_KEYS, ConfigKey, StationConfig
from .connectors import Connector, ConnectorStatus
from .faults import Faults
from .station import Station

__all__ = [
    "CONFIG_KEYS",
    "ConfigKey",
    "Connector",
    "ConnectorStatus",
    "Faults",
    "IdInfo",
    "Station",
    "StationConfig",
]
