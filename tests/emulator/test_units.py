"""The emulator's parts without a socket: configuration, meter, payloads, imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from browser_ocpp import RPCClient
from browser_ocpp.emulator import CONFIG_KEYS, Connector, ConnectorStatus, Station, StationConfig
from browser_ocpp.emulator.config import find_key, find_variable, normalize
from browser_ocpp.emulator.connectors import charging_state, derive_status, v2_status
from browser_ocpp.emulator.messages import STOP_REASONS, meter_values, status_notification
from browser_ocpp.emulator.meter import advance
from browser_ocpp.rpc.validation import validator_for


def test_the_emulator_imports_without_websockets_or_jsonschema() -> None:
    code = (
        "import sys, browser_ocpp.emulator, browser_ocpp.rpc.skeleton\n"
        "bad = {'websockets', 'jsonschema', 'js', 'threading'} & set(sys.modules)\n"
        "assert not bad - {'threading'}, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_config_table_maps_1_6_keys_and_2_x_variables() -> None:
    assert find_key("heartbeatinterval") is find_variable("ocppcommctrlr", "HEARTBEATINTERVAL")
    assert find_variable("SampledDataCtrlr", "TxUpdatedInterval") == find_key(
        "MeterValueSampleInterval"
    )
    assert find_key("Nope") is None and find_variable("OCPPCommCtrlr", "Nope") is None
    keys = [entry.key for entry in CONFIG_KEYS]
    assert len(keys) == len(set(keys))
    pairs = [(e.component, e.variable) for e in CONFIG_KEYS if e.component is not None]
    assert len(pairs) == len(set(pairs))


@pytest.mark.parametrize(
    ("key", "value", "stored"),
    [
        ("HeartbeatInterval", "60", "60"),
        ("HeartbeatInterval", " 0.50 ", "0.5"),
        ("HeartbeatInterval", "-1", None),
        ("HeartbeatInterval", "NaN", None),
        ("ConnectionTimeOut", "1.5", None),
        ("ConnectionTimeOut", "30", "30"),
        ("LocalAuthorizeOffline", "False", "false"),
        ("LocalAuthorizeOffline", "yes", None),
        ("MeterValuesSampledData", "SoC, Power.Active.Import", "SoC,Power.Active.Import"),
        ("MeterValuesSampledData", "Voltage", None),
    ],
)
def test_values_are_checked_and_normalized(key: str, value: str, stored: str | None) -> None:
    entry = find_key(key)
    assert entry is not None
    assert normalize(entry, value) == stored


def test_station_config_is_checked() -> None:
    client = RPCClient(identity="X", endpoint="ws://127.0.0.1:1", protocols=["ocpp1.6"])
    with pytest.raises(ValueError, match="connectors must be 1 to 8"):
        Station(client, StationConfig(connectors=9))
    with pytest.raises(ValueError, match="initial_soc"):
        Station(client, StationConfig(initial_soc=101))
    station = Station(client)
    assert [c.id for c in station.connectors] == [1, 2]
    assert station.configuration["NumberOfConnectors"] == "2"
    assert station.configuration["MeterValueSampleInterval"] == "10"
    with pytest.raises(ValueError, match="no connector 3"):
        station.connector(3)


def test_meter_energy_grows_by_power_over_time() -> None:
    config = StationConfig(power_kw=36.0, battery_kwh=10.0, initial_soc=50.0)
    connector = Connector(1, transaction_id="1", soc=50.0, updated_at=100.0)
    assert advance(connector, config, 110.0) is False  # 10 s at 36 kW: 100 Wh
    assert connector.energy_wh == pytest.approx(100.0)
    assert connector.soc == pytest.approx(51.0)
    assert connector.power_w == 36_000
    assert advance(connector, config, 10_000.0) is True  # the battery fills: 4.9 kWh more
    assert connector.soc == 100.0 and connector.energy_wh == pytest.approx(5000.0)
    connector.ev_suspended = True
    advance(connector, config, 10_010.0)
    assert connector.power_w == 0 and connector.energy_wh == pytest.approx(5000.0)


def test_status_mapping() -> None:
    connector = Connector(1)
    assert derive_status(connector) is ConnectorStatus.AVAILABLE
    connector.plugged = True
    assert derive_status(connector) is ConnectorStatus.PREPARING
    assert charging_state(connector) == "EVConnected"
    connector.transaction_id = "t"
    assert derive_status(connector) is ConnectorStatus.CHARGING
    connector.operative = False  # a transaction keeps its status until it ends
    assert derive_status(connector) is ConnectorStatus.CHARGING
    connector.transaction_id = None
    assert derive_status(connector) is ConnectorStatus.UNAVAILABLE
    connector.operative, connector.reservation_id = True, 4
    assert derive_status(connector) is ConnectorStatus.RESERVED  # plugged or not
    assert {v2_status(s) for s in ConnectorStatus} == {
        "Available",
        "Occupied",
        "Faulted",
        "Unavailable",
        "Reserved",
    }


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
def test_payloads_are_schema_valid(protocol: str) -> None:
    validator = validator_for(protocol)
    assert validator is not None
    connector = Connector(1, plugged=True, soc=None, energy_wh=1234.5678)
    for status in ConnectorStatus:
        validator.validate_request("StatusNotification", status_notification(protocol, 1, status))
    validator.validate_request("MeterValues", meter_values(protocol, connector, "Trigger", []))
    payload = meter_values(protocol, connector, "Trigger", ["SoC"])
    value = payload["meterValue"][0]["sampledValue"][0]
    assert value["measurand"] == "Energy.Active.Import.Register"  # no SoC without an EV
    assert value["value"] == ("1234.568" if protocol == "ocpp1.6" else 1234.568)


def test_every_stop_reason_is_valid_in_every_version() -> None:
    v16 = validator_for("ocpp1.6")
    assert v16 is not None
    for reason, (v16_reason, stopped, trigger) in STOP_REASONS.items():
        payload = {"transactionId": 1, "meterStop": 0, "timestamp": "2024-01-01T00:00:00Z"}
        v16.validate_request("StopTransaction", {**payload, "reason": v16_reason})
        for protocol in ("ocpp2.0.1", "ocpp2.1"):
            validator = validator_for(protocol)
            assert validator is not None
            validator.validate_request(
                "TransactionEvent",
                {
                    "eventType": "Ended",
                    "timestamp": "2024-01-01T00:00:00Z",
                    "triggerReason": trigger,
                    "seqNo": 0,
                    "transactionInfo": {"transactionId": reason, "stoppedReason": stopped},
                },
            )


async def test_stop_is_safe_before_start_and_twice() -> None:
    client = RPCClient(identity="X", endpoint="ws://127.0.0.1:1", protocols=["ocpp2.0.1"])
    station = Station(client)
    await station.stop()
    await station.stop()
    with pytest.raises(ValueError, match="unknown stop reason"):
        await station.stop_transaction(1, "Bored")
