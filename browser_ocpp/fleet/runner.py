"""Run a fleet: N emulated stations against one CSMS for a bounded time.

Each station (:class:`~browser_ocpp.emulator.Station` on its own client) starts at
its place in the ramp, boots, heartbeats, and charges on its connectors as the
profile's seeded plan says, with meter values at the profile's interval.  At the
end (``duration_s``, or :meth:`Fleet.stop`) every station stops its transactions,
lets its queued transaction messages go out, powers off and closes, all within
``grace_s``; what is still open then is dropped.

No CPython-only import at module level: the client comes from a factory, by default
:class:`~browser_ocpp.OCPPClient` (imported when first used); a page passes one that
makes :class:`~browser_ocpp.BrowserOCPPClient` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from ..emulator import Station, StationConfig
from ..peer.client import RPCClient
from ..peer.events import OpenEvent
from ..peer.peer import State
from ..rpc.versions import SUPPORTED_PROTOCOLS
from .profile import PlannedSession, Profile, plan, ramp_offset
from .stats import FleetSnapshot, FleetStats, Listener

__all__ = ["ClientFactory", "Fleet", "FleetConfig", "client_options", "cpython_client"]

MAX_IDENTITY = 48
CONNECT_RETRY_S = 2.0
"""Wait between attempts of a station that could not connect."""

ClientFactory = Callable[[str, "FleetConfig"], RPCClient]
"""``factory(identity, config)``: a new, unconnected client for one station."""


@dataclass
class FleetConfig:
    """A fleet run: where, how many, how long."""

    csms: str
    """The CSMS's URL; ``/<identity>`` is appended for each station."""
    stations: int
    duration_s: float
    protocol: str = "ocpp1.6"
    identity_prefix: str = "FLEET-"
    ramp_s: float = 0.0
    """Stations start evenly over this many seconds (0: all at once)."""
    profile: Profile = field(default_factory=Profile)
    call_timeout_s: float = 30.0
    grace_s: float = 5.0
    """Time allowed after the run for stations to stop their transactions and close."""
    publish_s: float = 1.0
    """How often a snapshot goes to the subscribers while running."""

    def check(self) -> None:
        """Raise ValueError for a run that cannot be made."""
        if isinstance(self.stations, bool) or not isinstance(self.stations, int):
            raise ValueError(f"stations must be a whole number, not {self.stations!r}")
        if self.stations < 1:
            raise ValueError(f"stations must be 1 or more, not {self.stations}")
        for name in ("duration_s", "call_timeout_s", "grace_s", "publish_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a number > 0, not {value!r}")
        if not (math.isfinite(self.ramp_s) and self.ramp_s >= 0):
            raise ValueError(f"ramp_s must be a number >= 0, not {self.ramp_s!r}")
        if self.protocol not in SUPPORTED_PROTOCOLS:
            raise ValueError(
                f"unknown protocol {self.protocol!r}; use one of {list(SUPPORTED_PROTOCOLS)}"
            )
        if not self.csms.startswith(("ws://", "wss://")):
            raise ValueError(f"the CSMS URL must start with ws:// or wss://, not {self.csms!r}")
        bad = set(self.identity_prefix) & set(":/?#% ")
        if bad:
            raise ValueError(f"the identity prefix may not hold {''.join(sorted(bad))!r}")
        longest = self.identity(self.stations - 1)
        if len(longest) > MAX_IDENTITY:
            raise ValueError(f"identities would be too long ({longest!r}: over {MAX_IDENTITY})")
        self.profile.check()

    def identity(self, index: int) -> str:
        """Station ``index``'s identity (0-based): the prefix and a 1-based number."""
        return f"{self.identity_prefix}{index + 1:0{len(str(self.stations))}d}"


def client_options(identity: str, config: FleetConfig) -> dict[str, Any]:
    """The options of one station's client, whichever client class takes them:
    reconnects when its connection drops, logs errors only (a thousand stations'
    warnings are noise)."""
    return {
        "identity": identity,
        "endpoint": config.csms,
        "protocols": [config.protocol],
        "call_timeout_ms": config.call_timeout_s * 1000,
        "reconnect": True,
        "max_reconnects": 1_000_000,
        "backoff_min": 500,
        "backoff_max": 5_000,
        "logging": {"level": "error"},
    }


