"""Settings: coercion, what makes a station, and the line locator of the editor."""

from __future__ import annotations

import pytest

from browser_ocpp.console.model.formatting import activity_level, format_energy_kwh
from browser_ocpp.console.model.json_text import error_line, json_lines
from browser_ocpp.console.model.settings import (
    DEFAULTS,
    SettingsError,
    coerce_settings,
    default_endpoint,
    plain,
    random_identity,
    signature,
)


def test_form_values_are_typed_and_checked() -> None:
    settings = coerce_settings({"connectors": "3", "power_kw": "7.4", "strict": "false"})
    assert settings["connectors"] == 3 and settings["power_kw"] == 7.4
    assert settings["strict"] is False
    with pytest.raises(SettingsError) as caught:
        coerce_settings({"endpoint": "http://x"})
    assert caught.value.field == "endpoint"
    with pytest.raises(SettingsError):
        coerce_settings({"backoff_min": "500", "backoff_max": "100"})


def test_stored_values_fall_back_to_defaults() -> None:
    settings = coerce_settings({"connectors": "99", "version": "ocpp9"}, strict=False)
    assert settings["connectors"] == DEFAULTS["connectors"]
    assert settings["version"] == DEFAULTS["version"]


def test_reconnect_options_do_not_make_another_station() -> None:
    base = coerce_settings({})
    assert signature(base) == signature({**base, "backoff_max": 9000, "reconnect": False})
    assert signature(base) != signature({**base, "connectors": 3})


def test_small_helpers() -> None:
    assert default_endpoint("https:", "example.test") == "wss://example.test/ocpp"
    assert default_endpoint("http:", "") == "ws://127.0.0.1/ocpp"
    assert random_identity().startswith("EMU-") and len(random_identity()) == 8
    assert (plain(10.0), plain(2.5), plain("x")) == ("10", "2.5", "x")
    assert format_energy_kwh(None) == "—" and format_energy_kwh(1500) == "1.500"
    assert activity_level("Boot accepted") == "good"
    assert activity_level("Authorize rejected") == "warn"


def test_error_lines_in_the_editor() -> None:
    text = '{\n  "a": 1,\n  "b": {\n    "c": [1, 2]\n  }\n}'
    lines = json_lines(text)
    assert lines["$"] == 1 and lines["$.a"] == 2 and lines["$.b.c"] == 4
    assert error_line(text, "$.b.c[1]") == 4
    assert error_line(text, "$.missing") == 1
    message = "Additional properties are not allowed ('a' was unexpected)"
    assert error_line(text, "$", "additionalProperties", message) == 2
    assert json_lines('{"a": ') == {"$": 1, "$.a": 1}


def test_the_preview_puts_the_identity_in_the_path_before_the_query() -> None:
    from browser_ocpp.console.model.settings import preview_url

    url = preview_url("ws://127.0.0.1:9000/ocpp?token=abc", "CP 1")
    assert url == "ws://127.0.0.1:9000/ocpp/CP%201?token=abc"
    assert preview_url("ws://h/ocpp/", "CP-1") == "ws://h/ocpp/CP-1"
    assert preview_url("", "CP-1") == "—"


@pytest.mark.parametrize(
    ("endpoint", "says"),
    [
        ("ws://127.0.0.1:99999/ocpp", "port must be a number from 1 to 65535"),
        ("ws://127.0.0.1:0/ocpp", "port must be a number from 1 to 65535"),
        ("ws://127.0.0.1:abc/ocpp", "port must be a number from 1 to 65535"),
        ("ws://:80/ocpp", "needs a host name"),
        ("ws://host/oc pp", "must not contain spaces"),
        ("ws://host/ocpp#x", "#fragment"),
        ("http://host/ocpp", "must start with ws:// or wss://"),
    ],
)
def test_an_endpoint_the_browser_would_refuse_is_named(endpoint: str, says: str) -> None:
    with pytest.raises(SettingsError) as caught:
        coerce_settings({"endpoint": endpoint})
    assert caught.value.field == "endpoint" and says in caught.value.message


def test_check_form_asks_for_the_endpoint_and_identity() -> None:
    from browser_ocpp.console.model.settings import check_form

    with pytest.raises(SettingsError) as caught:
        check_form({"endpoint": "", "identity": "CP-1"})
    assert caught.value.field == "endpoint"
    with pytest.raises(SettingsError) as caught:
        check_form({"endpoint": "ws://h/ocpp", "identity": " "})
    assert caught.value.field == "identity"
    assert check_form({"endpoint": "ws://h:8080/ocpp", "identity": "CP-1"})["identity"] == "CP-1"


def test_several_subprotocols_are_offered_on_request() -> None:
    from browser_ocpp.console.model.settings import offered_protocols

    settings = coerce_settings({"version": "ocpp2.0.1"})
    assert offered_protocols(settings) == ["ocpp2.0.1"]
    settings = coerce_settings({"version": "ocpp2.0.1", "offer_all": True})
    assert offered_protocols(settings) == ["ocpp2.0.1", "ocpp2.1", "ocpp1.6"]
    assert signature(settings) != signature({**settings, "offer_all": False})
