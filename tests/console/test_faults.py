"""The faults panel's model: the fields checked, the codes each version spells."""

from __future__ import annotations

import pytest

from browser_ocpp.console.model.faults import FaultSettings, error_codes, parse_faults


def test_the_fields_become_fault_settings() -> None:
    assert parse_faults("", "", "", False) == FaultSettings()
    assert not FaultSettings().active
    settings = parse_faults("45000", "InternalError", "Reset, TriggerMessage", True)
    assert settings.reply_delay_ms == 45_000 and settings.drop_replies
    assert settings.reject_with == "InternalError"
    assert settings.actions == frozenset({"Reset", "TriggerMessage"}) and settings.active


@pytest.mark.parametrize(
    ("delay", "reject", "actions", "says"),
    [
        ("soon", "", "", "number of milliseconds"),
        ("-1", "", "", "from 0 to"),
        ("inf", "", "", "from 0 to"),
        ("", "", "Re-set", "no action name"),
        ("", "Internal Error", "", "no CALLERROR code"),
    ],
)
def test_a_wrong_field_is_named(delay: str, reject: str, actions: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_faults(delay, reject, actions, False)


def test_error_codes_as_each_version_spells_them() -> None:
    v16, v201 = error_codes("ocpp1.6"), error_codes("ocpp2.0.1")
    assert "OccurenceConstraintViolation" in v16 and "FormationViolation" in v16
    assert "OccurrenceConstraintViolation" in v201 and "FormatViolation" in v201
    assert "RpcFrameworkError" in v201 and "RpcFrameworkError" not in v16
    assert {"NotImplemented", "NotSupported", "InternalError"} <= set(v16) & set(v201)
