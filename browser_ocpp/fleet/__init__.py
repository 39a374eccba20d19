"""Fleets: many emulated stations against one CSMS, with the CSMS's figures.

``Fleet(FleetConfig(csms=URL, stations=N, duration_s=S)).run()`` boots N stations,
keeps them heartbeating and charging on a seeded :class:`Profile`, and returns a
:class:`FleetSnapshot`: boots, calls per action, response times (p50/p99, measured at
the station), CALLERRORs, timeouts and disconnects.  ``fleet.snapshot()`` and
``fleet.subscribe(listener)`` give live figures.  Nothing here imports ``js`` or a
CPython-only module at import time: the same fleet runs in a page, on a client
factory that makes browser clients.
"""

from __future__ import annotations

from .profile import PlannedSession, Profile, plan
from .report import format_table, live_line
from .runner import ClientFactory, Fleet, FleetConfig, client_options, cpython_client
from .stats import ActionFigures, BootFigures, FleetSnapshot, FleetStats, percentile

__all__ = [
    "ActionFigures",
    "BootFigures",
    "ClientFactory",
    "Fleet",
    "FleetConfig",
    "FleetSnapshot",
    "FleetStats",
    "PlannedSession",
    "Profile",
    "client_options",
    "cpython_client",
    "format_table",
    "live_line",
    "percentile",
    "plan",
]
