"""Which events deserve a notice at the top of the page (a toast), not only a line in
the activity feed below the fold.  Pure (no ``js``)."""

from __future__ import annotations

__all__ = ["UNSUPPORTED_CODES", "activity_alert", "refused_request_alert"]

UNSUPPORTED_CODES = frozenset({"NotImplemented", "NotSupported"})

_REFUSALS = ("did not accept", "refused", "rejected")


def activity_alert(line: str) -> str | None:
    """The station's activity line as a toast's text when the user must see it (an
    idTag refused, a start refused), else None."""
    lowered = line.lower()
    if any(word in lowered for word in _REFUSALS):
        return line
    if line.startswith("Authorize ") and not line.endswith(": Accepted"):
        return line  # "Authorize TAG: Invalid" (Blocked, Expired, …)
    return None


def refused_request_alert(action: str | None, code: str) -> str | None:
    """A toast's text when the station answered a CSMS request with NotImplemented or
    NotSupported (it cannot do what the CSMS asked), else None."""
    if code not in UNSUPPORTED_CODES:
        return None
    what = action or "a request"
    return f"The CSMS sent {what}: this station does not support it ({code})"
