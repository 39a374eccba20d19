"""Display messages (2.x only): SetDisplayMessage, GetDisplayMessages with
NotifyDisplayMessages, ClearDisplayMessage.

Rules followed (2.0.1 Part 2 O01-O06): a message with the id of a stored one replaces
it; one naming a transaction the station does not run is UnknownTransaction, and is
removed when that transaction ends; the formats shown are ASCII, UTF8, HTML and URI
(2.1's QRCODE: NotSupportedMessageFormat); GetDisplayMessages answers Unknown when no
message matches, else Accepted and sends the matches in NotifyDisplayMessages.
``station.display.shown(state)`` is what the screen shows now, first first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..peer.handlers import HandlerContext
from .auth import parse_time

if TYPE_CHECKING:
    from .station import Station

__all__ = ["V2", "Display"]

Payload = dict[str, Any]

FORMATS = ("ASCII", "UTF8", "HTML", "URI")
PRIORITY_ORDER = {"AlwaysFront": 0, "InFront": 1, "NormalCycle": 2}
MAX_MESSAGES = 50
"""Messages the station stores (DisplayMessageCtrlr.DisplayMessages)."""


class Display:
    """The display messages the station holds (``messages``, by id, as the CSMS sent them)."""

    def __init__(self, station: Station) -> None:
        self._station = station
        self.messages: dict[int, Payload] = {}

    def shown(self, state: str | None = None, now: datetime | None = None) -> list[Payload]:
        """The messages to show now (within their start/end, for ``state`` if given),
        AlwaysFront first."""
        now = now or datetime.now(UTC)
        showing = []
        for message in self.messages.values():
            start, end = (
                parse_time(message.get("startDateTime")),
                parse_time(message.get("endDateTime")),
            )
            if (start and now < start) or (end and now >= end):
                continue
            if state is not None and message.get("state", state) != state:
                continue
            showing.append(message)
        return sorted(showing, key=lambda m: PRIORITY_ORDER.get(m["priority"], 3))

    def transaction_ended(self) -> None:
        """Messages of a transaction go with it."""
        running = {c.transaction_id for c in self._station.connectors if c.transaction_id}
        for mid, message in list(self.messages.items()):
            if "transactionId" in message and message["transactionId"] not in running:
                del self.messages[mid]
                self._station.note(f"Display message {mid} removed: its transaction ended")


def set_display_message(station: Station, ctx: HandlerContext) -> Payload:
    message = ctx.params["message"]
    mid, display = message["id"], station.display
    transaction = message.get("transactionId")
    running = {c.transaction_id for c in station.connectors if c.transaction_id}
    if message["message"]["format"] not in FORMATS:
        status = "NotSupportedMessageFormat"
    elif transaction is not None and transaction not in running:
        status = "UnknownTransaction"
    elif mid not in display.messages and len(display.messages) >= MAX_MESSAGES:
        status = "Rejected"
    else:
        status = "Accepted"
        display.messages[mid] = message
        station._changed()
    content = str(message["message"]["content"])[:40]
    station.note(
        f"SetDisplayMessage {mid} ({message['priority']}: {content!r}) requested by CSMS: {status}"
    )
    return {"status": status}


def get_display_messages(station: Station, ctx: HandlerContext) -> Payload:
    p = ctx.params
    ids = p.get("id") or []
    found = [
        m
        for m in station.display.messages.values()
        if (not ids or m["id"] in ids)
        and p.get("priority", m["priority"]) == m["priority"]
        and ("state" not in p or m.get("state") == p["state"])
    ]
    station.note(f"GetDisplayMessages {p['requestId']} requested by CSMS: {len(found)} found")
    if not found:
        return {"status": "Unknown"}

    async def send() -> None:
        await station._call(
            "NotifyDisplayMessages", {"requestId": p["requestId"], "messageInfo": found}
        )

    station.after_reply(ctx.message_id, send)
    return {"status": "Accepted"}


def clear_display_message(station: Station, ctx: HandlerContext) -> Payload:
    mid = ctx.params["id"]
    status = "Accepted" if station.display.messages.pop(mid, None) is not None else "Unknown"
    station.note(f"ClearDisplayMessage {mid} requested by CSMS: {status}")
    station._changed()
    return {"status": status}


V2 = {
    "SetDisplayMessage": set_display_message,
    "GetDisplayMessages": get_display_messages,
    "ClearDisplayMessage": clear_display_message,
}
