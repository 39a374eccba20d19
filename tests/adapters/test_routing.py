"""Calls, broadcasts and evictions across cluster nodes, each in a process of its own,
on a real Redis (nothing stands in for it)."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable
from typing import Any

from browser_ocpp import NOREPLY, OCPPClient, RPCPropertyConstraintViolationError

from .conftest import Node, Station, registered, until

StartNode = Callable[..., Node]


def answered(sent: dict[str, Any]) -> Any:
    assert sent["ok"], sent
    return sent["result"]


async def test_send_to_client_reaches_a_station_on_another_node(
    start_node: StartNode, station: Station
) -> None:
    a, b = start_node("A"), start_node("B")
    client = await station(b, "CP-1")

    def refuse(ctx: Any) -> None:
        raise RPCPropertyConstraintViolationError("no such key", {"key": ctx.params.get("key")})

    def fail(ctx: Any) -> None:
        raise ValueError("the station broke")

    client.handle("ChangeConfiguration", refuse)
    client.handle("ClearCache", fail)
    await registered(a, "CP-1", "CP-1")
    for node in (a, b):  # across nodes and locally, the same answers
        assert answered(await node.send("CP-1", "Reset", {"type": "Soft"})) == {
            "status": "Accepted"
        }
        refused = await node.send("CP-1", "ChangeConfiguration", {"key": "K", "value": "1"})
        assert refused["error"] == "RPCPropertyConstraintViolationError"
        assert refused["code"] == "PropertyConstraintViolation"
        assert refused["message"] == "no such key"
        assert refused["details"] == {"key": "K"}
        unsupported = await node.send("CP-1", "GetConfiguration", {})
        assert (unsupported["error"], unsupported["code"]) == (
            "RPCNotSupportedError",
            "NotSupported",
        )
        failed = await node.send("CP-1", "ClearCache", {})
        assert (failed["error"], failed["code"]) == ("RPCInternalError", "InternalError")


async def test_a_station_connected_nowhere_fails_at_once(
    start_node: StartNode, station: Station
) -> None:
    a, b = start_node("A"), start_node("B")
    await station(b, "CP-1")
    await registered(a, "CP-1", "CP-1")
    nowhere = await a.send("CP-404", "Reset", {"type": "Soft"}, timeout_ms=30_000)
    assert nowhere["error"] == "ConnectionClosedError"
    assert "no station with identity 'CP-404' is connected to any node" in nowhere["message"]
    assert nowhere["elapsed_ms"] < 1_000


async def test_the_callers_timeout_is_honoured_across_nodes(
    start_node: StartNode, station: Station
) -> None:
    a, b = start_node("A"), start_node("B")
    client = await station(b, "CP-1")
    heard = asyncio.Event()

    def silent(ctx: Any) -> object:
        heard.set()
        return NOREPLY

    client.handle("UnlockConnector", silent)
    await registered(a, "CP-1", "CP-1")
    sent = await a.send("CP-1", "UnlockConnector", {"connectorId": 1}, timeout_ms=700)
    assert heard.is_set()
    assert sent["error"] == "CallTimeoutError"
    assert 650 <= sent["elapsed_ms"] < 2_500
    # The connection is still usable afterwards, from anywhere.
    assert answered(await a.send("CP-1", "Reset", {"type": "Soft"}))["status"] == "Accepted"


async def test_three_nodes_each_reach_every_station(
    start_node: StartNode, station: Station
) -> None:
    nodes = [start_node(name) for name in ("A", "B", "C")]
    for node in nodes:
        await station(node, f"CP-{node.node_id}")
    for node in nodes:
        for owner in nodes:
            identity = f"CP-{owner.node_id}"
            await registered(node, identity, identity)
            sent = await node.send(identity, "DataTransfer", {"vendorId": "x"})
            assert answered(sent) == {"status": "Accepted", "data": identity}


async def test_the_same_identity_on_a_second_node_evicts_the_first(
    start_node: StartNode, station: Station
) -> None:
    a, b, c = start_node("A"), start_node("B"), start_node("C")
    first = await station(a, "CP-1")
    closed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    first.on("close", lambda event: closed.done() or closed.set_result(event))
    await registered(c, "CP-1", "CP-1")
    second = OCPPClient(identity="CP-1", endpoint=b.url, protocols=["ocpp1.6"], reconnect=False)
    second.handle("DataTransfer", lambda ctx: {"status": "Accepted", "data": "second"})
    try:
        await asyncio.wait_for(second.connect(), 10)
        event = await asyncio.wait_for(closed, 10)
        assert (event.code, event.reason) == (
            4000,
            "replaced by a new connection with the same identity",
        )
        await until(lambda: _without(a, "CP-1"), 10, "A forgot CP-1")
        # A's disconnect did not remove B's presence entry: every node reaches the second.
        for node in (a, b, c):
            sent = await node.send("CP-1", "DataTransfer", {"vendorId": "x"})
            assert answered(sent)["data"] == "second"
        assert (await c.metrics())["presence_entries"] == 1
    finally:
        await second.close(force=True)


async def _without(node: Node, identity: str) -> bool:
    return identity not in await node.clients()


async def test_broadcast_batch_across_nodes(start_node: StartNode, station: Station) -> None:
    a, b, c = start_node("A"), start_node("B"), start_node("C")
    placed = {"CP-A1": a, "CP-B1": b, "CP-B2": b, "CP-B3": b, "CP-C1": c, "CP-C2": c}
    for identity, node in placed.items():
        await station(node, identity)
    silent = await station(c, "CP-SILENT")
    silent.remove_handler("DataTransfer")
    silent.handle("DataTransfer", lambda ctx: NOREPLY)
    for identity in placed:
        await registered(a, identity, identity)
    targets = [*placed, "CP-SILENT", "CP-GHOST"]
    results = await a.get(
        "broadcast",
        identities=",".join(targets),
        method="DataTransfer",
        params=json.dumps({"vendorId": "x"}),
        timeout_ms=1_500,
    )
    assert list(results) == targets
    for identity in placed:
        assert results[identity] == {"ok": True, "result": {"status": "Accepted", "data": identity}}
    assert results["CP-SILENT"]["error"] == "CallTimeoutError"
    assert results["CP-GHOST"]["error"] == "ConnectionClosedError"


async def test_adapter_metrics_and_calls_that_waited_past_their_deadline(
    start_node: StartNode, station: Station
) -> None:
    """A node that cannot read (stopped) piles up pending messages; once it reads again
    it drops the calls whose callers gave up: the station never sees them."""
    a, b = start_node("A"), start_node("B")
    client = await station(b, "CP-1")
    resets: list[Any] = []
    client.remove_handler("Reset")
    client.handle("Reset", lambda ctx: resets.append(ctx.params) or {"status": "Accepted"})
    await registered(a, "CP-1", "CP-1")
    metrics = await a.metrics()
    assert metrics["node_id"] == "A"
    assert metrics["nodes_alive"] == 2
    assert metrics["presence_entries"] == 1
    assert metrics["nodes"]["B"]["pending_messages"] == 0
    assert metrics["redis_consumer_lag"] == {"pending_messages": 0}
    b.signal(signal.SIGSTOP)
    try:
        sent = await asyncio.gather(
            *(a.send("CP-1", "Reset", {"type": "Soft"}, timeout_ms=300) for _ in range(3))
        )
        assert [s["error"] for s in sent] == ["CallTimeoutError"] * 3
        # B's read blocked in Redis takes the first one (it is in B's socket buffer).
        assert (await a.metrics())["nodes"]["B"]["pending_messages"] in (2, 3)
    finally:
        b.signal(signal.SIGCONT)
    await until(lambda: _pending(a, "B", 0), 10, "B read its stream")
    assert answered(await a.send("CP-1", "Reset", {"type": "Hard"}))["status"] == "Accepted"
    assert resets == [{"type": "Hard"}]


async def _pending(node: Node, of: str, count: int) -> bool:
    return bool((await node.metrics())["nodes"][of]["pending_messages"] == count)
