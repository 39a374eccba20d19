"""The conformance pack: test cases for a CSMS, seen from the station's side, for
OCPP 1.6, 2.0.1 and 2.1 (``browser-ocpp check``). Each case names the clause it
checks; the OCPP-J texts are in the repository's spec folder, the core-protocol
sections (BootNotification, transactions...) are cited by their numbers in the
OCPP 1.6 Core and 2.0.1 Part 2 documents."""

from __future__ import annotations

from ..api import Scenario
from . import core, rpc, transactions
from .commands import COMMANDS

__all__ = ["PACK", "cases_for"]


def _case(function: object) -> Scenario:
    found: Scenario = function.__scenario__  # type: ignore[attr-defined]
    return found


PACK: list[Scenario] = [
    *map(
        _case,
        [
            core.boot_accepted,
            core.boot_pending,
            core.boot_rejected,
            core.heartbeat,
            core.status,
            core.authorize,
            transactions.transaction_16,
            transactions.transaction_2,
            transactions.reconnect_resume,
            transactions.offline_replay,
            rpc.unknown_action,
            rpc.malformed_payload,
            rpc.wrong_type,
            rpc.not_json,
            rpc.unknown_message_type,
            rpc.one_outstanding_call,
            rpc.response_times,
        ],
    ),
    *COMMANDS,
]
"""Every case, in the order a check runs them."""


def cases_for(protocol: str) -> list[Scenario]:
    """The cases that apply to ``protocol``."""
    return [case for case in PACK if case.applies_to(protocol)]
