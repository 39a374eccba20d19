"""Connectors in use: plug, authorize, transactions, meter samples, availability.

:class:`Sessions` is the part of :class:`~browser_ocpp.emulator.Station` that
charges; 1.6 and 2.x differ only in the messages sent.  Charging goes on offline:
transaction messages wait in the station's queue, idTags are authorized locally.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, datetime

from ..rpc.errors import CallTimeoutError, ConnectionClosedError, RPCGenericTransportError
from . import messages as msg
from .auth import offline_refusal
from .connectors import Connector
from .core import Payload, StationCore
from .meter import advance
from .txqueue import QueuedMessage

__all__ = ["Sessions"]

_LOCAL_IDS = itertools.count(1)
"""1.6 keys of transactions (``local-1``...), unique in the process."""


class Sessions(StationCore):
    """Connector actions and the meter loop of each charging connector."""

    tick_s: float = 1.0
    """How often a charging connector's energy is brought up to date."""

    # -- cable and authorization ---------------------------------------------------------

    async def plug(self, connector_id: int) -> None:
        """Plug an EV's cable into the connector."""
        connector = self.connector(connector_id)
        async with self._locks[connector.id]:
            await self._plug(connector)

    async def _plug(self, connector: Connector) -> None:
        if connector.plugged:
            return
        connector.plugged, connector.finished = True, False
        connector.soc = float(self.config.initial_soc) if self.config.simulate_soc else None
        self.note(f"Connector {connector.id}: cable plugged in")
        await self.refresh(connector)

    async def unplug(self, connector_id: int) -> None:
        """Unplug the cable; a running transaction ends first (EVDisconnected)."""
        connector = self.connector(connector_id)
        async with self._locks[connector.id]:
            await self._unplug(connector)

    async def _unplug(self, connector: Connector, reason: str = "EVDisconnected") -> None:
        if not connector.plugged:
            return
        connector.plugged = False
        if connector.transaction_id is not None:
            await self._stop(connector, reason)
        connector.finished, connector.soc = False, None
        self.note(f"Connector {connector.id}: cable unplugged")
        await self.refresh(connector)

    async def authorize(self, id_tag: str) -> bool:
        """Ask the CSMS whether ``id_tag`` may charge (False if it could not be asked)."""
        return bool(await self._authorize(msg.id_token(id_tag)))

    async def _authorize(self, token: Payload) -> bool | None:
        """The CSMS's verdict on ``token``; None if it could not be reached (offline, no
        answer in time), so the station decides locally."""
        action = "Authorize"
        try:
            response = await self.client.call(action, msg.authorize(self.protocol, token))
        except (ConnectionClosedError, CallTimeoutError, RPCGenericTransportError) as exc:
            self.note(f"{action} failed: {type(exc).__name__}: {exc}")
            return None
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            self.client.logger.warn("emulator: call failed", action=action, error=error)
            self.note(f"{action} failed: {error}")
            return False
        info = response.get("idTagInfo") or response.get("idTokenInfo") or {}
        self.note(f"Authorize {token['idToken']}: {info.get('status')}")
        self.learn(str(token["idToken"]), response)
        return msg.is_accepted(response)

    async def _authorization_refusal(self, token: Payload) -> str | None:
        """Why ``token`` may not start a transaction now; None if it may.

        Online the CSMS decides (Authorize), unless LocalPreAuthorize lets a valid
        entry of the local list or cache start at once; offline (or without an answer)
        the station decides from those (LocalAuthorizeOffline, AllowOfflineTxForUnknownId).
        """
        tag = str(token["idToken"])
        known = self.auth.lookup(
            tag,
            cache=self._flag("AuthorizationCacheEnabled"),
            local_list=self._flag("LocalAuthListEnabled"),
        )
        now = datetime.now(UTC)
        if self.online:
            if self._flag("LocalPreAuthorize") and known is not None and known.valid(now):
                self.note(f"{tag} authorized locally (LocalPreAuthorize)")
                return None
            verdict = await self._authorize(token)
            if verdict is not None:
                return None if verdict else f"{tag} is not authorized"
        refusal = offline_refusal(
            tag,
            known,
            now,
            local_authorize_offline=self._flag("LocalAuthorizeOffline"),
            allow_unknown=self._flag("AllowOfflineTxForUnknownId"),
        )
        if refusal is None:
            self.note(f"{tag} authorized offline ({'known' if known else 'unknown'} idTag)")
        return refusal

    def claim(self, connector_id: int | None, tag: str | None = None) -> Connector | None:
        """Hold a connector for a remote start of ``tag``: ``connector_id``'s, else the
        first free one (plugged first); None if it (or every one) cannot start."""
        if connector_id is None:
            candidates = sorted(self.connectors, key=lambda c: not c.plugged)
        else:
            candidates = [c for c in self.connectors if c.id == connector_id]
        for connector in candidates:
            if connector.id not in self._claimed and self.refusal(connector, tag) is None:
                self._claimed.add(connector.id)
                return connector
        return None

    def refusal(self, connector: Connector, tag: str | None = None) -> str | None:
        """Why a transaction (of ``tag``; None: of anyone, reservations aside) cannot
        start on ``connector`` now, or None."""
        if connector.transaction_id is not None:
            return "a transaction is running"
        if connector.faulted:
            return "the connector is faulted"
        if not connector.operative:
            return "the connector is unavailable"
        if not self.booted:
            return "the CSMS has not accepted the station"
        return self._reservation_refusal(connector, tag)

    def _reservation_refusal(self, connector: Connector, tag: str | None) -> str | None:
        """Hook: why ``tag`` may not use ``connector``: it is reserved for another."""
        return None

    def _take_reservation(self, connector: Connector, tag: str) -> int | None:
        """Hook: ``tag`` starts on ``connector``: the reservation it uses up, if any."""
        return None

    # -- transactions --------------------------------------------------------------------

    async def start_transaction(self, connector_id: int, id_tag: str | None = None) -> bool:
        """Authorize ``id_tag`` (default ``config.id_tag``) and start charging.

        Plugs the cable if needed; False (with an activity line) if refused.
        """
        connector = self.connector(connector_id)
        token = msg.id_token(id_tag or self.config.id_tag)
        async with self._locks[connector.id]:
            return await self._start(connector, token, "Authorized", authorize=True)

    async def remote_start(
        self, connector: Connector, token: Payload, remote_start_id: int | None
    ) -> None:
        """A start the CSMS asked for (authorized first if AuthorizeRemoteTxRequests)."""
        try:
            async with self._locks[connector.id]:
                authorize = self._flag("AuthorizeRemoteTxRequests")
                await self._start(connector, token, "RemoteStart", authorize, remote_start_id)
        finally:
            self._claimed.discard(connector.id)

    async def _start(
        self,
        connector: Connector,
        token: Payload,
        trigger: str,
        authorize: bool,
        remote_start_id: int | None = None,
    ) -> bool:
        tag = str(token["idToken"])
        where = f"Connector {connector.id}"
        refusal = self.refusal(connector)  # a reservation: once the tag's group is known
        if refusal is None and authorize:
            refusal = await self._authorization_refusal(token)
        if refusal is None:
            await self._plug(connector)
            refusal = self.refusal(connector, tag)
        if refusal is not None:
            self.note(f"{where}: start refused: {refusal}")
            return False
        loop = asyncio.get_running_loop()
        key = self._transaction_key()
        connector.transaction_key = connector.transaction_id = key
        connector.meter_start_wh = int(connector.energy_wh)
        connector.id_tag, connector.id_token = tag, token
        connector.remote_start_id, connector.seq_no = remote_start_id, 0
        connector.ev_suspended = connector.finished = False
        connector.started_at = connector.updated_at = loop.time()
        self.apply_limits()  # power on; the others' share of a station limit changes
        reservation = self._take_reservation(connector, tag)
        message = self._queue_start(connector, tag, trigger, reservation)
        answer = await self.queue.first_outcome(message)
        self.note(f"{where}: transaction {connector.transaction_id} started for {tag}")
        if answer is None:
            self.note(
                f"{where}: the CSMS has not answered yet: {message.action} waits in the queue"
            )
        elif not msg.is_accepted(answer):
            self.note(f"{where}: the CSMS did not accept {tag}")
            if self._flag("StopTransactionOnInvalidId"):
                await self._stop(connector, "DeAuthorized")
                return False
        self._advance(connector, loop.time())
        await self.refresh(connector)
        self._start_meter(connector)
        return True

    def _transaction_key(self) -> str:
        """A new transaction's key: its transactionId in 2.x, the station's own in 1.6."""
        if self.v16:
            return f"local-{next(_LOCAL_IDS)}"
        return str(uuid.uuid4())

    def _queue_start(
        self, connector: Connector, tag: str, trigger: str, reservation: int | None = None
    ) -> QueuedMessage:
        """StartTransaction / TransactionEvent(Started) into the transaction queue (with
        the ``reservation`` it used)."""
        key = connector.transaction_key
        assert key is not None

        def answered(answer: Payload, late: bool) -> None:
            self._start_answered(connector, key, answer, late)

        if self.v16:
            payload = msg.start_transaction(connector, tag)
            if reservation is not None:
                payload["reservationId"] = reservation
            message = self.enqueue("StartTransaction", payload, connector, assigns_id=True)
        else:
            payload = msg.transaction_event(
                self.protocol,
                connector,
                key,
                "Started",
                trigger,
                self._measurands(),
                context="Transaction.Begin",
                offline=not self.online,
            )
            if reservation is not None:
                payload["reservationId"] = reservation
            message = self.enqueue("TransactionEvent", payload, connector)
        message.on_answer = answered
        return message

    def _start_answered(self, connector: Connector, key: str, answer: Payload, late: bool) -> None:
        """The CSMS answered a transaction's start: 1.6 learns the transaction's id; a
        late refusal of the idTag ends the transaction if it still runs (and
        StopTransactionOnInvalidId says so)."""
        running = connector.transaction_key == key
        transaction_id = self.queue.transaction_ids.get(key)
        if running and transaction_id is not None:
            connector.transaction_id = str(transaction_id)
            self.note(
                f"Connector {connector.id}: transaction {key} is {transaction_id} at the CSMS"
            )
            self._changed()
        if late and running and not msg.is_accepted(answer):
            self.note(f"Connector {connector.id}: the CSMS did not accept {connector.id_tag}")
            if self._flag("StopTransactionOnInvalidId"):
                self._spawn(self._deauthorize(connector, key))

    async def _deauthorize(self, connector: Connector, key: str) -> None:
        async with self._locks[connector.id]:
            if connector.transaction_key == key:
                await self._stop(connector, "DeAuthorized")

    async def stop_transaction(self, connector_id: int, reason: str = "Local") -> None:
        """End the connector's transaction; the cable stays in (Finishing)."""
        if reason not in msg.STOP_REASONS:
            raise ValueError(f"unknown stop reason {reason!r}; use one of {list(msg.STOP_REASONS)}")
        connector = self.connector(connector_id)
        async with self._locks[connector.id]:
            if connector.transaction_id is None:
                self.note(f"Connector {connector.id}: no transaction to stop")
                return
            await self._stop(connector, reason)

    async def stop_locked(self, connector: Connector, reason: str) -> None:
        """Stop the connector's transaction, if it still runs (for CSMS commands)."""
        async with self._locks[connector.id]:
            if connector.transaction_id is not None:
                await self._stop(connector, reason)

    async def _stop(self, connector: Connector, reason: str) -> None:
        transaction_id, key = connector.transaction_id, connector.transaction_key
        assert transaction_id is not None and key is not None
        self._advance(connector, asyncio.get_running_loop().time())
        connector.power_w = 0.0
        task = self._meter_tasks.pop(connector.id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if self.v16:
            payload = msg.stop_transaction(connector, reason, self._measurands())
            message = self.enqueue("StopTransaction", payload, connector)
            connector.transaction_id, connector.ev_suspended = None, False
            connector.evse_suspended = False
        else:
            connector.transaction_id, connector.ev_suspended = None, False
            connector.evse_suspended = False
            _, stopped, trigger = msg.STOP_REASONS[reason]
            payload = msg.transaction_event(
                self.protocol,
                connector,
                key,
                "Ended",
                trigger,
                self._measurands(),
                context="Transaction.End",
                stopped_reason=stopped,
                offline=not self.online,
            )
            message = self.enqueue("TransactionEvent", payload, connector)
        connector.transaction_key = None
        await self.queue.first_outcome(message)
        kwh = (connector.energy_wh - connector.meter_start_wh) / 1000
        self.note(
            f"Connector {connector.id}: transaction {transaction_id} stopped ({reason}), "
            f"{kwh:.3f} kWh"
        )
        connector.finished = True
        connector.id_tag = connector.id_token = connector.remote_start_id = None
        if connector.pending_operative is not None:
            connector.operative, connector.pending_operative = connector.pending_operative, None
        await self.refresh(connector)
        self._transaction_ended()

    async def suspend_ev(self, connector_id: int) -> None:
        """The EV stops drawing power (SuspendedEV)."""
        connector = self.connector(connector_id)
        async with self._locks[connector.id]:
            await self._set_suspended(connector, True)

    async def resume(self, connector_id: int) -> None:
        """The EV draws power again (Charging)."""
        connector = self.connector(connector_id)
        async with self._locks[connector.id]:
            await self._set_suspended(connector, False)

    async def _set_suspended(self, connector: Connector, suspended: bool) -> None:
        transaction_id = connector.transaction_id
        if transaction_id is None or connector.ev_suspended == suspended:
            return
        self._advance(connector, asyncio.get_running_loop().time())
        connector.ev_suspended = suspended
        self._advance(connector, asyncio.get_running_loop().time())
        self._queue_state_change(connector, transaction_id)
        await self.refresh(connector)

    def _queue_state_change(self, connector: Connector, transaction_id: str) -> None:
        """2.x TransactionEvent(Updated, ChargingStateChanged); 1.6 has none (its
        StatusNotification tells)."""
        if not self.v16:
            payload = msg.transaction_event(
                self.protocol,
                connector,
                transaction_id,
                "Updated",
                "ChargingStateChanged",
                self._measurands(),
                offline=not self.online,
            )
            self.enqueue("TransactionEvent", payload, connector)

    async def set_fault(self, connector_id: int, faulted: bool) -> None:
        """Fault the connector (its transaction ends, reason Other) or clear the fault."""
        connector = self.connector(connector_id)
        async with self._locks[connector.id]:
            if connector.faulted == faulted:
                return
            if faulted and connector.transaction_id is not None:
                await self._stop(connector, "Other")
            connector.faulted = faulted
            self.note(f"Connector {connector.id}: fault {'set' if faulted else 'cleared'}")
            await self.refresh(connector)

    async def unlock(self, connector: Connector) -> None:
        """Unlock the cable: the transaction ends (UnlockCommand) and the cable is out."""
        async with self._locks[connector.id]:
            if connector.plugged:
                await self._unplug(connector, "UnlockCommand")
            elif connector.transaction_id is not None:
                await self._stop(connector, "UnlockCommand")

    # -- meter ---------------------------------------------------------------------------

    def _advance(self, connector: Connector, now: float) -> bool:
        """:func:`~.meter.advance` under the connector's charging limit; a limit of 0
        suspends the transaction on the station's side (SuspendedEVSE) until it rises."""
        key = connector.transaction_key
        limit = self._power_limit_w(connector) if key is not None else None
        suspended = limit is not None and limit <= 0
        if key is not None and suspended != connector.evse_suspended:
            connector.evse_suspended = suspended
            state = "suspended: the charging limit is 0" if suspended else "resumed"
            self.note(f"Connector {connector.id}: charging {state}")
            self._spawn(self._charging_state_changed(connector, key))
        return advance(connector, self.config, now, limit)

    async def _charging_state_changed(self, connector: Connector, key: str) -> None:
        """Report a change of SuspendedEVSE (2.x: a TransactionEvent too)."""
        async with self._locks[connector.id]:
            if connector.transaction_key != key:
                return
            self._queue_state_change(connector, key)
            await self.refresh(connector)

    def _power_limit_w(self, connector: Connector) -> float | None:
        """Hook: the power the connector may draw now (W), or None: no limit."""
        return None

    def apply_limits(self) -> None:
        """The charging limits changed: charging connectors follow them now (the energy
        so far counted at the power drawn until now)."""
        now = asyncio.get_running_loop().time()
        for connector in self.connectors:
            if connector.transaction_key is not None:
                advance(connector, self.config, now, connector.power_w)
                self._advance(connector, now)
        self._changed()

    async def send_meter_values(self, connector_id: int) -> None:
        """Send one MeterValues of the connector now, on the user's request.

        Its context is ``Other``: the sample is neither periodic (``Sample.Periodic``)
        nor clock-aligned (``Sample.Clock``), and ``Trigger`` means "taken in response
        to a TriggerMessage" (1.6 and 2.x ReadingContext alike).  In 2.x it is a
        MeterValues, not a TransactionEvent, even during a transaction: no 2.x
        triggerReason describes a reading taken on request.
        """
        connector = self.connector(connector_id)
        self._advance(connector, asyncio.get_running_loop().time())
        self._changed()
        payload = msg.meter_values(self.protocol, connector, "Other", self._measurands())
        if connector.transaction_key is not None and self.v16:  # names the transaction
            await self.queue.first_outcome(self.enqueue("MeterValues", payload, connector))
            return
        await self._call("MeterValues", payload)

    async def send_sample(self, connector: Connector, triggered: bool) -> None:
        """One sample: periodic, or (``triggered``) one the CSMS asked for with
        TriggerMessage.  A transaction's sample is a transaction message (queued): a
        MeterValues naming it in 1.6, a TransactionEvent(Updated) in 2.x (a triggered
        2.x MeterValues stays a MeterValues, sent at once)."""
        context = "Trigger" if triggered else "Sample.Periodic"
        if connector.transaction_key is not None and not self.v16 and not triggered:
            await self.send_transaction_update(connector, "MeterValuePeriodic", context)
            return
        payload = msg.meter_values(self.protocol, connector, context, self._measurands())
        if connector.transaction_key is not None and self.v16:
            self.enqueue("MeterValues", payload, connector, droppable=not triggered)
            return
        await self._call("MeterValues", payload)

    async def send_transaction_update(
        self, connector: Connector, trigger: str, context: str
    ) -> None:
        """2.x TransactionEvent(Updated) with a meter sample (queued)."""
        transaction_id = connector.transaction_key
        if transaction_id is None:
            return
        payload = msg.transaction_event(
            self.protocol,
            connector,
            transaction_id,
            "Updated",
            trigger,
            self._measurands(),
            context=context,
            offline=not self.online,
        )
        self.enqueue("TransactionEvent", payload, connector, droppable=trigger != "Trigger")

    def _start_meter(self, connector: Connector) -> None:
        task = self._meter_tasks.get(connector.id)
        if task is None or task.done():
            self._meter_tasks[connector.id] = self._spawn(
                self._meter_loop(connector, connector.transaction_key)
            )

    async def _meter_loop(self, connector: Connector, key: str | None) -> None:
        """Energy ticks while the transaction runs (offline too); samples every interval."""
        loop = asyncio.get_running_loop()
        last_sent = loop.time()
        while connector.transaction_key == key:
            interval = self.meter_interval_s
            wait = self.tick_s
            if interval > 0:
                wait = max(0.0, min(wait, last_sent + interval - loop.time()))
            await asyncio.sleep(wait)
            if connector.transaction_key != key:
                return
            full = self._advance(connector, loop.time())
            self._changed()
            if full and not connector.ev_suspended:
                self.note(f"Connector {connector.id}: battery full, EV suspends")
                async with self._locks[connector.id]:
                    await self._set_suspended(connector, True)
            interval = self.meter_interval_s
            if interval > 0 and loop.time() >= last_sent + interval - 1e-3:
                last_sent = loop.time()
                await self.send_sample(connector, triggered=False)

    # -- availability --------------------------------------------------------------------

    def set_availability(self, connector: Connector, operative: bool) -> str:
        """Accepted, or Scheduled when a transaction must end first (status sent later)."""
        if connector.transaction_id is not None and not operative:
            connector.pending_operative = False
            return "Scheduled"
        connector.operative, connector.pending_operative = operative, None
        return "Accepted"

    async def refresh_all(self) -> None:
        for connector in self.connectors:
            await self.refresh(connector)
