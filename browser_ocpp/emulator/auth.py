"""Local authorization: the authorization cache, the local list, and the decision a
station takes on an idTag when it does not ask the CSMS.

Pure state, no I/O: :class:`~browser_ocpp.emulator.Station` feeds the cache from the
CSMS's answers (1.6 ``idTagInfo``, 2.x ``idTokenInfo``) and asks :func:`offline_refusal`
while it is offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["Authorization", "IdInfo", "offline_refusal", "parse_time"]


@dataclass(frozen=True, slots=True)
class IdInfo:
    """What the station knows of an idTag: its status and until when it holds."""

    status: str
    expires: datetime | None = None
    group: str | None = None
    """Its parentIdTag (1.6) or groupIdToken (2.x), if the CSMS gave one."""

    def valid(self, now: datetime) -> bool:
        """Accepted and not expired at ``now``."""
        return self.status == "Accepted" and (self.expires is None or self.expires > now)

    @classmethod
    def parse(cls, info: Any) -> IdInfo | None:
        """From a 1.6 ``idTagInfo`` (``expiryDate``) or a 2.x ``idTokenInfo``
        (``cacheExpiryDateTime``); None for anything without a status."""
        if not isinstance(info, dict) or not isinstance(info.get("status"), str):
            return None
        when = info.get("expiryDate", info.get("cacheExpiryDateTime"))
        group = info.get("parentIdTag", (info.get("groupIdToken") or {}).get("idToken"))
        return cls(str(info["status"]), parse_time(when), group if isinstance(group, str) else None)


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 date-time (UTC if it names no zone); None if it is not one."""
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


class Authorization:
    """The authorization cache (filled from the CSMS's answers) and the local
    authorization list (set from Python: ``station.auth.local_list["TAG"] =
    IdInfo("Accepted")``)."""

    def __init__(self) -> None:
        self.cache: dict[str, IdInfo] = {}
        self.local_list: dict[str, IdInfo] = {}
        self.local_list_version = 0
        """The version of the local list the CSMS last sent (SendLocalList), 0: none."""

    def remember(self, tag: str, info: IdInfo) -> None:
        """Cache what the CSMS said of ``tag``."""
        self.cache[tag] = info

    def lookup(self, tag: str, *, cache: bool, local_list: bool) -> IdInfo | None:
        """What the enabled stores know of ``tag``: the local list first (the CSMS
        manages it), then the cache."""
        if local_list and tag in self.local_list:
            return self.local_list[tag]
        if cache:
            return self.cache.get(tag)
        return None

    def clear_cache(self) -> None:
        self.cache.clear()


def offline_refusal(
    tag: str,
    known: IdInfo | None,
    now: datetime,
    *,
    local_authorize_offline: bool,
    allow_unknown: bool,
) -> str | None:
    """Why the station, offline, does not start for ``tag``; None if it does.

    With LocalAuthorizeOffline, an idTag the local list or the cache holds starts
    if that entry is valid and is refused otherwise (blocked, expired...); one they
    do not hold (or every one, without LocalAuthorizeOffline) starts only with
    AllowOfflineTxForUnknownId (2.x: OfflineTxForUnknownIdEnabled).
    """
    if local_authorize_offline and known is not None:
        if known.valid(now):
            return None
        state = "expired" if known.status == "Accepted" else known.status
        return f"{tag} is {state} in the local list or authorization cache"
    if allow_unknown:
        return None
    if known is not None:
        why = "LocalAuthorizeOffline and AllowOfflineTxForUnknownId are false"
    else:
        why = "unknown, and AllowOfflineTxForUnknownId is false"
    return f"{tag} cannot be authorized offline ({why})"
