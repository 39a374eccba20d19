"""Inbound calls: handler forms and lookup, NOREPLY, errors, duplicates."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from browser_ocpp import (
    NOREPLY,
    CallTimeoutError,
    HandlerContext,
    RPCFrameworkError,
    RPCGenericError,
    RPCInternalError,
    RPCNotImplementedError,
    RPCNotSupportedError,
    RPCPropertyConstraintViolationError,
)

from .conftest import PairFactory, collect, wait


async def test_version_specific_then_generic_then_wildcard(pair: PairFactory) -> None:
    station, csms = await pair("ocpp1.6")
    csms.handle(lambda method, ctx: {"by": "wildcard", "method": method})
    assert await wait(station.call("Heartbeat", {})) == {"by": "wildcard", "method": "Heartbeat"}
    csms.handle("Heartbeat", lambda ctx: {"by": "generic"})
    assert await wait(station.call("Heartbeat", {})) == {"by": "generic"}
    csms.handle("ocpp2.0.1", "Heartbeat", lambda ctx: {"by": "other version"})
    assert await wait(station.call("Heartbeat", {})) == {"by": "generic"}
    csms.handle("ocpp1.6", "Heartbeat", lambda ctx: {"by": "specific"})
    assert await wait(station.call("Heartbeat", {})) == {"by": "specific"}


async def test_handle_as_decorator_in_all_forms(pair: PairFactory) -> None:
    station, csms = await pair("ocpp1.6")

    @csms.handle("ocpp1.6", "Authorize")
    def authorize(ctx: HandlerContext) -> dict[str, Any]:
        return {"idTagInfo": {"status": "Accepted"}}

    @csms.handle("Heartbeat")
    async def heartbeat(ctx: HandlerContext) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"currentTime": "t"}

    @csms.handle()
    def anything(method: str, ctx: HandlerContext) -> dict[str, Any]:
        return {"wild": method}

    assert callable(authorize) and callable(heartbeat) and callable(anything)
    assert await wait(station.call("Authorize", {"idTag": "A"})) == {
        "idTagInfo": {"status": "Accepted"}
    }
    assert await wait(station.call("Heartbeat", {})) == {"currentTime": "t"}
    assert await wait(station.call("DataTransfer", {"vendorId": "v"})) == {"wild": "DataTransfer"}


async def test_context_carries_the_call(pair: PairFactory) -> None:
    station, csms = await pair("ocpp2.0.1")
    seen: list[HandlerContext] = []
    csms.handle("Heartbeat", lambda ctx: seen.append(ctx) or {"currentTime": "t"})
    await wait(station.call("Heartbeat", {"a": 1}, idempotency_key="id-1"))
    (ctx,) = seen
    assert (ctx.params, ctx.method, ctx.protocol, ctx.message_id) == (
        {"a": 1},
        "Heartbeat",
        "ocpp2.0.1",
        "id-1",
    )
    assert ctx.client is csms


async def test_handle_rejects_bad_arguments(pair: PairFactory) -> None:
    _, csms = await pair()
    with pytest.raises(TypeError):
        csms.handle("a", "b", "c", lambda ctx: None)
    with pytest.raises(TypeError):
        csms.handle(3, lambda ctx: None)


async def test_unknown_action_is_not_implemented_known_one_not_supported(
    pair: PairFactory,
) -> None:
    station, _ = await pair("ocpp2.0.1")
    with pytest.raises(RPCNotImplementedError, match="NoSuchAction"):
        await wait(station.call("NoSuchAction", {}))
    with pytest.raises(RPCNotSupportedError, match="Heartbeat"):
        await wait(station.call("Heartbeat", {}))


async def test_handler_exception_is_internal_error_without_stack(pair: PairFactory) -> None:
    station, csms = await pair()
    replies = collect(csms, "message")

    def broken(ctx: HandlerContext) -> None:
        raise KeyError("secret-detail")

    csms.handle("Heartbeat", broken)
    with pytest.raises(RPCInternalError) as caught:
        await wait(station.call("Heartbeat", {}))
    wire = [m.message for m in replies if m.outbound][0]
    assert json.loads(wire)[2] == "InternalError"
    assert "secret-detail" not in wire and "Traceback" not in wire
    assert caught.value.details == {}


async def test_detailed_errors_add_details_but_no_stack(pair: PairFactory) -> None:
    station, csms = await pair(b={"respond_with_detailed_errors": True})
    replies = collect(csms, "message")

    async def broken(ctx: HandlerContext) -> None:
        raise ValueError("bad meter")

    csms.handle("Heartbeat", broken)
    with pytest.raises(RPCInternalError, match="ValueError: bad meter") as caught:
        await wait(station.call("Heartbeat", {}))
    assert caught.value.details == {"name": "ValueError", "message": "bad meter"}
    assert "Traceback" not in replies[-1].message and "File " not in replies[-1].message


async def test_handler_rpc_error_keeps_its_code_and_details(pair: PairFactory) -> None:
    station, csms = await pair("ocpp1.6")

    def refuse(ctx: HandlerContext) -> None:
        raise RPCPropertyConstraintViolationError("connectorId 9 unknown", {"field": "connectorId"})

    csms.handle("UnlockConnector", refuse)
    with pytest.raises(RPCPropertyConstraintViolationError) as caught:
        await wait(station.call("UnlockConnector", {"connectorId": 9}))
    assert caught.value.message == "connectorId 9 unknown"
    assert caught.value.details == {"field": "connectorId"}


async def test_handler_returning_a_non_object_is_an_internal_error(pair: PairFactory) -> None:
    station, csms = await pair()
    csms.handle("Heartbeat", lambda ctx: ["not", "a", "dict"])
    with pytest.raises(RPCInternalError, match="no object"):
        await wait(station.call("Heartbeat", {}))
    csms.remove_handler("Heartbeat")
    csms.handle("Heartbeat", lambda ctx: {"x": object()})
    with pytest.raises(RPCInternalError, match="not JSON"):
        await wait(station.call("Heartbeat", {}))


async def test_handler_returning_none_sends_an_empty_object(pair: PairFactory) -> None:
    station, csms = await pair("ocpp1.6")
    csms.handle("StatusNotification", lambda ctx: None)
    assert await wait(station.call("StatusNotification", {})) == {}


async def test_noreply_sends_nothing(pair: PairFactory) -> None:
    station, csms = await pair()
    sent = collect(csms, "message")
    csms.handle("Heartbeat", lambda ctx: NOREPLY)
    with pytest.raises(CallTimeoutError):
        await wait(station.call("Heartbeat", {}, timeout_ms=30))
    assert [m for m in sent if m.outbound] == []


async def test_remove_handler_in_all_forms(pair: PairFactory) -> None:
    station, csms = await pair("ocpp1.6")
    csms.handle("ocpp1.6", "Heartbeat", lambda ctx: {"by": "specific"})
    csms.handle("Heartbeat", lambda ctx: {"by": "generic"})
    csms.handle(lambda method, ctx: {"by": "wildcard"})
    assert csms.remove_handler("ocpp1.6", "Heartbeat") is True
    assert await wait(station.call("Heartbeat", {})) == {"by": "generic"}
    assert csms.remove_handler("Heartbeat") is True
    assert await wait(station.call("Heartbeat", {})) == {"by": "wildcard"}
    assert csms.remove_handler() is True
    with pytest.raises(RPCNotSupportedError):
        await wait(station.call("Heartbeat", {}))
    assert csms.remove_handler("Heartbeat") is False


async def test_registering_a_handler_twice_raises_until_removed(pair: PairFactory) -> None:
    station, csms = await pair("ocpp1.6")
    csms.handle("ocpp1.6", "Heartbeat", lambda ctx: {"currentTime": "first"})
    csms.handle("Heartbeat", lambda ctx: {"currentTime": "generic"})  # another key: fine
    csms.handle(lambda method, ctx: {})
    with pytest.raises(ValueError, match=r"'Heartbeat' on ocpp1\.6 is already registered"):
        csms.handle("ocpp1.6", "Heartbeat", lambda ctx: {"currentTime": "second"})
    with pytest.raises(ValueError, match="'Heartbeat' is already registered"):

        @csms.handle("Heartbeat")
        def again(ctx: HandlerContext) -> dict[str, Any]:
            return {}

    with pytest.raises(ValueError, match="wildcard handler is already registered"):
        csms.handle(lambda method, ctx: {})
    assert await wait(station.call("Heartbeat", {})) == {"currentTime": "first"}  # unchanged
    csms.remove_handler("ocpp1.6", "Heartbeat")
    csms.handle("ocpp1.6", "Heartbeat", lambda ctx: {"currentTime": "second"})
    assert await wait(station.call("Heartbeat", {})) == {"currentTime": "second"}
    csms.remove_all_handlers()
    csms.handle(lambda method, ctx: {})


async def test_remove_all_handlers(pair: PairFactory) -> None:
    station, csms = await pair("ocpp1.6")
    csms.handle("ocpp1.6", "Heartbeat", lambda ctx: {})
    csms.handle("Authorize", lambda ctx: {})
    csms.handle(lambda method, ctx: {})
    csms.remove_all_handlers()
    for method in ("Heartbeat", "Authorize", "DataTransfer"):
        with pytest.raises(RPCNotSupportedError):
            await wait(station.call(method, {}))


@pytest.mark.parametrize(
    ("protocol", "error", "code"),
    [
        ("ocpp1.6", RPCGenericError, "GenericError"),
        ("ocpp2.0.1", RPCFrameworkError, "RpcFrameworkError"),
    ],
)
async def test_duplicate_in_flight_call_id_is_refused_not_run_twice(
    pair: PairFactory, protocol: str, error: type[Exception], code: str
) -> None:
    station, csms = await pair(protocol)
    runs = 0
    running = asyncio.Event()
    release = asyncio.Event()

    async def slow(ctx: HandlerContext) -> dict[str, Any]:
        nonlocal runs
        runs += 1
        running.set()
        await release.wait()
        return {"currentTime": "t"}

    csms.handle("Heartbeat", slow)
    bad = collect(csms, "bad_message")
    replies = collect(station, "message")
    frame = '[2,"dup-1","Heartbeat",{}]'
    await station.send_raw(frame)
    await wait(running.wait())
    await station.send_raw(frame)
    inbound = lambda items: [m.message for m in items if not m.outbound]  # noqa: E731
    await replies.wait_until(lambda items: len(inbound(items)) >= 1)
    assert json.loads(inbound(replies)[0])[:3] == [4, "dup-1", code]
    assert runs == 1 and isinstance(bad[0].error, error)
    release.set()
    await replies.wait_until(lambda items: len(inbound(items)) >= 2)
    assert json.loads(inbound(replies)[1]) == [
        3,
        "dup-1",
        {"currentTime": "t"},
    ]


async def test_sync_and_async_handlers_in_parallel_do_not_block_the_reader(
    pair: PairFactory,
) -> None:
    station, csms = await pair(a={"call_concurrency": 2})
    release = asyncio.Event()

    async def slow(ctx: HandlerContext) -> dict[str, Any]:
        await release.wait()
        return {"status": "Accepted"}

    csms.handle("ClearCache", slow)
    csms.handle("Heartbeat", lambda ctx: {"currentTime": "t"})
    slow_call = asyncio.ensure_future(station.call("ClearCache", {}))
    assert await wait(station.call("Heartbeat", {})) == {"currentTime": "t"}
    assert not slow_call.done()
    release.set()
    assert await wait(slow_call) == {"status": "Accepted"}
