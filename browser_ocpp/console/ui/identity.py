"""The tab's identity: kept per tab (sessionStorage: a reload keeps it) and claimed,
so that no other tab of this browser connects as the same station (static/identity.js
holds the claims)."""

from __future__ import annotations

import js

from ..model.settings import random_identity
from .window import settled, window

__all__ = ["TabIdentity"]

SESSION_KEY = "browser-ocpp.console.identity"
FRESH_TRIES = 8  # random identities tried when the one wanted is taken


class TabIdentity:
    def __init__(self) -> None:
        self.claimed: str | None = None

    @staticmethod
    def remembered() -> str | None:
        """The identity this tab used before a reload (a duplicated tab has it too)."""
        try:
            text = window.sessionStorage.getItem(SESSION_KEY)
        except Exception:
            return None
        return str(text) if text else None

    @staticmethod
    def remember(identity: str) -> None:
        try:
            window.sessionStorage.setItem(SESSION_KEY, identity)
        except Exception as exc:  # storage disabled
            js.console.warn(f"[console] identity not kept for this tab: {exc!r}")

    async def claim(self, identity: str) -> bool:
        """Hold ``identity`` for this tab (letting go of the one held before); False if
        another tab of this browser holds it."""
        if identity == self.claimed:
            return True
        if not await settled(window.consoleIdentity.claim(identity)):
            return False
        if self.claimed is not None:
            window.consoleIdentity.release(self.claimed)
        self.claimed = identity
        self.remember(identity)
        return True

    async def settle(self, wanted: str) -> str:
        """``wanted`` if no other tab holds it, else a fresh random identity."""
        if await self.claim(wanted):
            return wanted
        for _ in range(FRESH_TRIES):
            fresh = random_identity()
            if await self.claim(fresh):
                return fresh
        raise RuntimeError("no free identity found: too many tabs hold the ones tried")
