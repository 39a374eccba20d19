"""Faults on demand: ways to make one station misbehave on purpose, to see how a
CSMS copes.

``station.faults`` holds the settings the station's command handlers obey (how it
answers the CSMS) and the misdeeds it commits on request (what it sends)::

    station.faults.reply_delay_ms = 45_000     # answer late: after the CSMS's timeout
    station.faults.reject_with = "InternalError"
    station.faults.actions = {"Reset"}         # only Reset misbehaves
    station.faults.answer_with = {"Reset": {"status": "Rejected"}}  # scripted answer
    station.faults.clear()                     # back to good behaviour
    await station.faults.disconnect()          # drop the connection, no closing handshake
    await station.faults.send_malformed()      # [2,"…","Heartbeat",{   (not JSON)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar

from ..peer.client import RPCClient
from ..rpc.errors import ConnectionClosedError, RPCError

__all__ = ["Faults"]

Payload = dict[str, Any]


@cache
def _error_class(code: str) -> type[RPCError]:
    """An error class whose CALLERROR code is ``code`` as written, in every version."""
    return type("InjectedError", (RPCError,), {"code": code, "codes_by_version": {}})


@dataclass
class Faults:
    """How the station answers the CSMS, and raw frames it sends, on purpose.

    The answer settings apply to every CSMS command (or only to ``actions``), in this
    order: ``drop_replies`` (the command is lost: neither acted on nor answered),
    ``reject_with`` (refused with that CALLERROR, not acted on), ``reply_delay_ms``
    (acted on, answered that much later; more than the CSMS's call timeout is
    "answer late", the answer then comes after the CSMS gave up on it).
    """

    client: RPCClient = field(repr=False)
    reply_delay_ms: float = 0.0
    drop_replies: bool = False
    reject_with: str | None = None
    """A CALLERROR code, sent as written (``"InternalError"``, 1.6's
    ``"OccurenceConstraintViolation"``, or a code no version has)."""
    actions: Collection[str] | None = None
    """The CSMS commands the answer settings apply to; None: every one."""
    answer_with: dict[str, Payload] = field(default_factory=dict)
    """Scripted answers: a command named here is answered with its payload, as written,
    and not acted on (after ``drop_replies`` and ``reject_with``, which win)."""
    firmware_failure: str | None = None
    """How the next firmware updates fail: ``"DownloadFailed"``, ``"InvalidSignature"``
    (2.x, a signed firmware) or ``"InstallationFailed"``; None: they succeed."""
    upload_failure: bool = False
    """Diagnostics / log uploads fail (UploadFailed / UploadFailure)."""

    DESCRIPTION: ClassVar[str] = "fault injected by the emulator"

    def clear(self) -> None:
        """Answer every command normally again."""
        self.reply_delay_ms, self.drop_replies = 0.0, False
        self.reject_with, self.actions = None, None
        self.answer_with = {}
        self.firmware_failure, self.upload_failure = None, False

    def applies_to(self, action: str) -> bool:
        return self.actions is None or action in self.actions

    def refusal(self) -> RPCError:
        """The CALLERROR ``reject_with`` asks for."""
        assert self.reject_with is not None
        return _error_class(self.reject_with)(self.DESCRIPTION)

    # -- misdeeds ------------------------------------------------------------------------

    async def disconnect(self) -> None:
        """Drop the connection abruptly: the transport is aborted, no closing handshake
        (a browser cannot abort a WebSocket: there it closes at once without waiting).
        The client then reconnects as its options say, as after a network failure."""
        transport = self.client._transport  # the live connection: close() would end it cleanly
        if transport is None:
            raise ConnectionClosedError("not connected")
        await transport.close(1006, "", force=True)

    async def send_raw(self, text: str) -> None:
        """Send ``text`` as one frame, unchecked (an answer comes back unmatched: the
        client reports it as a bad message)."""
        await self.client.send_raw(text)

    async def send_malformed(self, action: str = "Heartbeat") -> str:
        """A CALL cut short: not JSON.  Returns the text sent."""
        text = json.dumps([2, str(uuid.uuid4()), action, {}])[:-2]
        await self.send_raw(text)
        return text

    async def send_duplicate_id(
        self, action: str = "Heartbeat", payload: Payload | None = None
    ) -> str:
        """The same CALL twice in a row, with one message id.  Returns the id."""
        message_id = str(uuid.uuid4())
        text = json.dumps([2, message_id, action, payload or {}])
        await self.send_raw(text)
        await self.send_raw(text)
        return message_id

    async def send_wrong_type(
        self, message_type: int = 7, action: str = "Heartbeat", payload: Payload | None = None
    ) -> str:
        """A message with a type number the version does not define (2.0.1 answers
        MessageTypeNotSupported, 1.6 a GenericError, 2.1 ignores it).  Returns the text."""
        text = json.dumps([message_type, str(uuid.uuid4()), action, payload or {}])
        await self.send_raw(text)
        return text
