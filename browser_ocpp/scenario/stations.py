"""A station driven by a scenario: the emulator's station, its client, and the
frames it exchanged, with the actions a test case takes (connect, boot, plug,
authorize, charge, go offline, misbehave, wait for a CSMS command, send a call and
read its answer)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..emulator import Faults, Station, StationConfig
from ..peer.client import RPCClient
from ..peer.events import MessageEvent
from .frames import FrameLog, Reply, parse
from .verdicts import FrameRecord

__all__ = ["CsmsCall", "ScenarioStation"]

Payload = dict[str, Any]
ClientFactory = Callable[..., RPCClient]


@dataclass(frozen=True, slots=True)
class CsmsCall:
    """A CALL the CSMS sent to the station, and the station's answer (if any yet)."""

    message_id: str
    action: str
    payload: Any
    frame: FrameRecord


def default_client_factory(**options: Any) -> RPCClient:
    """The browser client under Pyodide, the CPython one elsewhere (imported lazily:
    the scenario package imports in both)."""
    import sys

    if sys.platform == "emscripten":
        from ..browser import BrowserOCPPClient

        return BrowserOCPPClient(**options)
    from ..server import OCPPClient

    return OCPPClient(**options)


class ScenarioStation:
    """One emulated station of a scenario, recording its frames in ``log``.

    ``station`` is the full :class:`~browser_ocpp.emulator.Station` for anything this
    class does not wrap; ``client`` its connection.
    """

    def __init__(
        self,
        log: FrameLog,
        client: RPCClient,
        config: StationConfig | None = None,
        call_timeout_s: float = 10.0,
    ) -> None:
        self.log = log
        self.client = client
        self.identity = client.identity or "?"
        self.station = Station(client, config)
        self.call_timeout_s = call_timeout_s
        client.on("message", self._record)

    def _record(self, event: MessageEvent) -> None:
        self.log.add(self.identity, event.message, event.outbound)

    # -- state ---------------------------------------------------------------------------

    @property
    def protocol(self) -> str | None:
        return self.station.protocol

    @property
    def v16(self) -> bool:
        return self.station.v16

    @property
    def faults(self) -> Faults:
        """Misbehaviour on demand (delayed, dropped, refused or scripted answers)."""
        return self.station.faults

    @property
    def frames(self) -> list[FrameRecord]:
        """Every frame this station sent or received so far."""
        return [r for r in self.log.records if r.station == self.identity]

    # -- connection ----------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the WebSocket (raises what the attempt raised)."""
        await self.client.connect()

    async def start(self) -> None:
        """Boot (once per power-up), report statuses, then heartbeat; on a reconnect,
        only the statuses that changed and the queued messages."""
        await self.station.start()

    async def drop_connection(self) -> None:
        """Lose the connection abruptly (no closing handshake); no reconnect follows
        unless the client's options ask for one."""
        await self.station.faults.disconnect()

    async def go_offline(self) -> None:
        """Cut the network: the station charges, meters and queues on."""
        await self.station.set_offline(True)

    async def go_online(self) -> None:
        """Reconnect and resume (no new boot), then replay what was queued."""
        await self.station.set_offline(False)

    async def queue_drained(self, within: float) -> bool:
        """Wait until every queued transaction message is answered or dropped; whether
        that happened within ``within`` seconds."""
        try:
            await asyncio.wait_for(self.station.queue.drained(), within)
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Power off and close the connection."""
        await self.station.shutdown()
        await self.client.close(1000, "scenario over", force=True)

    # -- charging ------------------------------------------------------------------------

    async def plug(self, connector: int = 1) -> None:
        await self.station.plug(connector)

    async def unplug(self, connector: int = 1) -> None:
        await self.station.unplug(connector)

    async def authorize(self, id_tag: str) -> bool:
        """Ask the CSMS (Authorize); whether it accepted ``id_tag``."""
        return await self.station.authorize(id_tag)

    async def start_transaction(self, connector: int = 1, id_tag: str | None = None) -> bool:
        """Plug if needed, authorize as configured, start; whether it started."""
        return await self.station.start_transaction(connector, id_tag)

    async def stop_transaction(self, connector: int = 1, reason: str = "Local") -> None:
        await self.station.stop_transaction(connector, reason)

    def set_meter(self, *, power_kw: float | None = None, interval_s: float | None = None) -> None:
        """Charging power and the meter sample interval (MeterValueSampleInterval)."""
        if power_kw is not None:
            self.station.config.power_kw = power_kw
            self.station.config.check()
        if interval_s is not None:
            from ..emulator.config import entry

            if not self.station.set_config(entry("MeterValueSampleInterval"), str(interval_s)):
                raise ValueError(f"not a meter interval: {interval_s!r}")

    async def fault(self, connector: int = 1, faulted: bool = True) -> None:
        """Fault the connector (its transaction ends) or clear the fault."""
        await self.station.set_fault(connector, faulted)

    # -- messages ------------------------------------------------------------------------

    async def call(self, action: str, payload: Payload, within: float | None = None) -> Reply:
        """Send CALL ``action`` and wait for its answer (``within`` seconds, default
        ``call_timeout_s``). Never raises for the CSMS's answer: read the
        :class:`Reply` (a result, an error, or none)."""
        within = self.call_timeout_s if within is None else within
        message_id = str(uuid.uuid4())
        try:
            await self.client.call(
                action, payload, idempotency_key=message_id, timeout_ms=within * 1000
            )
        except Exception as exc:
            self.client.logger.debug("scenario: call answered with an error", error=repr(exc))
        return await self.log.reply(self.identity, message_id, 0)

    async def send(self, text: str) -> None:
        """Send ``text`` as one frame, unchecked."""
        await self.station.faults.send_raw(text)

    async def send_call(
        self, action: str, payload: Any, within: float | None = None, message_id: str | None = None
    ) -> Reply:
        """Send a CALL as written (no schema check: malformed payloads on purpose) and
        wait for its answer."""
        message_id = message_id or str(uuid.uuid4())
        await self.send(json.dumps([2, message_id, action, payload]))
        within = self.call_timeout_s if within is None else within
        return await self.log.reply(self.identity, message_id, within)

    async def wait_for_call(self, action: str, within: float, start: int = 0) -> CsmsCall | None:
        """The first CALL ``action`` the CSMS sent this station (from log index
        ``start`` on), waiting at most ``within`` seconds; None if none came. The
        station answers it as the emulator does (or as ``faults`` says)."""
        identity = self.identity

        def is_call(record: FrameRecord, frame: list[Any] | None) -> bool:
            return (
                record.station == identity
                and record.direction == "in"
                and frame is not None
                and len(frame) >= 4
                and frame[0] == 2
                and frame[2] == action
            )

        record = await self.log.wait_for(is_call, within, start)
        if record is None:
            return None
        frame = parse(record)
        assert frame is not None
        return CsmsCall(str(frame[1]), action, frame[3], record)

    async def answer_of(self, call: CsmsCall, within: float = 5.0) -> Reply:
        """The station's own answer to a CSMS call."""
        return await self.log.reply(self.identity, call.message_id, within, outbound=False)

    def answer_with(self, action: str, payload: Payload) -> None:
        """Answer the CSMS's ``action`` with ``payload`` from now on, not acting on it."""
        self.station.faults.answer_with[action] = payload

    def calls_sent(self, action: str | None = None, start: int = 0) -> list[FrameRecord]:
        """The CALLs this station sent (of ``action``), from log index ``start`` on."""
        return [
            r
            for r in self.log.since(start)
            if r.station == self.identity and r.direction == "out" and _is_call(r, action)
        ]

    async def reply_to(self, record: FrameRecord, within: float = 0) -> Reply:
        """The CSMS's answer to a CALL this station sent."""
        frame = parse(record)
        message_id = str(frame[1]) if frame is not None and len(frame) > 1 else ""
        return await self.log.reply(self.identity, message_id, within)


def _is_call(record: FrameRecord, action: str | None) -> bool:
    frame = parse(record)
    return (
        frame is not None
        and len(frame) >= 4
        and frame[0] == 2
        and (action is None or frame[2] == action)
    )
