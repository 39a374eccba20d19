"""A page closed or reloaded mid-transaction is a station that lost its power: the
open transactions are kept written down while they run (``snapshot``) and, once the
station is booted again, ended at the CSMS with reason PowerLoss, as a real station
does after a power cut (``stop_messages``).  Pure (no ``js``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from ...emulator import messages as msg
from ...emulator.connectors import Connector

__all__ = ["STORAGE_PREFIX", "Record", "dump", "load", "snapshot", "stop_messages"]

STORAGE_PREFIX = "browser-ocpp.console.power-loss:"  # + identity
MEASURANDS = ("Energy.Active.Import.Register",)
Record = dict[str, Any]


def snapshot(protocol: str | None, connectors: Iterable[Connector], now: float) -> list[Record]:
    """The transactions open on ``connectors`` at ``now`` (epoch seconds) that the CSMS
    knows by their id: 1.6 ones whose StartTransaction was answered, every 2.x one."""
    records: list[Record] = []
    for c in connectors:
        if c.transaction_id is None or c.transaction_key is None:
            continue
        if msg.is_v16(protocol) and not str(c.transaction_id).lstrip("-").isdigit():
            continue  # started offline, its StartTransaction unanswered: no id to stop
        records.append(
            {
                "protocol": protocol,
                "connector": c.id,
                "transaction_id": str(c.transaction_id),
                "id_tag": c.id_tag,
                "id_token": c.id_token,
                "energy_wh": c.energy_wh,
                "meter_start_wh": c.meter_start_wh,
                "seq_no": c.seq_no,
                "at": now,
            }
        )
    return records


def stop_messages(record: Record) -> tuple[str, dict[str, Any]]:
    """The message that ends ``record``'s transaction with reason PowerLoss, dated
    when the power went: 1.6 StopTransaction, 2.x TransactionEvent(Ended)."""
    protocol = record["protocol"]
    at = datetime.fromtimestamp(float(record["at"]), UTC)
    when = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    connector = Connector(
        id=int(record["connector"]),
        id_tag=record.get("id_tag"),
        energy_wh=float(record["energy_wh"]),
        meter_start_wh=int(record.get("meter_start_wh") or 0),
        seq_no=int(record.get("seq_no") or 0),
        id_token=record.get("id_token"),
    )
    if msg.is_v16(protocol):
        payload = msg.stop_transaction(connector, "PowerLoss", MEASURANDS)
        payload["transactionId"] = int(record["transaction_id"])
        action = "StopTransaction"
    else:
        _, stopped, trigger = msg.STOP_REASONS["PowerLoss"]
        payload = msg.transaction_event(
            protocol,
            connector,
            str(record["transaction_id"]),
            "Ended",
            trigger,
            MEASURANDS,
            context="Transaction.End",
            stopped_reason=stopped,
            offline=True,  # it ended while the station could not tell the CSMS
        )
        action = "TransactionEvent"
    payload["timestamp"] = when
    samples: list[dict[str, Any]] = payload.get("transactionData") or payload["meterValue"]
    for sample in samples:
        sample["timestamp"] = when
    return action, payload


def dump(records: list[Record]) -> str:
    return json.dumps(records)


def load(text: str | None) -> list[Record]:
    """Records written by :func:`dump`; anything unreadable is none."""
    if not text:
        return []
    try:
        loaded = json.loads(text)
    except ValueError:
        return []
    if not isinstance(loaded, list):
        return []
    keys = ("protocol", "connector", "transaction_id", "energy_wh", "at")
    return [r for r in loaded if isinstance(r, dict) and all(k in r for k in keys)]
