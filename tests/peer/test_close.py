"""close(): first close wins, await_pending, force; reconfigure; bad-message limit."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from browser_ocpp import (
    CloseEvent,
    ConnectionClosedError,
    HandlerContext,
    RPCFormationViolationError,
    RPCFrameworkError,
    RPCGenericError,
    RPCMessageTypeNotSupportedError,
    State,
)

from .conftest import PairFactory, collect, expect, wait


async def _stalled_call(station: Any, csms: Any) -> tuple[asyncio.Future[Any], asyncio.Event]:
    """A call the CSMS answers only once the returned event is set."""
    release = asyncio.Event()
    running = asyncio.Event()

    async def slow(ctx: HandlerContext) -> dict[str, Any]:
        running.set()
        await release.wait()
        return {"currentTime": "t"}

    csms.handle("Heartbeat", slow)
    call = asyncio.ensure_future(station.call("Heartbeat", {}))
    await wait(running.wait())
    return call, release


async def test_close_waits_for_pending_calls_by_default(pair: PairFactory) -> None:
    station, csms = await pair()
    call, release = await _stalled_call(station, csms)
    closing = asyncio.ensure_future(station.close(1000, "bye"))
    for _ in range(10):  # a few loop turns: close() runs in a task of its own
        if station.state is State.CLOSING:
            break
        await asyncio.sleep(0)
    assert station.state is State.CLOSING and not closing.done()
    with pytest.raises(ConnectionClosedError):
        await station.call("Heartbeat", {})  # no new calls while closing
    release.set()
    assert await wait(call) == {"currentTime": "t"}
    assert await wait(closing) == CloseEvent(1000, "bye")
    assert station.state is State.CLOSED


async def test_close_without_await_pending_rejects_them(pair: PairFactory) -> None:
    station, csms = await pair()
    call, _ = await _stalled_call(station, csms)
    disconnected = expect(csms, "disconnect")
    await wait(station.close(4000, "going", await_pending=False))
    with pytest.raises(ConnectionClosedError, match="before a response"):
        await wait(call)
    assert await wait(disconnected) == CloseEvent(4000, "going")


async def test_force_close_drops_at_once(pair: PairFactory) -> None:
    station, csms = await pair()
    call, _ = await _stalled_call(station, csms)
    disconnected = expect(csms, "disconnect")
    event = await wait(station.close(force=True))
    with pytest.raises(ConnectionClosedError):
        await wait(call)
    assert event.code == 1000
    assert (await wait(disconnected)).code == 1006  # the other side sees an abrupt drop


async def test_first_close_wins(pair: PairFactory) -> None:
    station, csms = await pair()
    call, release = await _stalled_call(station, csms)
    closes = collect(station, "close")
    first = asyncio.ensure_future(station.close(4001, "first"))
    second = asyncio.ensure_future(station.close(4002, "second", force=True))
    release.set()
    assert await wait(first) == CloseEvent(4001, "first")
    assert await wait(second) == CloseEvent(4001, "first")
    assert await wait(call) == {"currentTime": "t"}
    assert await wait(station.close()) == CloseEvent(4001, "first")
    assert closes == [CloseEvent(4001, "first")]


async def test_queued_calls_are_sent_while_draining(pair: PairFactory) -> None:
    station, csms = await pair()
    call, release = await _stalled_call(station, csms)
    queued = asyncio.ensure_future(station.call("Heartbeat", {}))
    await asyncio.sleep(0)
    closing = asyncio.ensure_future(station.close())
    release.set()
    assert await wait(call) == {"currentTime": "t"}
    assert await wait(queued) == {"currentTime": "t"}
    await wait(closing)


async def test_close_of_a_never_opened_peer_returns(pair: PairFactory) -> None:
    from browser_ocpp import RPCPeer

    peer = RPCPeer()
    closed = expect(peer, "close")
    assert await wait(peer.close(1000)) == CloseEvent(1000, "")
    assert await wait(closed) == CloseEvent(1000, "")


async def test_remote_close_rejects_pending_calls(pair: PairFactory) -> None:
    station, csms = await pair()
    call, _ = await _stalled_call(station, csms)
    closed = expect(station, "close")
    await wait(csms.close(1001, "server restart", await_pending=False))
    with pytest.raises(ConnectionClosedError) as caught:
        await wait(call)
    assert (caught.value.code, caught.value.reason) == (1001, "server restart")
    assert await wait(closed) == CloseEvent(1001, "server restart")


def test_reconfigure_checks_names_and_values() -> None:
    from browser_ocpp import RPCPeer

    peer = RPCPeer()
    peer.reconfigure(call_timeout_ms=5, respond_with_detailed_errors=True)
    assert peer.options.call_timeout_ms == 5
    assert peer.options.respond_with_detailed_errors is True
    with pytest.raises(TypeError, match=r"unknown option.*no_such"):
        peer.reconfigure(no_such=1)
    with pytest.raises(ValueError, match="call_concurrency must be positive"):
        peer.reconfigure(call_concurrency=0)
    with pytest.raises(TypeError, match="call_concurrency must be an integer"):
        peer.reconfigure(call_concurrency=1.5)
    with pytest.raises(ValueError, match="max_bad_messages"):
        RPCPeer(max_bad_messages=-1)
    assert peer.options.call_timeout_ms == 5  # a refused change leaves options as they were


async def test_reconfigure_call_timeout_applies_to_new_calls(pair: PairFactory) -> None:
    station, csms = await pair()
    csms.handle("Heartbeat", lambda ctx: asyncio.get_running_loop().create_future())
    station.reconfigure(call_timeout_ms=15)
    with pytest.raises(TimeoutError, match="15 ms"):
        await wait(station.call("Heartbeat", {}))


# -- bad messages ---------------------------------------------------------------------

BAD_FRAMES = [
    ("ocpp1.6", "not json", ["-1", "FormationViolation"], RPCFrameworkError),
    ("ocpp2.0.1", "not json", ["-1", "RpcFrameworkError"], RPCFrameworkError),
    ("ocpp2.1", '{"a": 1}', ["-1", "RpcFrameworkError"], RPCFrameworkError),
    (
        "ocpp2.0.1",
        '[2,"id-1","Heartbeat","x"]',
        ["id-1", "FormatViolation"],
        RPCFormationViolationError,
    ),
    (
        "ocpp1.6",
        '[2,"id-1","Heartbeat","x"]',
        ["id-1", "FormationViolation"],
        RPCFormationViolationError,
    ),
    (
        "ocpp2.0.1",
        '[7,"id-2",{}]',
        ["id-2", "MessageTypeNotSupported"],
        RPCMessageTypeNotSupportedError,
    ),
    ("ocpp1.6", '[7,"id-2",{}]', ["id-2", "GenericError"], RPCGenericError),
    (
        "ocpp2.0.1",
        '[6,"id-3","X",{}]',
        ["id-3", "MessageTypeNotSupported"],
        RPCMessageTypeNotSupportedError,
    ),
]


@pytest.mark.parametrize(("protocol", "text", "reply", "error"), BAD_FRAMES)
async def test_bad_message_is_reported_and_answered(
    pair: PairFactory, protocol: str, text: str, reply: list[str], error: type[Exception]
) -> None:
    station, csms = await pair(protocol)
    bad = expect(csms, "bad_message")
    answers = collect(station, "message")
    await station.send_raw(text)
    event = await wait(bad)
    assert event.message == text and isinstance(event.error, error)
    await answers.wait_until(lambda items: any(not m.outbound for m in items))
    answer = json.loads(next(m.message for m in answers if not m.outbound))
    assert answer[0] == 4 and answer[1:3] == reply and isinstance(answer[4], dict)


async def test_ignored_message_type_on_21_gets_no_reply(pair: PairFactory) -> None:
    station, csms = await pair("ocpp2.1")
    bad = expect(csms, "bad_message")
    answers = collect(station, "message")
    csms.handle("Heartbeat", lambda ctx: {"currentTime": "t"})
    await station.send_raw('[9,"id-9",{}]')
    assert isinstance((await wait(bad)).error, RPCMessageTypeNotSupportedError)
    await wait(station.call("Heartbeat", {}))  # any reply to [9,...] would arrive first
    inbound = [json.loads(m.message) for m in answers if not m.outbound]
    assert [frame[0] for frame in inbound] == [3]


async def test_unexpected_response_is_a_bad_message_without_reply(pair: PairFactory) -> None:
    station, csms = await pair()
    bad = expect(csms, "bad_message")
    await station.send_raw('[3,"nobody-asked",{}]')
    assert "nobody-asked" in str((await wait(bad)).error)


async def test_max_bad_messages_closes_with_1002(pair: PairFactory) -> None:
    station, csms = await pair(b={"max_bad_messages": 3})
    bad = collect(csms, "bad_message")
    closed = expect(station, "close")
    for _ in range(3):
        await station.send_raw("garbage")
    event = await wait(closed)
    assert event == CloseEvent(1002, "too many bad messages")
    assert len(bad) == 3
    assert csms.state is State.CLOSED


async def test_reports_from_a_replaced_transport_are_ignored(pair: PairFactory) -> None:
    from browser_ocpp.peer import memory_pair

    station, csms = await pair()
    stale, _ = memory_pair()
    csms.handle("Heartbeat", lambda ctx: {"currentTime": "t"})
    calls = collect(csms, "call")
    station.receive('[2,"old-1","Heartbeat",{}]', stale)  # dropped, not handled
    station.connection_lost(1006, "old socket", stale)
    assert station.state is State.OPEN
    assert await wait(station.call("Heartbeat", {})) == {"currentTime": "t"}
    assert [event.frame.message_id for event in calls] != ["old-1"]


async def test_a_cancelled_close_still_completes(pair: PairFactory) -> None:
    station, csms = await pair()
    call, release = await _stalled_call(station, csms)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(station.close(4000, "first"), 0.05)
    assert station.state is State.CLOSING  # still draining, not stuck
    release.set()
    assert await wait(call) == {"currentTime": "t"}
    assert await wait(station.close(force=True)) == CloseEvent(4000, "first")
    assert station.state is State.CLOSED


@pytest.mark.parametrize("answer", ['[3,"{id}","not an object"]', '[4,"{id}",42,"",{{}}]'])
async def test_a_malformed_answer_fails_the_pending_call_at_once(
    pair: PairFactory, answer: str
) -> None:
    from browser_ocpp import NOREPLY, RPCError

    station, csms = await pair()
    ids: list[str] = []
    csms.handle("Heartbeat", lambda ctx: ids.append(ctx.message_id) or NOREPLY)
    call = asyncio.ensure_future(station.call("Heartbeat", {}, timeout_ms=30_000))
    calls = collect(csms, "call")
    await calls.wait_len(1)
    await csms.send_raw(answer.format(id=ids[0]))
    with pytest.raises(RPCError):  # not CallTimeoutError 30 s later
        await wait(call)


def test_a_transport_without_send_now_is_refused_at_attach() -> None:
    from browser_ocpp import RPCPeer

    class OldTransport:
        async def send(self, text: str) -> None: ...

        async def close(self, code: int, reason: str, *, force: bool = False) -> None: ...

        def start(self, peer: object) -> None: ...

    with pytest.raises(TypeError, match="no send_now"):
        RPCPeer().attach(OldTransport(), "ocpp1.6")
