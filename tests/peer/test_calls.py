"""Outbound calls: both forms, timeouts, retries, idempotency keys, concurrency."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from browser_ocpp import (
    NOREPLY,
    CallTimeoutError,
    ConnectionClosedError,
    HandlerContext,
    RPCGenericTransportError,
    RPCSecurityError,
)
from browser_ocpp.peer import RPCPeer

from .conftest import PairFactory, collect, wait


async def test_call_with_and_without_protocol(pair: PairFactory) -> None:
    station, csms = await pair("ocpp1.6")
    csms.handle("Heartbeat", lambda ctx: {"currentTime": "2024-01-01T00:00:00Z"})
    assert await wait(station.call("Heartbeat", {})) == {"currentTime": "2024-01-01T00:00:00Z"}
    assert await wait(station.call("ocpp1.6", "Heartbeat", {}))
    assert await wait(station.call("ocpp1.6", "Heartbeat"))
    assert await wait(station.call("Heartbeat"))


async def test_call_for_another_protocol_raises_before_sending(pair: PairFactory) -> None:
    station, csms = await pair("ocpp1.6")
    seen = collect(csms, "message")
    with pytest.raises(ValueError, match=r"ocpp2\.0\.1 on a connection that speaks ocpp1\.6"):
        await station.call("ocpp2.0.1", "Heartbeat", {})
    assert seen == []


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((), TypeError),
        ((42, {}), TypeError),
        (("Heartbeat", [1]), TypeError),
        (("", {}), TypeError),
        ((5, "Heartbeat", {}), TypeError),
    ],
)
async def test_call_rejects_malformed_arguments(
    pair: PairFactory, args: tuple[Any, ...], error: type[Exception]
) -> None:
    station, _ = await pair()
    with pytest.raises(error):
        await station.call(*args)


async def test_params_that_are_not_json_raise_a_clear_error(pair: PairFactory) -> None:
    station, _ = await pair()
    with pytest.raises(TypeError, match="not JSON-serializable"):
        await station.call("DataTransfer", {"vendorId": object()})
    with pytest.raises(TypeError, match="not JSON-serializable"):
        await station.call("DataTransfer", {"value": float("nan")})


async def test_timeout_raises_call_timeout_error_which_is_a_timeout_error(
    pair: PairFactory,
) -> None:
    station, csms = await pair()
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def stall(ctx: HandlerContext) -> None:
        await never

    csms.handle("Heartbeat", stall)
    with pytest.raises(TimeoutError) as caught:
        await wait(station.call("Heartbeat", {}, timeout_ms=30))
    assert isinstance(caught.value, CallTimeoutError)
    assert "Heartbeat got no response within 30 ms" in str(caught.value)
    assert station.pending_calls == 0
    never.cancel()


async def test_a_shorter_timeout_made_later_expires_first(pair: PairFactory) -> None:
    """The peer's one deadline timer is armed again for an earlier deadline, and for
    the next one left after it fires."""
    station, csms = await pair(a={"call_concurrency": 2})
    csms.handle("Heartbeat", lambda ctx: NOREPLY)
    received = collect(csms, "call")
    long = asyncio.ensure_future(station.call("Heartbeat", {}, timeout_ms=400))
    await received.wait_len(1)  # the long one is sent (its deadline taken) first
    with pytest.raises(CallTimeoutError, match="30 ms"):
        await wait(station.call("Heartbeat", {}, timeout_ms=30))
    assert not long.done()
    assert station.pending_calls == 1
    with pytest.raises(CallTimeoutError, match="400 ms"):
        await wait(long)
    assert station.pending_calls == 0


async def test_default_timeout_comes_from_call_timeout_ms(pair: PairFactory) -> None:
    station, csms = await pair(a={"call_timeout_ms": 20})
    csms.handle("Heartbeat", lambda ctx: asyncio.get_running_loop().create_future())
    with pytest.raises(CallTimeoutError, match="20 ms"):
        await wait(station.call("Heartbeat", {}))


async def test_late_response_after_timeout_is_not_a_bad_message(pair: PairFactory) -> None:
    station, csms = await pair()
    release = asyncio.Event()

    async def slow(ctx: HandlerContext) -> dict[str, Any]:
        await release.wait()
        return {"currentTime": "2024-01-01T00:00:00Z"}

    csms.handle("Heartbeat", slow)
    bad = collect(station, "bad_message")
    with pytest.raises(CallTimeoutError):
        await wait(station.call("Heartbeat", {}, timeout_ms=20))
    results = collect(csms, "call_result")
    release.set()
    await results.wait_len(1)
    csms.remove_handler("Heartbeat")
    csms.handle("Heartbeat", lambda ctx: {"currentTime": "x"})
    assert await wait(station.call("Heartbeat", {})) == {"currentTime": "x"}
    assert bad == []


async def test_retries_resend_on_timeout_with_the_same_message_id(pair: PairFactory) -> None:
    station, csms = await pair()
    ids: list[str] = []

    def flaky(ctx: HandlerContext) -> Any:
        ids.append(ctx.message_id)
        if len(ids) < 3:
            return NOREPLY  # as if the response were lost on the way
        return {"status": "Accepted"}

    csms.handle("ClearCache", flaky)
    result = await wait(station.call("ClearCache", {}, timeout_ms=30, retries=2), 30)
    assert result == {"status": "Accepted"}
    assert len(ids) == 3 and len(set(ids)) == 1


async def test_retries_exhausted_raise_the_timeout(pair: PairFactory) -> None:
    station, csms = await pair()
    calls = collect(csms, "call")
    csms.handle("ClearCache", lambda ctx: NOREPLY)
    with pytest.raises(CallTimeoutError):
        await wait(station.call("ClearCache", {}, timeout_ms=20, retries=1), 30)
    assert len(calls) == 2


async def test_rpc_errors_are_not_retried(pair: PairFactory) -> None:
    station, csms = await pair()
    calls = collect(csms, "call")

    def refuse(ctx: HandlerContext) -> None:
        raise RPCSecurityError("no")

    csms.handle("ClearCache", refuse)
    with pytest.raises(RPCSecurityError, match="no"):
        await wait(station.call("ClearCache", {}, retries=3))
    assert len(calls) == 1


async def test_idempotency_key_is_the_message_id(pair: PairFactory) -> None:
    station, csms = await pair()
    seen: list[str] = []
    csms.handle("Heartbeat", lambda ctx: seen.append(ctx.message_id) or {})
    await wait(station.call("Heartbeat", {}, idempotency_key="boot-123"))
    assert seen == ["boot-123"]


@pytest.mark.parametrize("key", ["", "x" * 37, 12])
async def test_idempotency_key_is_validated(pair: PairFactory, key: Any) -> None:
    station, _ = await pair()
    with pytest.raises(ValueError, match="1 to 36 characters"):
        await station.call("Heartbeat", {}, idempotency_key=key)


async def test_idempotency_key_already_in_flight_is_refused(pair: PairFactory) -> None:
    station, csms = await pair(a={"call_concurrency": 2})
    csms.handle("Heartbeat", lambda ctx: asyncio.get_running_loop().create_future())
    first = asyncio.ensure_future(station.call("Heartbeat", {}, idempotency_key="k", timeout_ms=50))
    with pytest.raises(ValueError, match="already in flight"):
        await wait(station.call("Heartbeat", {}, idempotency_key="k"))
    with pytest.raises(CallTimeoutError):
        await wait(first)


async def test_idempotency_key_belongs_to_the_call_made_first(pair: PairFactory) -> None:
    """Taken when call() is called: the first call keeps its key even if the loop
    has not run it yet (Python 3.12+ wait_for runs its awaitable in the caller)."""
    station, csms = await pair()
    seen: list[str] = []
    csms.handle("Heartbeat", lambda ctx: seen.append(ctx.message_id) or {})
    first = station.call("Heartbeat", {}, idempotency_key="k")  # made, not started
    with pytest.raises(ValueError, match="already in flight"):
        await station.call("Heartbeat", {}, idempotency_key="k")
    assert seen == []
    assert await wait(first) == {}
    assert await wait(station.call("Heartbeat", {}, idempotency_key="k")) == {}  # free again
    assert seen == ["k", "k"]


async def test_idempotency_key_in_flight_is_refused_not_queued(pair: PairFactory) -> None:
    """With one call slot, a second call with the key is refused at once instead of
    waiting for the slot and sending the same message id again later."""
    station, csms = await pair()
    seen: list[str] = []

    def never(ctx: HandlerContext) -> asyncio.Future[Any]:
        seen.append(ctx.message_id)
        return asyncio.get_running_loop().create_future()

    csms.handle("Heartbeat", never)
    first = asyncio.ensure_future(station.call("Heartbeat", {}, idempotency_key="k", timeout_ms=50))
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="already in flight"):
        await wait(station.call("Heartbeat", {}, idempotency_key="k", timeout_ms=50), 0.5)
    with pytest.raises(CallTimeoutError):
        await wait(first)
    assert seen == ["k"]


async def test_idempotency_key_of_a_call_dropped_unawaited_is_free(pair: PairFactory) -> None:
    station, csms = await pair()
    csms.handle("Heartbeat", lambda ctx: {})
    dropped = station.call("Heartbeat", {}, idempotency_key="k")
    dropped.close()
    assert await wait(station.call("Heartbeat", {}, idempotency_key="k")) == {}
    safe = station.safe_call("Heartbeat", {}, idempotency_key="k")  # taken at once as well
    assert await wait(station.safe_call("Heartbeat", {}, idempotency_key="k")) is None
    assert await wait(safe) == {}


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"timeout_ms": 0}, ValueError),
        ({"timeout_ms": "5"}, TypeError),
        ({"retries": -1}, ValueError),
    ],
)
async def test_call_options_are_validated(
    pair: PairFactory, options: dict[str, Any], error: type[Exception]
) -> None:
    station, _ = await pair()
    with pytest.raises(error):
        await station.call("Heartbeat", {}, **options)


async def test_safe_call_returns_none_and_logs(pair: PairFactory) -> None:
    entries: list[Any] = []
    station, csms = await pair(a={"logging": {"handler": entries.append}})
    csms.handle("Heartbeat", lambda ctx: {"currentTime": "t"})
    assert await wait(station.safe_call("Heartbeat", {})) == {"currentTime": "t"}
    assert await wait(station.safe_call("Reset", {"type": "Soft"})) is None
    assert any(
        e.message == "safe_call failed" and "NotSupported" in e.meta["error"] for e in entries
    )


async def _measure_concurrency(
    station: RPCPeer, csms: RPCPeer, calls: int
) -> tuple[int, list[int]]:
    """Run ``calls`` calls at once; return the peak in flight and the order served."""
    active = peak = 0
    order: list[int] = []
    gate = asyncio.Event()

    async def handler(ctx: HandlerContext) -> dict[str, Any]:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        order.append(ctx.params["data"])
        if active >= min(calls, station.options.call_concurrency):
            gate.set()
        await gate.wait()
        active -= 1
        return {"status": "Accepted"}

    csms.handle("DataTransfer", handler)
    results = await wait(
        asyncio.gather(
            *(station.call("DataTransfer", {"vendorId": "v", "data": i}) for i in range(calls))
        )
    )
    assert results == [{"status": "Accepted"}] * calls
    return peak, order


@pytest.mark.parametrize("limit", [1, 3])
async def test_call_concurrency_limits_calls_in_flight_fifo(pair: PairFactory, limit: int) -> None:
    station, csms = await pair(a={"call_concurrency": limit})
    peak, order = await _measure_concurrency(station, csms, 7)
    assert peak == limit
    assert order == list(range(7))


async def test_reconfigure_call_concurrency_applies_to_waiting_calls(pair: PairFactory) -> None:
    station, csms = await pair()
    started: list[int] = []
    release = asyncio.Event()
    first_started = asyncio.Event()
    both_started = asyncio.Event()

    async def handler(ctx: HandlerContext) -> dict[str, Any]:
        started.append(ctx.params["data"])
        first_started.set()
        if len(started) == 2:
            both_started.set()
        await release.wait()
        return {"status": "Accepted"}

    csms.handle("DataTransfer", handler)
    calls = [
        asyncio.ensure_future(station.call("DataTransfer", {"vendorId": "v", "data": i}))
        for i in range(2)
    ]
    await wait(first_started.wait())
    assert started == [0]
    assert station.pending_calls == 1  # the second call waits for a slot, unsent
    station.reconfigure(call_concurrency=2)
    await wait(both_started.wait())
    release.set()
    await wait(asyncio.gather(*calls))
    assert started == [0, 1]


async def test_calls_from_both_sides_may_cross(pair: PairFactory) -> None:
    station, csms = await pair()
    from_csms = asyncio.Event()

    async def boot(ctx: HandlerContext) -> dict[str, Any]:
        # The CSMS calls the station while the station's call is still open.
        await ctx.client.call("GetVariables", {"getVariableData": []})
        from_csms.set()
        return {"status": "Accepted"}

    csms.handle("BootNotification", boot)
    station.handle("GetVariables", lambda ctx: {"getVariableResult": []})
    result = await wait(station.call("BootNotification", {"reason": "PowerUp"}))
    assert result == {"status": "Accepted"} and from_csms.is_set()


async def test_send_raw_sends_text_as_is(pair: PairFactory) -> None:
    station, csms = await pair()
    seen = collect(csms, "message")
    csms.handle("Heartbeat", lambda ctx: {"currentTime": "t"})
    results = collect(station, "message")
    await station.send_raw('[2,"raw-1","Heartbeat",{}]')
    await results.wait_len(2)
    assert seen[0].message == '[2,"raw-1","Heartbeat",{}]' and not seen[0].outbound
    assert json.loads(results[1].message) == [3, "raw-1", {"currentTime": "t"}]
    with pytest.raises(TypeError):
        await station.send_raw(b"[]")  # type: ignore[arg-type]


async def test_call_when_not_connected_raises(pair: PairFactory) -> None:
    station = RPCPeer()
    with pytest.raises(ConnectionClosedError, match="not connected"):
        await station.call("Heartbeat", {})
    with pytest.raises(ConnectionClosedError):
        await station.send_raw("[]")


async def test_send_failure_is_a_transport_error(pair: PairFactory) -> None:
    station, _ = await pair()

    async def broken(text: str) -> None:
        raise OSError("socket gone")

    station._transport.send = broken  # type: ignore[union-attr]
    with pytest.raises(RPCGenericTransportError, match="socket gone"):
        await station.call("Heartbeat", {})
    assert station.pending_calls == 0


async def test_send_unconfirmed_needs_ocpp21_and_is_handled_without_reply(
    pair: PairFactory,
) -> None:
    station, csms = await pair("ocpp2.1")
    got: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    csms.handle("NotifyPeriodicEventStream", lambda ctx: got.set_result(ctx.params))
    outgoing = collect(csms, "message")
    payload = {"id": 1, "pending": 0, "basetime": "2024-01-01T00:00:00Z", "data": []}
    await station.send_unconfirmed("NotifyPeriodicEventStream", payload)
    assert await wait(got) == payload
    csms.handle("Heartbeat", lambda ctx: {"currentTime": "t"})
    await wait(station.call("Heartbeat", {}))  # anything sent for the SEND would come first
    sent = [json.loads(m.message) for m in outgoing if m.outbound]
    assert [frame[0] for frame in sent] == [3]
    old, _ = await pair("ocpp2.0.1")
    with pytest.raises(ValueError, match=r"need OCPP 2\.1"):
        await old.send_unconfirmed("NotifyPeriodicEventStream", payload)


async def test_message_ids_are_random_uuid4_strings(pair: PairFactory) -> None:
    station, csms = await pair("ocpp2.1")
    csms.handle("Heartbeat", lambda ctx: {"currentTime": "2024-01-01T00:00:00Z"})
    csms.handle("NotifyPeriodicEventStream", lambda ctx: NOREPLY)
    seen = collect(station, "message")
    for _ in range(50):
        await wait(station.call("Heartbeat", {}))
    sent = await wait(station.send_unconfirmed("NotifyPeriodicEventStream", {}))
    ids = [json.loads(event.message)[1] for event in seen if event.outbound]
    assert ids[-1] == sent
    assert len(set(ids)) == len(ids) == 51
    for message_id in ids:
        parsed = uuid.UUID(message_id)
        assert (str(parsed), parsed.version, parsed.variant) == (message_id, 4, uuid.RFC_4122)
