"""Which way each action goes, per version."""

from __future__ import annotations

import pytest

from browser_ocpp.rpc.versions import (
    BOTH_WAYS,
    OCPP16,
    OCPP21,
    OCPP201,
    STATION_ONLY,
    SUPPORTED_PROTOCOLS,
    csms_actions,
    known_actions,
    station_actions,
)


@pytest.mark.parametrize("protocol", SUPPORTED_PROTOCOLS)
def test_every_action_goes_one_way_but_data_transfer_both(protocol: str) -> None:
    station, csms = station_actions(protocol), csms_actions(protocol)
    assert station | csms == known_actions(protocol)
    assert station & csms == BOTH_WAYS == {"DataTransfer"}
    assert {"BootNotification", "Heartbeat", "Authorize", "StatusNotification"} <= station
    assert {"Reset", "ChangeAvailability", "TriggerMessage", "UnlockConnector"} <= csms


def test_each_version_has_its_own_station_and_csms_actions() -> None:
    assert {"StartTransaction", "StopTransaction", "DiagnosticsStatusNotification"} <= (
        station_actions(OCPP16)
    )
    assert {"RemoteStartTransaction", "GetConfiguration", "GetDiagnostics"} <= csms_actions(OCPP16)
    assert "TransactionEvent" not in station_actions(OCPP16)
    assert {"TransactionEvent", "NotifyReport", "NotifyEVChargingNeeds"} <= (
        station_actions(OCPP201)
    )
    assert {"RequestStartTransaction", "GetVariables", "CostUpdated"} <= csms_actions(OCPP201)
    assert "BatterySwap" not in station_actions(OCPP201)
    assert {"BatterySwap", "VatNumberValidation", "NotifyPeriodicEventStream"} <= (
        station_actions(OCPP21)
    )
    # Notify* that a CSMS sends, and the CSMS's side of a battery swap
    assert {"NotifyAllowedEnergyTransfer", "NotifyWebPaymentStarted", "RequestBatterySwap"} <= (
        csms_actions(OCPP21)
    )


def test_every_station_only_name_is_an_action_of_some_version() -> None:
    every = frozenset().union(*(known_actions(p) for p in SUPPORTED_PROTOCOLS))
    assert every >= STATION_ONLY
    assert not STATION_ONLY & BOTH_WAYS


def test_an_unknown_protocol_has_no_actions_either_way() -> None:
    assert station_actions("ocpp9") == frozenset() == csms_actions("ocpp9")
