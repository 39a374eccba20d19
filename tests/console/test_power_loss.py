"""A transaction open when the page goes is ended with PowerLoss after the next boot."""

from __future__ import annotations

import pytest

from browser_ocpp.console.model.power_loss import dump, load, snapshot, stop_messages
from browser_ocpp.emulator.connectors import Connector
from browser_ocpp.rpc.validation import validator_for

AT = 1_700_000_000.25  # 2023-11-14T22:13:20.250Z


def valid(protocol: str, action: str, payload: dict[str, object]) -> None:
    validator = validator_for(protocol)
    assert validator is not None
    validator.validate_request(action, payload)  # raises what the schema refuses


def charging(transaction_id: str, key: str) -> Connector:
    return Connector(
        id=2,
        plugged=True,
        transaction_id=transaction_id,
        transaction_key=key,
        id_tag="TAG-1",
        id_token={"idToken": "TAG-1", "type": "ISO14443"},
        energy_wh=1234.5,
        meter_start_wh=100,
        seq_no=4,
    )


def test_a_1_6_transaction_is_stopped_with_power_loss() -> None:
    idle = Connector(id=1)
    (record,) = load(dump(snapshot("ocpp1.6", [idle, charging("42", "k-1")], AT)))
    action, payload = stop_messages(record)
    assert action == "StopTransaction"
    valid("ocpp1.6", action, payload)
    assert payload["transactionId"] == 42 and payload["reason"] == "PowerLoss"
    assert payload["meterStop"] == 1234 and payload["idTag"] == "TAG-1"
    assert payload["timestamp"] == "2023-11-14T22:13:20.250Z"
    assert payload["transactionData"][0]["timestamp"] == payload["timestamp"]


def test_a_1_6_transaction_the_csms_never_numbered_is_left_out() -> None:
    assert snapshot("ocpp1.6", [charging("local-7f3a", "local-7f3a")], AT) == []


@pytest.mark.parametrize("protocol", ["ocpp2.0.1", "ocpp2.1"])
def test_a_2x_transaction_ends_with_power_loss(protocol: str) -> None:
    (record,) = snapshot(protocol, [charging("tx-9", "tx-9")], AT)
    action, payload = stop_messages(record)
    assert action == "TransactionEvent"
    valid(protocol, action, payload)
    assert payload["eventType"] == "Ended" and payload["seqNo"] == 4
    assert payload["transactionInfo"]["transactionId"] == "tx-9"
    assert payload["transactionInfo"]["stoppedReason"] == "PowerLoss"
    assert payload["triggerReason"] == "AbnormalCondition" and payload["offline"] is True
    assert payload["evse"] == {"id": 2, "connectorId": 1}
    assert payload["meterValue"][0]["sampledValue"][0]["context"] == "Transaction.End"


def test_unreadable_storage_is_no_record() -> None:
    assert load(None) == [] and load("{") == [] and load('{"a": 1}') == []
    assert load('[{"connector": 1}, 5]') == []
