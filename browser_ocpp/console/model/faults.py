"""The faults panel's settings: what the user typed, checked, as ``station.faults``
takes them; and the CALLERROR codes a version spells.  Pure (no ``js``)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ...rpc import errors

__all__ = ["MAX_DELAY_MS", "FaultSettings", "error_codes", "parse_faults"]

MAX_DELAY_MS = 600_000  # ten minutes: well past any CSMS's call timeout
_ACTION = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


@dataclass(frozen=True)
class FaultSettings:
    reply_delay_ms: float = 0.0
    drop_replies: bool = False
    reject_with: str | None = None
    actions: frozenset[str] | None = None  # None: every CSMS command

    @property
    def active(self) -> bool:
        return bool(self.reply_delay_ms or self.drop_replies or self.reject_with)


def parse_faults(delay: str, reject: str, actions: str, drop: bool) -> FaultSettings:
    """The panel's fields as settings; ``ValueError`` says which one is wrong."""
    text = delay.strip()
    try:
        delay_ms = float(text) if text else 0.0
    except ValueError:
        raise ValueError("the answer delay must be a number of milliseconds") from None
    if not math.isfinite(delay_ms) or not 0 <= delay_ms <= MAX_DELAY_MS:
        raise ValueError(f"the answer delay must be from 0 to {MAX_DELAY_MS:,} ms")
    names = [name.strip() for name in re.split(r"[,\s]+", actions) if name.strip()]
    for name in names:
        if not _ACTION.match(name):
            raise ValueError(f"{name!r} is no action name (say Reset, TriggerMessage, …)")
    code = reject.strip() or None
    if code is not None and not _ACTION.match(code):
        raise ValueError(f"{code!r} is no CALLERROR code")
    return FaultSettings(delay_ms, drop, code, frozenset(names) if names else None)


def error_codes(protocol: str | None) -> list[str]:
    """The CALLERROR codes of ``protocol`` (as it spells them), sorted."""
    classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.RPCError)
    ]
    return sorted({cls.wire_code(protocol) for cls in classes if cls.code})
