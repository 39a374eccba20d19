"""The simulated meter and EV battery: energy grows by power over time."""

from __future__ import annotations

from .config import StationConfig
from .connectors import Connector

__all__ = ["advance"]


def advance(
    connector: Connector, config: StationConfig, now: float, limit_w: float | None = None
) -> bool:
    """Bring ``connector``'s energy, power and SoC up to event-loop time ``now``.

    Energy flows only while a transaction charges (not suspended, not faulted),
    at ``config.power_kw`` or the charging limit ``limit_w`` if lower, and until a
    simulated battery is full.  Returns True when the battery is full and the EV
    would stop drawing power.
    """
    elapsed = max(0.0, now - connector.updated_at) if connector.updated_at else 0.0
    connector.updated_at = now
    charging = (
        connector.transaction_id is not None
        and not connector.ev_suspended
        and not connector.faulted
    )
    if not charging:
        connector.power_w = 0.0
        return False
    capacity_wh = config.battery_kwh * 1000
    simulate = config.simulate_soc and connector.soc is not None and capacity_wh > 0
    if simulate and connector.soc is not None and connector.soc >= 100:
        connector.power_w = 0.0
        return True
    power_w = config.power_kw * 1000
    connector.power_w = power_w if limit_w is None else max(0.0, min(power_w, limit_w))
    added = connector.power_w * elapsed / 3600
    if simulate and connector.soc is not None:
        room = (100 - connector.soc) / 100 * capacity_wh
        added = min(added, room)
        connector.soc = min(100.0, connector.soc + added / capacity_wh * 100)
        full = connector.soc >= 100
    else:
        full = False
    connector.energy_wh += added
    return full
