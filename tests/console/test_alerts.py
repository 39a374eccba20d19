"""What reaches a toast at the top of the page."""

from __future__ import annotations

from browser_ocpp.console.model.alerts import activity_alert, refused_request_alert


def test_a_refused_id_tag_is_a_toast_and_routine_lines_are_not() -> None:
    line = "Connector 1: the CSMS did not accept BLOCKED-1"
    assert activity_alert(line) == line
    assert activity_alert("Connector 1: start refused: Faulted") is not None
    assert activity_alert("Authorize BLOCKED-1: Invalid") is not None
    assert activity_alert("Authorize TAG-1: Accepted") is None
    assert activity_alert("Connector 1: transaction 7 started") is None
    assert activity_alert("Boot accepted, heartbeat every 300 s") is None


def test_only_unsupported_requests_are_toasts() -> None:
    text = refused_request_alert("GetLog", "NotImplemented")
    assert text is not None and "GetLog" in text and "NotImplemented" in text
    assert refused_request_alert(None, "NotSupported") is not None
    assert refused_request_alert("Reset", "InternalError") is None
