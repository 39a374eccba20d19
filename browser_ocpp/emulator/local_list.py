"""The local authorization list managed by the CSMS: SendLocalList (Full and
Differential, with versions) and GetLocalListVersion, 1.6 and 2.x.

The list lives in ``station.auth`` (``local_list``, ``local_list_version``) and is what
the station authorizes from offline (LocalAuthorizeOffline) and, with
LocalPreAuthorize, online.  Rules followed: OCPP 1.6 §3.5 (Local Authorization List)
and §5.15 (Send Local List: NotSupported while LocalAuthListEnabled is false; a
Differential update of a version not above the station's is a VersionMismatch; an
entry without idTagInfo is removed; a list longer than the station takes Fails);
2.0.1 Part 2 D01/D02 (the same with idTokenInfo and versionNumber).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..peer.handlers import HandlerContext
from .auth import IdInfo

if TYPE_CHECKING:
    from .station import Station

__all__ = ["MAX_ENTRIES", "MAX_PER_MESSAGE", "V2", "V16", "Update", "apply_update"]

Payload = dict[str, Any]

MAX_ENTRIES = 1000
"""LocalAuthListMaxLength: the entries the list holds at most."""
MAX_PER_MESSAGE = 100
"""SendLocalListMaxLength (2.x LocalAuthListCtrlr.ItemsPerMessage)."""


@dataclass(frozen=True, slots=True)
class Update:
    """One SendLocalList, whatever the version: ``entries`` maps each idTag to what
    the station should know of it (None: remove it)."""

    version: int
    full: bool
    entries: dict[str, IdInfo | None]


def apply_update(
    current: dict[str, IdInfo], version: int, update: Update
) -> tuple[str, dict[str, IdInfo], int]:
    """(status, the new list, its version) after ``update`` of the list ``current`` at
    ``version``; a refused update leaves both as they were."""
    if len(update.entries) > MAX_PER_MESSAGE:
        return "Failed", current, version
    if update.full:
        new = {tag: info for tag, info in update.entries.items() if info is not None}
    else:
        if update.version <= version:
            return "VersionMismatch", current, version
        new = dict(current)
        for tag, info in update.entries.items():
            if info is None:
                new.pop(tag, None)
            else:
                new[tag] = info
    if len(new) > MAX_ENTRIES:
        return "Failed", current, version
    return "Accepted", new, update.version


def _send(station: Station, ctx: HandlerContext, update: Update) -> Payload:
    auth = station.auth
    if station.configuration.get("LocalAuthListEnabled", "").lower() != "true":
        status = "NotSupported" if station.v16 else "Failed"
    else:
        status, auth.local_list, auth.local_list_version = apply_update(
            auth.local_list, auth.local_list_version, update
        )
    kind = "Full" if update.full else "Differential"
    station.note(
        f"SendLocalList ({kind}, version {update.version}, {len(update.entries)} entries) "
        f"requested by CSMS: {status}; the list holds {len(auth.local_list)}"
    )
    station._changed()
    return {"status": status}


def send_local_list_16(station: Station, ctx: HandlerContext) -> Payload:
    entries = {
        str(item["idTag"]): IdInfo.parse(item.get("idTagInfo"))
        for item in ctx.params.get("localAuthorizationList") or []
    }
    full = ctx.params["updateType"] == "Full"
    return _send(station, ctx, Update(ctx.params["listVersion"], full, entries))


def send_local_list_2(station: Station, ctx: HandlerContext) -> Payload:
    entries = {
        str(item["idToken"]["idToken"]): IdInfo.parse(item.get("idTokenInfo"))
        for item in ctx.params.get("localAuthorizationList") or []
    }
    full = ctx.params["updateType"] == "Full"
    return _send(station, ctx, Update(ctx.params["versionNumber"], full, entries))


def get_local_list_version_16(station: Station, ctx: HandlerContext) -> Payload:
    enabled = station.configuration.get("LocalAuthListEnabled", "").lower() == "true"
    version = station.auth.local_list_version if enabled else -1
    station.note(f"GetLocalListVersion requested by CSMS: {version}")
    return {"listVersion": version}


def get_local_list_version_2(station: Station, ctx: HandlerContext) -> Payload:
    version = station.auth.local_list_version
    station.note(f"GetLocalListVersion requested by CSMS: {version}")
    return {"versionNumber": version}


V16 = {"SendLocalList": send_local_list_16, "GetLocalListVersion": get_local_list_version_16}
V2 = {"SendLocalList": send_local_list_2, "GetLocalListVersion": get_local_list_version_2}
