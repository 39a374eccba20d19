"""Connectors in use: plug, authorize, transactions, meter samples, availability.

:class:`Sessions` is the part of :class:`~browser_ocpp.emulator.Station` that
charges; 1.6 and 2.x differ only in the messages sent.
"""

from __future__ import annotations

import asyncio
import uuid

from . import messages as msg
from .connectors import Connector
from .core import Payload, StationCore
from .meter import advance

__all__ = ["Sessions"]


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
        """Ask the CSMS whether ``id_tag`` may charge."""
        return await self._authorize(msg.id_token(id_tag))

    async def _authorize(self, token: Payload) -> bool:
        response = await self._call("Authorize", msg.authorize(self.protocol, token))
        if response is None:
            return False
        info = response.get("idTagInfo") or response.get("idTokenInfo") or {}
        self.note(f"Authorize {token['idToken']}: {info.get('status')}")
        return msg.is_accepted(response)

    def claim(self, connector_id: int | None) -> Connector | None:
        """Reserve a connector for a remote start: ``connector_id``'s, else the first
        free one (plugged first); None if it (or every one) cannot start."""
        if connector_id is None:
            candidates = sorted(self.connectors, key=lambda c: not c.plugged)
        else:
            candidates = [c for c in self.connectors if c.id == connector_id]
        for connector in candidates:
            if connector.id not in self._claimed and self.refusal(connector) is None:
                self._claimed.add(connector.id)
                return connector
        return None

    def refusal(self, connector: Connector) -> str | None:
        """Why a transaction cannot start on ``connector`` now, or None."""
        if connector.transaction_id is not None:
            return "a transaction is running"
        if connector.faulted:
            return "the connector is faulted"
        if not connector.operative:
            return "the connector is unavailable"
        if not self.booted:
            return "the CSMS has not accepted the station"
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
        refusal = self.refusal(connector)
        if refusal is None and authorize and not await self._authorize(token):
            refusal = f"{tag} is not authorized"
        if refusal is None:
            await self._plug(connector)
            refusal = self.refusal(connector)
        if refusal is not None:
            self.note(f"{where}: start refused: {refusal}")
            return False
        loop = asyncio.get_running_loop()
        connector.meter_start_wh = int(connector.energy_wh)
        connector.id_tag, connector.id_token = tag, token
        connector.remote_start_id, connector.seq_no = remote_start_id, 0
        connector.ev_suspended = connector.finished = False
        connector.started_at = connector.updated_at = loop.time()
        accepted = await self._send_start(connector, tag, trigger)
        if accepted is None:
            connector.id_tag = connector.id_token = connector.remote_start_id = None
            connector.transaction_id = None
            self.note(f"{where}: start failed: no answer from the CSMS")
            await self.refresh(connector)
            return False
        self.note(f"{where}: transaction {connector.transaction_id} started for {tag}")
        if not accepted:
            self.note(f"{where}: the CSMS did not accept {tag}")
            if self._flag("StopTransactionOnInvalidId"):
                await self._stop(connector, "DeAuthorized")
                return False
        advance(connector, self.config, loop.time())
        await self.refresh(connector)
        self._start_meter(connector)
        return True

    async def _send_start(self, connector: Connector, tag: str, trigger: str) -> bool | None:
        """StartTransaction / TransactionEvent(Started); whether the token is accepted,
        None if the call failed (the transaction then never started)."""
        if self.v16:
            response = await self._call("StartTransaction", msg.start_transaction(connector, tag))
            if response is None:
                return None
            connector.transaction_id = str(response["transactionId"])
            return msg.is_accepted(response)
        connector.transaction_id = str(uuid.uuid4())
        advance(connector, self.config, asyncio.get_running_loop().time())  # power on
        payload = msg.transaction_event(
            self.protocol,
            connector,
            connector.transaction_id,
            "Started",
            trigger,
            self._measurands(),
            context="Transaction.Begin",
        )
        response = await self._call("TransactionEvent", payload)
        return None if response is None else msg.is_accepted(response)

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
        transaction_id = connector.transaction_id
        assert transaction_id is not None
        advance(connector, self.config, asyncio.get_running_loop().time())
        connector.power_w = 0.0
        task = self._meter_tasks.pop(connector.id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if self.v16:
            payload = msg.stop_transaction(connector, transaction_id, reason, self._measurands())
            connector.transaction_id, connector.ev_suspended = None, False
            await self._call("StopTransaction", payload)
        else:
            connector.transaction_id, connector.ev_suspended = None, False
            _, stopped, trigger = msg.STOP_REASONS[reason]
            payload = msg.transaction_event(
                self.protocol,
                connector,
                transaction_id,
                "Ended",
                trigger,
                self._measurands(),
                context="Transaction.End",
                stopped_reason=stopped,
            )
            await self._call("TransactionEvent", payload)
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
        advance(connector, self.config, asyncio.get_running_loop().time())
        connector.ev_suspended = suspended
        advance(connector, self.config, asyncio.get_running_loop().time())
        if not self.v16:
            payload = msg.transaction_event(
                self.protocol,
                connector,
                transaction_id,
                "Updated",
                "ChargingStateChanged",
                self._measurands(),
            )
            await self._call("TransactionEvent", payload)
        await self.refresh(connector)

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

    async def send_meter_values(self, connector_id: int) -> None:
        """Send one MeterValues of the connector now, on the user's request.

        Its context is ``Other``: the sample is neither periodic (``Sample.Periodic``)
        nor clock-aligned (``Sample.Clock``), and ``Trigger`` means "taken in response
        to a TriggerMessage" (1.6 and 2.x ReadingContext alike).  In 2.x it is a
        MeterValues, not a TransactionEvent, even during a transaction: no 2.x
        triggerReason describes a reading taken on request.
        """
        connector = self.connector(connector_id)
        advance(connector, self.config, asyncio.get_running_loop().time())
        self._changed()
        payload = msg.meter_values(self.protocol, connector, "Other", self._measurands())
        await self._call("MeterValues", payload)

    async def send_sample(self, connector: Connector, triggered: bool) -> None:
        """One sample: 2.x sends a transaction's periodic samples as TransactionEvent
        (Updated); MeterValues otherwise (context Trigger when the CSMS asked)."""
        transaction_id = connector.transaction_id
        if transaction_id is not None and not triggered and not self.v16:
            await self.send_transaction_update(connector, "MeterValuePeriodic", "Sample.Periodic")
            return
        context = "Trigger" if triggered else "Sample.Periodic"
        payload = msg.meter_values(self.protocol, connector, context, self._measurands())
        await self._call("MeterValues", payload)

    async def send_transaction_update(
        self, connector: Connector, trigger: str, context: str
    ) -> None:
        """2.x TransactionEvent(Updated) with a meter sample."""
        transaction_id = connector.transaction_id
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
        )
        await self._call("TransactionEvent", payload)

    def _start_meter(self, connector: Connector) -> None:
        task = self._meter_tasks.get(connector.id)
        if task is None or task.done():
            self._meter_tasks[connector.id] = self._spawn(
                self._meter_loop(connector, connector.transaction_id)
            )

    async def _meter_loop(self, connector: Connector, transaction_id: str | None) -> None:
        """Energy ticks while the transaction runs; samples go out every interval."""
        loop = asyncio.get_running_loop()
        last_sent = loop.time()
        while connector.transaction_id == transaction_id:
            interval = self.meter_interval_s
            wait = self.tick_s
            if interval > 0:
                wait = max(0.0, min(wait, last_sent + interval - loop.time()))
            await asyncio.sleep(wait)
            if connector.transaction_id != transaction_id:
                return
            full = advance(connector, self.config, loop.time())
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
