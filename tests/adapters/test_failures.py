"""The cluster through failures: Redis restarted empty, a node killed with SIGKILL, a
node restarted under the same id (real processes, real Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .conftest import Node, RedisServer, Station, registered, until

StartNode = Callable[..., Node]


async def test_redis_restarted_mid_run(
    redis_server: RedisServer, start_node: StartNode, station: Station
) -> None:
    a, b = start_node("A"), start_node("B")
    await station(a, "CP-A")
    await station(b, "CP-B")
    await registered(a, "CP-B", "CP-B")
    redis_server.restart()  # empty: no presence, no nodes, no streams, no scripts
    # Each node notices, joins again and writes its stations' presence again.
    await registered(a, "CP-B", "CP-B")
    await registered(b, "CP-A", "CP-A")

    async def whole() -> bool:
        metrics = await a.metrics()
        return metrics["nodes_alive"] == 2 and metrics["presence_entries"] == 2

    await until(whole, 15, "both nodes and both stations registered again")


async def test_a_node_killed_with_sigkill(start_node: StartNode, station: Station) -> None:
    a = start_node("A", node_ttl_ms=1_500)
    b = start_node("B", node_ttl_ms=1_500)
    c = start_node("C", node_ttl_ms=1_500)
    await station(b, "CP-1")
    await station(c, "CP-2")
    await registered(a, "CP-1", "CP-1")
    b.kill()
    # While B still counts as alive, a call fails within its timeout (never hangs)...
    sent = await a.send("CP-1", "Reset", {"type": "Soft"}, timeout_ms=500)
    assert sent["ok"] is False
    assert sent["elapsed_ms"] < 1_500
    # ...and once B's heartbeat is overdue, at once, naming the dead node.

    async def dead() -> bool:
        sent = await a.send("CP-1", "Reset", {"type": "Soft"}, timeout_ms=800)
        return "which is not alive" in sent.get("message", "") and sent["elapsed_ms"] < 500

    await until(dead, 10, "calls to B's station fail at once")
    nowhere = await a.send("CP-1", "Reset", {"type": "Soft"})  # the dead entry was dropped
    assert "is connected to any node" in nowhere["message"]
    metrics = await a.metrics()
    assert metrics["nodes_alive"] == 2
    assert "B" not in metrics["nodes"]
    # The other nodes carry on.
    assert (await a.send("CP-2", "Reset", {"type": "Soft"}))["ok"]


async def test_a_restarted_node_answers_what_waited_for_it(
    redis_server: RedisServer, start_node: StartNode, station: Station
) -> None:
    """Commands queued for a node that died are read by its successor under the same
    id (its stream outlives it): the caller hears back before its timeout."""
    a, b = start_node("A"), start_node("B")
    await station(b, "CP-1")
    await registered(a, "CP-1", "CP-1")
    b.kill()
    call = asyncio.ensure_future(a.send("CP-1", "Reset", {"type": "Soft"}, timeout_ms=20_000))

    async def queued() -> bool:
        return bool((await a.metrics())["nodes"]["B"]["pending_messages"] == 1)

    await until(queued, 10, "the call waits in B's stream")
    start_node("B")
    sent = await asyncio.wait_for(call, 15)
    assert sent["error"] == "ConnectionClosedError"  # CP-1 is not connected to the new B
    assert sent["elapsed_ms"] < 15_000
