"""Events (on/once/off, payloads) and LoggingConfig on the standard logging module."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from browser_ocpp import CloseEvent, LogEntry, LoggingConfig, RPCPeer
from browser_ocpp.rpc import Call, CallError, CallResult

from .conftest import PairFactory, collect, expect, wait


async def test_frame_events_in_both_directions(pair: PairFactory) -> None:
    station, csms = await pair()
    csms.handle("Heartbeat", lambda ctx: {"currentTime": "t"})
    out_calls, in_results = collect(station, "call"), collect(station, "call_result")
    in_calls, out_results = collect(csms, "call"), collect(csms, "call_result")
    errors_in = collect(station, "call_error")
    errors_out = collect(csms, "call_error")
    await wait(station.call("Heartbeat", {}))
    assert isinstance(out_calls[0].frame, Call) and out_calls[0].outbound
    assert isinstance(in_calls[0].frame, Call) and not in_calls[0].outbound
    assert isinstance(out_results[0].frame, CallResult) and out_results[0].outbound
    assert (
        in_results[0].frame.payload == {"currentTime": "t"} and in_results[0].action == "Heartbeat"
    )
    await station.safe_call("NoSuch", {})
    assert isinstance(errors_in[0].frame, CallError) and errors_in[0].action == "NoSuch"
    assert errors_out[0].outbound and errors_out[0].frame.error_code == "NotImplemented"


async def test_message_events_carry_raw_text(pair: PairFactory) -> None:
    station, csms = await pair()
    csms.handle("Heartbeat", lambda ctx: {"currentTime": "t"})
    messages = collect(station, "message")
    await wait(station.call("Heartbeat", {}, idempotency_key="m1"))
    assert [(m.outbound, m.message) for m in messages] == [
        (True, '[2,"m1","Heartbeat",{}]'),
        (False, '[3,"m1",{"currentTime":"t"}]'),
    ]


async def test_once_off_and_async_listeners(pair: PairFactory) -> None:
    station, csms = await pair()
    csms.handle("Heartbeat", lambda ctx: {"currentTime": "t"})
    once: list[Any] = []
    always: list[Any] = []
    async_seen: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def async_listener(event: Any) -> None:
        if not async_seen.done():
            async_seen.set_result(event)

    station.once("call", once.append)
    listener = station.on("call", always.append)
    station.on("call", async_listener)
    await wait(station.call("Heartbeat", {}))
    station.off("call", listener)
    await wait(station.call("Heartbeat", {}))
    assert len(once) == 1 and len(always) == 1
    assert (await wait(async_seen)).frame.action == "Heartbeat"
    station.off("call")
    assert station.listener_count("call") == 0


async def test_a_failing_listener_does_not_break_the_peer(pair: PairFactory) -> None:
    station, csms = await pair()
    csms.handle("Heartbeat", lambda ctx: {"currentTime": "t"})

    def broken(event: Any) -> None:
        raise RuntimeError("listener bug")

    station.on("call", broken)
    assert await wait(station.call("Heartbeat", {})) == {"currentTime": "t"}


def test_unknown_event_names_are_refused() -> None:
    peer = RPCPeer()
    with pytest.raises(ValueError, match="unknown event 'callResult'"):
        peer.on("callResult", print)
    for name in (
        "open",
        "close",
        "error",
        "connecting",
        "reconnect",
        "disconnect",
        "message",
        "call",
        "call_result",
        "call_error",
        "bad_message",
    ):
        peer.on(name, print)


async def test_open_and_disconnect_events(pair: PairFactory) -> None:
    from .conftest import wire

    station, csms = RPCPeer(), RPCPeer()
    opened = expect(station, "open")
    wire(station, csms, "ocpp2.1")
    assert (await wait(opened)).protocol == "ocpp2.1"
    disconnected = expect(station, "disconnect")
    await csms.close(4000, "bye")
    assert (await wait(disconnected)).reason == "bye"


async def test_disconnect_is_for_unexpected_drops_only(pair: PairFactory) -> None:
    station, csms = await pair()
    ours, theirs = collect(station, "disconnect"), collect(csms, "disconnect")
    closed = expect(station, "close")
    await wait(station.close(1000, "bye"))
    assert await wait(closed) == CloseEvent(1000, "bye")  # close still fires
    await theirs.wait_len(1)  # the other side did not ask for it
    assert ours == [] and theirs == [CloseEvent(1000, "bye")]
    station, csms = await pair()
    forced = collect(station, "disconnect")
    await wait(station.close(force=True))
    await asyncio.sleep(0)
    assert forced == []


# -- logging --------------------------------------------------------------------------


async def test_handler_gets_entries_with_component_identity_and_meta(pair: PairFactory) -> None:
    entries: list[LogEntry] = []
    station, _ = await pair(a={"logging": {"handler": entries.append, "level": "debug"}})
    station.logger.info("Initializing updates", {"pending_files": 4}, extra_field="x")
    entry = entries[-1]
    assert (entry.level, entry.message, entry.component) == (
        "info",
        "Initializing updates",
        "RPCPeer",
    )
    assert entry.meta == {"pending_files": 4, "extra_field": "x"}


def test_level_filters_and_enabled_false_silences() -> None:
    entries: list[LogEntry] = []
    peer = RPCPeer(logging={"handler": entries.append, "level": "warn"})
    peer.logger.info("hidden")
    peer.logger.warn("shown")
    peer.logger.trace("hidden")
    assert [e.message for e in entries] == ["shown"]
    quiet = RPCPeer(logging={"handler": entries.append, "enabled": False})
    quiet.logger.fatal("hidden")
    assert [e.message for e in entries] == ["shown"]
    with pytest.raises(ValueError, match="unknown log level"):
        RPCPeer(logging={"level": "loud"})
    with pytest.raises(TypeError, match="unknown logging option"):
        RPCPeer(logging={"colour": True})


async def test_exchange_log_logs_every_frame(pair: PairFactory) -> None:
    entries: list[LogEntry] = []
    station, csms = await pair(a={"logging": {"handler": entries.append, "exchange_log": True}})
    csms.handle("Heartbeat", lambda ctx: {"currentTime": "t"})
    await wait(station.call("Heartbeat", {}))
    exchange = [
        (e.meta["direction"], e.meta["message"][:2]) for e in entries if "direction" in e.meta
    ]
    assert exchange == [("OUT", "[2"), ("IN", "[3")]


def test_stdlib_logging_gets_formatted_lines(caplog: pytest.LogCaptureFixture) -> None:
    peer = RPCPeer(logging=LoggingConfig(level="debug"))
    with caplog.at_level(logging.DEBUG, logger="browser_ocpp"):
        peer.logger.info("hello", {"a": 1})
    record = caplog.records[-1]
    assert record.getMessage() == '{"component":"RPCPeer"} hello {"a":1}'
    assert record.ocpp_component == "RPCPeer"  # type: ignore[attr-defined]


def test_formatting_options() -> None:
    config = LoggingConfig(prettify_source=True, prettify_metadata=True)
    logger = RPCPeer(logging=config).logger.child("OCPPClient", "CP-1")
    entry = LogEntry(0, "info", "msg", "OCPPClient", "CP-1", {"k": "v", "n": 2})
    assert logger.format(logging.INFO, entry) == "[OCPPClient/CP-1] msg k=v n=2"
    plain = RPCPeer(logging={"show_metadata": False, "show_source_meta": False}).logger
    assert plain.format(logging.INFO, entry) == "msg"
    pretty = RPCPeer(logging={"prettify": True}).logger
    warning = LogEntry(0, "warning", "msg", "OCPPClient", "CP-1", {"k": "v", "n": 2})
    line = pretty.format(logging.WARNING, warning)
    assert "\x1b[33m" in line and "WARN" in line and line.endswith('msg {"k":"v","n":2}')


def test_custom_logger_object_receives_lines() -> None:
    lines: list[tuple[str, str]] = []

    class Custom:
        def info(self, text: str) -> None:
            lines.append(("info", text))

        def fatal(self, text: str) -> None:
            lines.append(("fatal", text))

    peer = RPCPeer(logging={"logger": Custom(), "show_source_meta": False})
    peer.logger.info("a")
    peer.logger.critical("b")
    assert lines == [("info", "a"), ("fatal", "b")]


def test_handler_adds_to_the_default_output(caplog: pytest.LogCaptureFixture) -> None:
    entries: list[LogEntry] = []
    peer = RPCPeer(logging={"handler": entries.append})
    with caplog.at_level(logging.INFO, logger="browser_ocpp"):
        peer.logger.info("to both")
    assert [e.message for e in entries] == ["to both"]  # an extra transport, as the reference
    assert caplog.records[-1].getMessage() == '{"component":"RPCPeer"} to both'


def test_a_custom_logger_takes_precedence_over_the_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lines: list[str] = []
    entries: list[LogEntry] = []

    class Custom:
        def info(self, text: str) -> None:
            lines.append(text)

    peer = RPCPeer(logging={"logger": Custom(), "handler": entries.append})
    with caplog.at_level(logging.INFO, logger="browser_ocpp"):
        peer.logger.info("only the logger")
    assert lines == ['{"component":"RPCPeer"} only the logger']
    assert entries == [] and caplog.records == []


def test_prettify_writes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    RPCPeer(logging={"prettify": True}).logger.info("pretty line")
    assert "pretty line" in capsys.readouterr().err


def test_broken_handler_does_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    def broken(entry: LogEntry) -> None:
        raise RuntimeError("sink down")

    peer = RPCPeer(logging={"handler": broken})
    with caplog.at_level(logging.ERROR, logger="browser_ocpp"):
        peer.logger.error("x")
    assert "log handler failed" in caplog.text


async def test_reconfigure_logging(pair: PairFactory) -> None:
    entries: list[LogEntry] = []
    station, _ = await pair()
    station.reconfigure(logging={"handler": entries.append})
    station.logger.info("now captured")
    assert entries[-1].message == "now captured"


async def test_on_and_once_without_a_listener_are_decorators(pair: PairFactory) -> None:
    station, csms = await pair()
    csms.handle("Heartbeat", lambda ctx: {"currentTime": "t"})
    every: list[Any] = []
    first: list[Any] = []

    @station.on("call")
    def on_call(event: Any) -> None:
        every.append(event.action)

    @station.once("call")
    def on_first_call(event: Any) -> None:
        first.append(event.action)

    assert callable(on_call) and on_call.__name__ == "on_call"  # returned unchanged
    assert on_first_call.__name__ == "on_first_call"
    assert station.listener_count("call") == 2
    await wait(station.call("Heartbeat", {}))
    await wait(station.call("Heartbeat", {}))
    assert every == ["Heartbeat", "Heartbeat"]
    assert first == ["Heartbeat"]
    station.off("call", on_call)
    assert station.listener_count("call") == 0


def test_on_checks_the_name_and_the_listener_at_once() -> None:
    peer = RPCPeer()
    with pytest.raises(ValueError, match="unknown event"):
        peer.on("nope")
    with pytest.raises(ValueError, match="unknown event"):
        peer.once("nope", print)
    with pytest.raises(TypeError, match="must be callable"):
        peer.on("open", "not a function")  # type: ignore[call-overload]
    assert peer.listener_count("open") == 0
