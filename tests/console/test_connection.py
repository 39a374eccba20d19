"""ConnectionState: the state line the console shows."""

from __future__ import annotations

from browser_ocpp.console.model.connection import ConnectionState


def test_open_reconnecting_and_closed_lines() -> None:
    state = ConnectionState()
    assert state.closed and state.text(0) == "closed"
    state.connecting()
    assert state.text(0) == "connecting"
    state.opened("ocpp2.0.1")
    assert state.text(0) == "open (ocpp2.0.1)"
    state.retrying(3, 2.5, now=10.0)
    assert state.text(10.0) == "reconnecting (attempt 3, 3 s)"
    assert state.text(13.0) == "reconnecting (attempt 3, connecting…)"
    state.connecting()
    assert state.state == "reconnecting"
    assert state.ended(1000, "bye") == "bye"
    assert state.text(0) == "closed (1000 bye)" and state.attempt == 0 and state.protocol is None


def test_a_long_close_reason_is_cut_in_the_state_line() -> None:
    state = ConnectionState()
    reason = "the last reconnect attempt failed because nobody answers at that address"
    shown = state.ended(1006, reason)
    assert shown != reason and shown.endswith("…") and len(shown) <= 48
    assert state.text(0) == f"closed (1006 {shown})"
    state.ended(1005, "")
    assert state.text(0) == "closed (1005)"


def test_offline_on_purpose_and_the_reconnect_countdown() -> None:
    state = ConnectionState()
    state.retrying(2, 17.2, now=100.0)
    assert state.seconds_left(100.0) == 18 and state.seconds_left(117.5) is None
    state.went_offline()
    assert state.text(0) == "offline (network cut on purpose)" and not state.closed
    assert state.seconds_left(0) is None
