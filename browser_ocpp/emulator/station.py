"""The emulated charging station: lifecycle (boot, reconnect, heartbeat, reset, going
offline) on top of :class:`~browser_ocpp.emulator.sessions.Sessions` (charging) and
:class:`~browser_ocpp.emulator.core.StationCore` (state and plumbing).

Runs on any :class:`~browser_ocpp.peer.RPCClient` (the browser client or the
CPython one) and speaks 1.6 or 2.x after what ``client.protocol`` says at call time.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..peer.client import RPCClient
from ..peer.events import OpenEvent
from ..peer.peer import State
from . import messages as msg
from .config import StationConfig, entry
from .connectors import Connector
from .display import Display
from .faults import Faults
from .firmware import Firmware
from .handlers import install
from .logs import Logs
from .reservations import Reservations
from .sessions import Sessions
from .smart_charging import SmartCharging

__all__ = ["Station"]


class Station(Sessions):
    """A charging station on ``client``; call :meth:`start` after each connect.

    The station lives on while its connection comes and goes, as a real one does:
    it boots once (after power-up or a reset), and a later :meth:`start` after a
    reconnect resumes without a BootNotification (OCPP-J 1.6 and 2.x, "Reconnecting").
    While it cannot reach the CSMS it keeps charging and metering, queues its
    transaction messages (``queue``) and authorizes locally (``auth``).

    Public state: ``config``, ``client``, ``connectors``, ``boot_status``, ``booted``,
    ``online``, ``offline``, ``heartbeat_interval_s``, ``configuration``, ``queue``,
    ``auth``, ``faults``, ``charging``, ``reservations``, ``firmware``, ``logs``,
    ``display``; listeners: :meth:`on_change`, :meth:`on_activity`.  The CSMS's
    commands are answered by handlers registered on the client (see
    :mod:`browser_ocpp.emulator.handlers`).
    """

    boot_retry_s: float = 30.0
    """Wait before retrying a BootNotification that failed or came back without interval."""
    reconnect_retry_s: float = 5.0
    """Wait between reconnect attempts after a Reset or :meth:`set_offline` (False)."""
    reconnect_attempts: int = 12
    """Reconnect attempts after a Reset before giving up."""

    def __init__(self, client: RPCClient, config: StationConfig | None = None) -> None:
        super().__init__(client, config)
        self._heartbeat_task: asyncio.Task[Any] | None = None
        self._boot_task: asyncio.Task[Any] | None = None
        self._retry_s = self.boot_retry_s
        self._next_boot_reason = "PowerUp"
        self._starting: asyncio.Future[None] | None = None
        self._reset_task: asyncio.Task[None] | None = None
        self._rebooted = False  # the reset in progress has closed the old connection
        self._reset_again: str | None = None  # a reset asked for during that reboot
        self._boot_reason_after_reset = "RemoteReset"
        self._connections = 0  # connections opened so far
        self._started_on: int | None = None  # the connection the last start() ran on
        self._online_task: asyncio.Task[Any] | None = None
        self.faults = Faults(client)
        """Misbehaviour on demand (see :mod:`browser_ocpp.emulator.faults`)."""
        self.charging = SmartCharging(self)
        """Charging profiles and the limits they set (see :mod:`.smart_charging`)."""
        self.reservations = Reservations(self)
        """Reservations of connectors (see :mod:`.reservations`)."""
        self.firmware = Firmware(self)
        """The firmware and its updates (see :mod:`.firmware`)."""
        self.logs = Logs(self)
        """Recent activity and log uploads (see :mod:`.logs`)."""
        self.display = Display(self)
        """Display messages (2.x; see :mod:`.display`)."""
        install(self)
        client.on("call_result", self._on_call_result)
        client.on("open", self._on_open)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Boot (retried on Pending/Rejected), report every status, then heartbeat; on
        a reconnect (the station booted before and did not restart since) report only
        the statuses that changed while offline, without a BootNotification.  The
        queued transaction messages then go out, in order.

        Call after each connect (an ``open`` listener may do it); a start called
        while one runs joins it, and one on a connection already started does nothing.
        """
        running = self._starting
        if running is not None:
            await asyncio.shield(running)
            return
        if self._started_on == self._connections and self.client.state is State.OPEN:
            return
        self._starting = asyncio.get_running_loop().create_future()
        try:
            await self._run_start()
        finally:
            running, self._starting = self._starting, None
            running.set_result(None)

    async def _run_start(self) -> None:
        await self.stop()
        self._started_on = self._connections
        if self.booted:
            self.note("Reconnected: no BootNotification (the station did not restart)")
            await self.send_statuses(changed_only=True)
            self._start_heartbeat()
            self.queue.wake()
            return
        reason, self._next_boot_reason = self._next_boot_reason, "PowerUp"
        if await self.boot(reason):
            await self._on_accepted()
        else:
            self._boot_task = self._spawn(self._boot_retry(reason), link=True)

    async def stop(self) -> None:
        """The connection is gone (or about to go): stop what needs it (heartbeat,
        boot retries).  Charging, metering, the transaction queue, a reset and the
        actions under way go on, as in a real station that lost its network.
        Safe to call from a ``close`` or ``disconnect`` listener; :meth:`shutdown`
        stops everything."""
        current = asyncio.current_task()
        tasks = [task for task in self._link_tasks if task is not current and not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._heartbeat_task = self._boot_task = None
        self._after_reply.clear()
        self._claimed.clear()

    async def shutdown(self) -> None:
        """Power off: cancel every loop, action and reset, stop sending the queue (its
        messages stay) and forget the boot, so the next :meth:`start` boots (PowerUp).
        The connection is the caller's to close."""
        await self.stop()
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current and not task.done()]
        for extra in (self._reset_task, self._online_task):
            if extra is not None and extra is not current and not extra.done():
                tasks.append(extra)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.queue.stop()
        self._meter_tasks.clear()
        self.booted = False
        self._started_on = None
        self._changed()

    def _on_open(self, event: OpenEvent) -> None:
        self._connections += 1
        if self._offline:  # set_offline(True) keeps the connection down
            self.note("Connected while set offline: dropping the connection")
            self._spawn(self._drop_connection())
            return
        self.queue.wake()

    async def boot(self, reason: str) -> bool:
        """Send one BootNotification; True if Accepted (its interval then applies)."""
        payload = msg.boot_notification(self.protocol, self.config, reason)
        response = await self._call("BootNotification", payload)
        if response is None:
            self._retry_s = self.boot_retry_s
            return False
        status, interval = str(response["status"]), int(response["interval"])
        self.boot_status = status
        if status == "Accepted":
            if interval > 0:
                self.set_config(entry("HeartbeatInterval"), str(interval))
        else:
            self._retry_s = float(interval) if interval > 0 else self.boot_retry_s
        self.note(f"BootNotification ({reason}): {status}, interval {interval} s")
        self._changed()
        return status == "Accepted"

    async def _boot_retry(self, reason: str) -> None:
        while not self.booted:
            await asyncio.sleep(self._retry_s)
            # offline, the attempt waits for the connection (no call bound to fail)
            if not self.booted and self.online and await self.boot(reason):
                await self._on_accepted()

    async def _on_accepted(self) -> None:
        """After an accepted boot: statuses, heartbeat loop, meter loops of
        transactions, and the queued transaction messages."""
        if self.booted:
            return
        self.booted = True
        task, self._boot_task = self._boot_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self._changed()
        await self.send_statuses()
        self._start_heartbeat()
        for connector in self.connectors:
            if connector.transaction_key is not None:
                self._start_meter(connector)
        self.queue.wake()

    async def triggered_boot(self) -> None:
        """A BootNotification the CSMS asked for; an acceptance ends a Pending wait."""
        if await self.boot("Triggered"):
            await self._on_accepted()

    def _start_heartbeat(self) -> None:
        """Arm the heartbeat timer, online only: a connection that dropped while
        :meth:`start` ran (its stop() is past) gets it from the next start()."""
        if not self.online:
            return
        if self._heartbeat_task is None or self._heartbeat_task.done():
            self._heartbeat_task = self._spawn(self._heartbeat_loop(), link=True)

    async def _heartbeat_loop(self) -> None:
        while True:
            self._heartbeat_wake.clear()
            interval = self.heartbeat_interval_s
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for returns instead
                # of raising when cancelled as the wait ends (a wake), so stop() hung.
                async with asyncio.timeout(interval if interval > 0 else None):
                    await self._heartbeat_wake.wait()
                continue  # the interval changed: wait anew
            except TimeoutError:
                pass
            await self.send_heartbeat()

    async def send_custom(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send any call as written and return the answer (raises what the call raises).

        The client's strict mode alone decides whether it is checked first: with it
        off, a payload the schema refuses goes out as it is, for the CSMS to judge.
        """
        self.note(f"Custom {action} sent")
        answer: dict[str, Any] = await self.client.call(action, payload)
        return answer

    # -- going offline -------------------------------------------------------------------

    async def set_offline(self, offline: bool) -> None:
        """Cut the station off from the CSMS (True), as a network outage would: the
        connection drops without a closing handshake and stays down (a connection
        opened meanwhile is dropped at once) while the station charges, meters and
        queues on.  False reconnects it (retrying every ``reconnect_retry_s`` until it
        succeeds or the station is set offline again) and starts it: no new boot,
        the statuses that changed, then the queued messages in order."""
        self._offline = offline
        self._changed()
        task, self._online_task = self._online_task, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()
        if offline:
            self.note("Offline: the connection to the CSMS is cut")
            await self.stop()
            await self._drop_connection()
            return
        self.note("Online again: reconnecting to the CSMS")
        # Set offline again meanwhile, or a later call keeps trying already: no task.
        if not await self._go_online() and not self._offline and self._online_task is None:
            self._online_task = asyncio.ensure_future(self._keep_going_online())

    async def _drop_connection(self) -> None:
        if self.client.state is not State.CLOSED:
            try:
                await self.client.close(1000, "offline", force=True)
            except Exception as exc:
                self.client.logger.warn("emulator: close failed", error=repr(exc))

    async def _go_online(self) -> bool:
        """One attempt to connect and start; whether the station is online now."""
        if self.client.state is not State.OPEN:
            try:
                await self.client.connect()
            except Exception as exc:
                self.note(f"Reconnect failed: {exc}")
                return False
        if self._offline:  # set offline again while connecting: that connection drops
            return False
        await self.start()
        return True

    async def _keep_going_online(self) -> None:
        while not self._offline:
            await asyncio.sleep(self.reconnect_retry_s)
            if not self._offline and await self._go_online():
                return

    # -- reset ---------------------------------------------------------------------------

    async def reset(self, reason: str, boot_reason: str = "RemoteReset") -> None:
        """Reboot: end transactions (``reason``), close, reconnect and boot again (2.x
        BootNotification reason ``boot_reason``).

        Every accepted reset is carried out.  One asked for before the reboot in
        progress has closed the connection is served by that reboot (it joins it);
        one asked for after that (on the new connection, so the station was already
        up again, as a real station's firmware is once it answers) causes one more
        reboot when the current one ends.
        """
        task = self._reset_task
        if task is not None and not task.done():
            if self._rebooted:
                self._reset_again = reason
            await asyncio.shield(task)
            return
        self._boot_reason_after_reset = boot_reason
        task = self._reset_task = asyncio.ensure_future(self._resets(reason))
        task.add_done_callback(self._task_done)
        await asyncio.shield(task)

    async def _resets(self, reason: str) -> None:
        """Reboot, then again as long as a reset came in during the last reboot."""
        next_reason: str | None = reason
        while next_reason is not None:
            await self._reset(next_reason)
            next_reason, self._reset_again = self._reset_again, None

    async def _reset(self, reason: str) -> None:
        self._rebooted = False
        self.note(f"Resetting ({reason})")
        for connector in self.connectors:
            await self.stop_locked(connector, reason)
        self.booted = False
        await self.stop()
        self._next_boot_reason, self._boot_reason_after_reset = (
            self._boot_reason_after_reset,
            "RemoteReset",
        )
        try:
            await self.client.close(1000, "Reset")
        except Exception as exc:
            self.client.logger.warn("emulator: close failed", error=repr(exc))
        self._rebooted = True
        if self._offline:
            self.note("Rebooted offline: the boot follows set_offline(False)")
        elif await self._reconnect():
            self.note("Reconnected after reset")
            await self.start()

    async def _reconnect(self) -> bool:
        for attempt in range(1, self.reconnect_attempts + 1):
            try:
                await self.client.connect()
                return True
            except Exception as exc:
                self.note(f"Reconnect after reset failed ({attempt}): {exc}")
                if attempt < self.reconnect_attempts:
                    await asyncio.sleep(self.reconnect_retry_s)
        self.client.logger.error("emulator: gave up reconnecting after reset")
        self.note("Gave up reconnecting after reset")
        return False

    def _reservation_refusal(self, connector: Connector, tag: str | None) -> str | None:
        return self.reservations.refusal(connector, tag)

    def _take_reservation(self, connector: Connector, tag: str) -> int | None:
        return self.reservations.take(connector, tag)

    def _power_limit_w(self, connector: Connector) -> float | None:
        return self.charging.limit_w(connector.id)

    def _transaction_ended(self) -> None:
        self.charging.transaction_ended()
        self.display.transaction_ended()
        self.apply_limits()  # a share of a station-wide limit is free again
        if self.reset_when_idle and all(c.transaction_id is None for c in self.connectors):
            self.reset_when_idle = False
            self._spawn(self.reset("ImmediateReset"))