def cpython_client(identity: str, config: FleetConfig) -> RPCClient:
    """A CPython :class:`~browser_ocpp.OCPPClient` for one station (:func:`client_options`)."""
    from ..server import OCPPClient

    return OCPPClient(**client_options(identity, config))


class _Member:
    """One station of the fleet and what drives it."""

    def __init__(self, fleet: Fleet, index: int, client: RPCClient) -> None:
        self.fleet, self.index, self.client = fleet, index, client
        self.identity = client.identity or ""
        profile = fleet.config.profile
        config = StationConfig(
            serial=self.identity,
            connectors=profile.connectors,
            meter_interval_s=profile.meter_interval_s,
            id_tag=f"TAG{index + 1:06d}",
        )
        self.station = Station(client, config)
        self.started = False
        self.boot_seen = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()  # starts after a reconnect
        self.actions: set[asyncio.Future[bool]] = set()  # station actions under way
        self.station.on_change(self._on_change)
        client.on("open", self._on_open)
        client.on("close", self._on_lost)
        client.on("disconnect", self._on_disconnect)

    # -- what the station and client tell ---------------------------------------------------

    def _on_change(self) -> None:
        station, stats = self.station, self.fleet.stats
        if station.boot_status is not None:
            stats.booted(self.identity, station.boot_status)
        if station.booted:
            self.boot_seen.set()
            beat = self.fleet.config.profile.heartbeat_s
            if beat is not None and station.heartbeat_interval_s != beat:
                station.heartbeat_interval_s = beat

    def _on_open(self, event: OpenEvent) -> None:
        stats = self.fleet.stats
        stats.connected.add(self.identity)
        if self.started:  # a reconnect: resume without a boot
            stats.reconnects += 1
            self._spawn(self.station.start())

    def _on_lost(self, event: Any) -> None:
        self.fleet.stats.connected.discard(self.identity)

    def _on_disconnect(self, event: Any) -> None:
        self.fleet.stats.connected.discard(self.identity)
        self.fleet.stats.disconnects += 1

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- its life ----------------------------------------------------------------------------

    async def live(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """Start at the ramp offset, connect, boot, then charge as planned."""
        config, stats = self.fleet.config, self.fleet.stats
        await asyncio.sleep(ramp_offset(self.index, config.stations, config.ramp_s))
        stats.started += 1
        while True:
            try:
                await self.client.connect()
                break
            except Exception:  # refused, unreachable: again until the run ends
                stats.connect_failures += 1
                await asyncio.sleep(CONNECT_RETRY_S)
        self.started = True
        await self.station.start()  # Pending or Rejected: the station retries on its own
        await self.boot_seen.wait()
        booted_at = loop.time()
        sessions = plan(config.profile, self.index, deadline - booted_at)
        by_connector: dict[int, list[PlannedSession]] = {}
        for session in sessions:
            by_connector.setdefault(session.connector, []).append(session)
        await asyncio.gather(
            *(self._charge(loop, booted_at, plans) for plans in by_connector.values())
        )

    async def _charge(
        self, loop: asyncio.AbstractEventLoop, booted_at: float, sessions: list[PlannedSession]
    ) -> None:
        for session in sessions:
            await asyncio.sleep(max(0.0, booted_at + session.start_s - loop.time()))
            if not await self._act(self._start_session(session.connector)):
                continue
            await asyncio.sleep(max(0.0, booted_at + session.stop_s - loop.time()))
            await self._act(self._end_session(session.connector))

    async def _act(self, coro: Coroutine[Any, Any, bool]) -> bool:
        """Run a station action to its end even if the run ends meanwhile (a call
        cancelled mid-way would leave its answer to arrive for no one): the end of
        the run cancels the waits between actions, and :meth:`close` awaits these."""
        task = asyncio.ensure_future(coro)
        self.actions.add(task)
        task.add_done_callback(self.actions.discard)
        return await asyncio.shield(task)

    async def _start_session(self, connector_id: int) -> bool:
        stats = self.fleet.stats
        if await self.station.start_transaction(connector_id):
            stats.sessions_started += 1
            return True
        stats.sessions_refused += 1
        return False

    async def _end_session(self, connector_id: int) -> bool:
        """The driver stops the session at the station (reason Local) and leaves."""
        stopped = await self._stop_session(connector_id)
        await self.station.unplug(connector_id)
        return stopped

    async def _stop_session(self, connector_id: int) -> bool:
        """Stop the connector's transaction (reason Local), if one runs."""
        if self.station.connector(connector_id).transaction_id is None:
            return False
        await self.station.stop_transaction(connector_id, "Local")
        self.fleet.stats.sessions_stopped += 1
        return True

    async def close(self) -> None:
        """Finish the actions under way, stop the transactions, let the queue go out,
        power off and close."""
        for task in list(self.tasks):
            task.cancel()
        station = self.station
        await asyncio.gather(*self.actions, return_exceptions=True)
        if self.started and self.client.state is State.OPEN:
            for connector in station.connectors:
                await self._stop_session(connector.id)
            await station.queue.drained()
        await station.shutdown()
        await self.client.close(1000, "fleet finished")

    async def drop(self) -> None:
        """The grace ran out: drop the connection now."""
        with contextlib.suppress(Exception):
            await self.client.close(1000, "fleet finished", force=True)


class Fleet:
    """N stations against one CSMS; :meth:`run` returns the final snapshot.

    Live figures: :meth:`snapshot` any time, or :meth:`subscribe` for one every
    ``config.publish_s`` seconds while running and a last one at the end.
    """

    def __init__(self, config: FleetConfig, client_factory: ClientFactory | None = None) -> None:
        config.check()
        self.config = config
        self.client_factory = client_factory or cpython_client
        self.stats = FleetStats(config.stations, clock=self._elapsed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started_at: float | None = None
        self._stop = asyncio.Event()
        self._members: list[_Member] = []

    def _elapsed(self) -> float:
        if self._loop is None or self._started_at is None:
            return 0.0
        return self._loop.time() - self._started_at

    def snapshot(self) -> FleetSnapshot:
        return self.stats.snapshot()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """``listener(snapshot)`` every ``publish_s`` and at the end; returns the
        unsubscribe."""
        return self.stats.subscribe(listener)

    def not_booted(self) -> list[str]:
        """Identities of the stations whose boot the CSMS has not accepted."""
        accepted = self.stats.boot_status
        identities = (self.config.identity(index) for index in range(self.config.stations))
        return [identity for identity in identities if accepted.get(identity) != "Accepted"]

    def stop(self) -> None:
        """End the run early (the stations still close cleanly)."""
        self._stop.set()

    async def run(self) -> FleetSnapshot:
        """Run the fleet for ``duration_s`` (or until :meth:`stop`), close it within
        ``grace_s``, and return the final figures."""
        loop = self._loop = asyncio.get_running_loop()
        self._started_at = start = loop.time()
        deadline = start + self.config.duration_s
        self._members = [
            _Member(self, index, self._make_client(index)) for index in range(self.config.stations)
        ]
        lives = [asyncio.ensure_future(m.live(loop, deadline)) for m in self._members]
        publisher = asyncio.ensure_future(self._publish())
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(0.0, deadline - loop.time()))
        finally:
            for task in lives:
                task.cancel()
            await asyncio.gather(*lives, return_exceptions=True)
            await self._close_all()
            publisher.cancel()
            await asyncio.gather(publisher, return_exceptions=True)
            self.stats.running = False
        return self.stats.publish()

    def _make_client(self, index: int) -> RPCClient:
        client = self.client_factory(self.config.identity(index), self.config)
        client._observer = self.stats  # the peer's call hook (see peer/observer.py)
        return client

    async def _close_all(self) -> None:
        closing = [asyncio.ensure_future(member.close()) for member in self._members]
        _, late = await asyncio.wait(closing, timeout=self.config.grace_s)
        for task in late:
            task.cancel()
        await asyncio.gather(*closing, return_exceptions=True)
        if late:
            await asyncio.gather(*(member.drop() for member in self._members))

    async def _publish(self) -> None:
        while True:
            await asyncio.sleep(self.config.publish_s)
            self.stats.publish()
