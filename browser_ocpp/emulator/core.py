"""The station's state and plumbing: listeners, configuration, calls, statuses, the
transaction queue and the authorization stores.

:class:`StationCore` is the base of :class:`~browser_ocpp.emulator.Station`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from ..peer.client import RPCClient
from ..peer.events import FrameEvent
from ..peer.peer import State
from . import messages as msg
from .auth import Authorization, IdInfo
from .config import ConfigKey, StationConfig, default_configuration, entry, normalize
from .connectors import Connector, ConnectorStatus, derive_status, v2_status
from .txqueue import QueuedMessage, TransactionQueue

__all__ = ["Action", "Payload", "StationCore"]

Payload = dict[str, Any]
Action = Callable[[], Coroutine[Any, Any, None]]


class StationCore:
    """State of a station on ``client`` and the plumbing every part uses."""

    def __init__(self, client: RPCClient, config: StationConfig | None = None) -> None:
        self.config = config if config is not None else StationConfig()
        self.config.check()
        self.client = client
        self.connectors = [Connector(number) for number in range(1, self.config.connectors + 1)]
        self.boot_status: str | None = None
        self.configuration: dict[str, str] = default_configuration(self.config)
        self.booted = False
        """Whether the CSMS accepted the BootNotification since the station powered up
        or last rebooted (a reconnect keeps it: no new boot)."""
        self.reset_when_idle = False
        """A 2.x Reset(OnIdle) waits for the running transactions to end."""
        self._change_listeners: list[Callable[[], None]] = []
        self._activity_listeners: list[Callable[[str], None]] = []
        self.auth = Authorization()
        """The authorization cache and the local list (see :mod:`.auth`)."""
        self.queue = TransactionQueue(
            self._deliver, self._queue_ready, self._retry, self._queue_trouble
        )
        """Transaction messages waiting to be delivered, in order (see :mod:`.txqueue`)."""
        self._offline = False  # set_offline(True): the connection is kept down
        self._reported: dict[int, str] = {}  # last status the CSMS got, per connector (0: station)
        self._tasks: set[asyncio.Task[Any]] = set()  # loops and actions: shutdown() cancels
        self._link_tasks: set[asyncio.Task[Any]] = set()  # need the connection: stop() cancels
        self._calls: set[asyncio.Task[Any]] = set()  # calls in flight: run to their end
        self._after_reply: dict[str, Action] = {}
        self._heartbeat_wake = asyncio.Event()
        self._meter_tasks: dict[int, asyncio.Task[Any]] = {}
        self._locks = {c.id: asyncio.Lock() for c in self.connectors}
        self._claimed: set[int] = set()  # connectors a remote start is about to use
        self._station_status = ConnectorStatus.AVAILABLE

    # -- listeners -----------------------------------------------------------------------

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after any visible state change."""
        self._change_listeners.append(listener)

    def on_activity(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(line)`` with a human-readable line for everything that happens."""
        self._activity_listeners.append(listener)

    def _changed(self) -> None:
        for listener in list(self._change_listeners):
            try:
                listener()
            except Exception as exc:
                self.client.logger.error("emulator: change listener raised", error=repr(exc))

    def note(self, line: str) -> None:
        """Emit an activity line."""
        self.client.logger.debug("emulator", activity=line)
        for listener in list(self._activity_listeners):
            try:
                listener(line)
            except Exception as exc:
                self.client.logger.error("emulator: activity listener raised", error=repr(exc))

    # -- derived values ------------------------------------------------------------------

    @property
    def protocol(self) -> str | None:
        """The protocol spoken (before the first open: the first one offered)."""
        protocols = self.client.options.protocols
        return self.client.protocol or (protocols[0] if protocols else None)

    @property
    def v16(self) -> bool:
        return msg.is_v16(self.protocol)

    @property
    def online(self) -> bool:
        """Whether the station can reach the CSMS now (connected, not set offline)."""
        return self.client.state is State.OPEN and not self._offline

    @property
    def offline(self) -> bool:
        """Whether :meth:`~browser_ocpp.emulator.Station.set_offline` keeps the
        connection down."""
        return self._offline

    @property
    def heartbeat_interval_s(self) -> float:
        """Seconds between Heartbeats (the CSMS's boot interval, or as set since)."""
        return self._seconds("HeartbeatInterval")

    @heartbeat_interval_s.setter
    def heartbeat_interval_s(self, value: float) -> None:
        self.set_config(entry("HeartbeatInterval"), str(value))

    @property
    def meter_interval_s(self) -> float:
        """Seconds between meter samples while charging (MeterValueSampleInterval)."""
        return self._seconds("MeterValueSampleInterval")

    def _seconds(self, key: str) -> float:
        try:
            value = float(self.configuration.get(key, "0"))
        except ValueError:
            return 0.0
        return value if value > 0 and value != float("inf") else 0.0

    def _measurands(self) -> list[str]:
        return self.configuration.get("MeterValuesSampledData", "").split(",")

    def _flag(self, key: str) -> bool:
        return self.configuration.get(key, "").lower() == "true"

    def connector(self, connector_id: int) -> Connector:
        """Connector ``connector_id`` (1-based); ValueError for one the station lacks."""
        if isinstance(connector_id, bool) or not isinstance(connector_id, int):
            raise ValueError(f"connector ids are integers, not {connector_id!r}")
        if not 1 <= connector_id <= len(self.connectors):
            raise ValueError(
                f"no connector {connector_id}: the station has 1 to {len(self.connectors)}"
            )
        return self.connectors[connector_id - 1]

    # -- configuration -------------------------------------------------------------------

    def set_config(self, key: ConfigKey, value: str) -> bool:
        """Store ``value`` under ``key`` (normalized) and apply it; False if invalid.

        Read-only keys are the caller's to refuse: the station itself may set them.
        """
        normalized = normalize(key, value)
        if normalized is None:
            return False
        self.configuration[key.key] = normalized
        if key.key == "HeartbeatInterval":
            self._heartbeat_wake.set()
        elif key.key == "MeterValueSampleInterval":
            self.config.meter_interval_s = float(normalized)
        self._changed()
        return True

    # -- tasks and calls -----------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, Any], *, link: bool = False) -> asyncio.Task[Any]:
        """Run ``coro`` as a station task; ``link``: one that needs the connection
        (stop() cancels those; shutdown() cancels every task)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        if link:
            self._link_tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._link_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            self.client.logger.error("emulator task failed", error=repr(error))
            self.note(f"Internal error: {error!r}")

    async def _call(self, action: str, payload: Payload) -> Payload | None:
        """Call the CSMS; None (logged, with an activity line) if the call failed.

        The call runs in a task of its own, so cancelling a loop never cancels a call
        in flight (whose response would then come back unexpected).
        """
        task = asyncio.ensure_future(self._call_now(action, payload))
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)
        return await asyncio.shield(task)

    async def _call_now(self, action: str, payload: Payload) -> Payload | None:
        try:
            return await self.client.call(action, payload)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            self.client.logger.warn("emulator: call failed", action=action, error=error)
            self.note(f"{action} failed: {error}")
            return None

    # -- transaction messages ------------------------------------------------------------

    def enqueue(
        self,
        action: str,
        payload: Payload,
        connector: Connector,
        *,
        assigns_id: bool = False,
        droppable: bool = False,
    ) -> QueuedMessage:
        """Queue a transaction message of ``connector``'s running transaction.

        In 1.6 the transaction's messages after StartTransaction get the CSMS's
        ``transactionId`` written in when they are sent.
        """
        needs_id = self.v16 and action in ("StopTransaction", "MeterValues")
        message = QueuedMessage(
            action,
            payload,
            transaction=connector.transaction_key,
            assigns_id=assigns_id,
            needs_id=needs_id,
            droppable=droppable,
        )
        if not self.online and not droppable:
            self.note(f"{action} queued: offline ({len(self.queue) + 1} waiting)")
        return self.queue.put(message)

    def _queue_trouble(self, line: str) -> None:
        """A transaction message failed or was dropped: a warning and an activity line."""
        self.client.logger.warn("emulator: transaction message", problem=line)
        self.note(line)

    def _queue_ready(self) -> bool:
        return self.online and self.booted

    def _retry(self) -> tuple[int, float]:
        """TransactionMessageAttempts and TransactionMessageRetryInterval."""
        try:
            attempts = int(self.configuration.get("TransactionMessageAttempts", "1"))
        except ValueError:
            attempts = 1
        return attempts, self._seconds("TransactionMessageRetryInterval")

    async def _deliver(self, message: QueuedMessage, payload: Payload) -> Payload:
        """Send one queued message (the queue handles failures); learn from the answer."""
        answer: Payload = await self.client.call(
            message.action, payload, idempotency_key=message.message_id
        )
        self.learn(msg.token_of(payload), answer)
        return answer

    def learn(self, tag: str | None, answer: Payload) -> None:
        """Cache what the CSMS answered of ``tag`` (AuthorizationCacheEnabled)."""
        info = IdInfo.parse(answer.get("idTagInfo", answer.get("idTokenInfo")))
        if tag is not None and info is not None and self._flag("AuthorizationCacheEnabled"):
            self.auth.remember(tag, info)

    def after_reply(self, message_id: str, action: Action) -> None:
        """Run ``action`` once the response to CALL ``message_id`` has been sent."""
        self._after_reply[message_id] = action

    def _on_call_result(self, event: FrameEvent) -> None:
        if event.outbound:
            action = self._after_reply.pop(event.frame.message_id, None)
            if action is not None:
                self._spawn(action())

    # -- status --------------------------------------------------------------------------

    async def refresh(self, connector: Connector) -> None:
        """Derive the connector's status; report it if it changed (2.x: if its 2.x
        spelling changed), once the CSMS has accepted the station (offline: on
        reconnect)."""
        self._changed()
        old, new = connector.status, derive_status(connector)
        if new is not old:
            connector.status = new
            self.note(f"Connector {connector.id}: {new.value}")
            self._changed()
            if self.booted and (self.v16 or v2_status(new) != v2_status(old)):
                await self.send_status(connector)
        station = (
            ConnectorStatus.UNAVAILABLE
            if not any(c.operative for c in self.connectors)
            else ConnectorStatus.AVAILABLE
        )
        if station is not self._station_status:
            self._station_status = station
            self.note(f"Station: {station.value}")
            self._changed()
            if self.booted and self.v16:
                await self.send_station_status()

    async def send_statuses(self, *, changed_only: bool = False) -> None:
        """StatusNotification of every connector (and, in 1.6, of the station, 0);
        ``changed_only``: of those whose status differs from the one last reported
        (after a reconnect: what changed while offline)."""
        if self.v16 and not (changed_only and self._is_reported(0, self._station_status)):
            await self.send_station_status()
        for connector in self.connectors:
            if not (changed_only and self._is_reported(connector.id, connector.status)):
                await self.send_status(connector)

    def _spelled(self, status: ConnectorStatus) -> str:
        return status.value if self.v16 else v2_status(status)

    def _is_reported(self, number: int, status: ConnectorStatus) -> bool:
        return self._reported.get(number) == self._spelled(status)

    async def send_status(self, connector: Connector) -> None:
        """The connector's StatusNotification; offline, none (it goes on reconnect)."""
        await self._send_status(connector.id, connector.status)

    async def send_station_status(self) -> None:
        """1.6 StatusNotification of connector 0 (the whole station)."""
        await self._send_status(0, self._station_status)

    async def _send_status(self, number: int, status: ConnectorStatus) -> None:
        if not self.online:
            return
        payload = msg.status_notification(self.protocol, number, status)
        if await self._call("StatusNotification", payload) is not None:
            self._reported[number] = self._spelled(status)

    async def send_heartbeat(self) -> None:
        await self._call("Heartbeat", {})

    def _transaction_ended(self) -> None:
        """Hook: a transaction has ended."""
