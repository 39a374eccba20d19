"""Display messages (2.x): set, get (NotifyDisplayMessages), clear, and the messages of a
transaction going with it (2.0.1 and 2.1, the strict test CSMS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from .conftest import Payload, Rig, RigFactory


@pytest.fixture(params=["ocpp2.0.1", "ocpp2.1"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def message(mid: int, text: str, priority: str = "NormalCycle", **extra: Any) -> Payload:
    return {
        "id": mid,
        "priority": priority,
        "message": {"format": "UTF8", "content": text},
        **extra,
    }


async def show(rig: Rig, info: Payload) -> Payload:
    return await rig.csms.send("SetDisplayMessage", {"message": info})


async def test_set_get_and_clear(make_rig: RigFactory) -> None:
    rig = await make_rig()
    rig.csms.answers["NotifyDisplayMessages"] = lambda p: {}
    assert await show(rig, message(1, "Welcome")) == {"status": "Accepted"}
    assert await show(rig, message(2, "Maintenance tonight", "AlwaysFront", state="Idle")) == {
        "status": "Accepted"
    }
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert await show(rig, message(3, "Later", startDateTime=later)) == {"status": "Accepted"}
    display = rig.station.display
    assert [m["id"] for m in display.shown()] == [2, 1]  # AlwaysFront first; 3 not yet
    assert [m["id"] for m in display.shown("Charging")] == [1]
    assert await show(rig, message(1, "Hello again")) == {"status": "Accepted"}  # replaced
    assert display.messages[1]["message"]["content"] == "Hello again"
    answer = await rig.csms.send("GetDisplayMessages", {"requestId": 8, "priority": "NormalCycle"})
    assert answer == {"status": "Accepted"}
    notified = await rig.csms.next("NotifyDisplayMessages")
    assert notified["requestId"] == 8 and [m["id"] for m in notified["messageInfo"]] == [1, 3]
    assert await rig.csms.send("GetDisplayMessages", {"requestId": 9, "id": [7]}) == {
        "status": "Unknown"
    }
    assert await rig.csms.send("ClearDisplayMessage", {"id": 2}) == {"status": "Accepted"}
    assert await rig.csms.send("ClearDisplayMessage", {"id": 2}) == {"status": "Unknown"}
    assert sorted(display.messages) == [1, 3]


async def test_refusals_and_transaction_messages(make_rig: RigFactory) -> None:
    rig = await make_rig()
    assert await show(rig, message(1, "Yours", transactionId="none")) == {
        "status": "UnknownTransaction"
    }
    if rig.csms.protocol == "ocpp2.1":
        qr = {"id": 2, "priority": "InFront", "message": {"format": "QRCODE", "content": "x"}}
        assert await show(rig, qr) == {"status": "NotSupportedMessageFormat"}
    await rig.station.start_transaction(1, "TAG-1")
    transaction_id = rig.station.connectors[0].transaction_id
    assert await show(rig, message(3, "3.2 kWh so far", transactionId=transaction_id)) == {
        "status": "Accepted"
    }
    await rig.station.stop_transaction(1)
    assert rig.station.display.messages == {}  # it went with its transaction
