"""FleetStats: percentiles, per-action counts by outcome, boots, snapshots, listeners."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from browser_ocpp import CallTimeoutError, ConnectionClosedError
from browser_ocpp.fleet import FleetSnapshot, FleetStats, format_table, live_line, percentile
from browser_ocpp.fleet.stats import Latencies
from browser_ocpp.rpc.errors import error_from_code


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 0.5) == 1.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0  # nearest rank: no interpolation


@pytest.mark.parametrize(("values", "p"), [([], 50), ([1.0], 0), ([1.0], 101), ([1.0], -5)])
def test_percentile_refuses_what_has_none(values: list[float], p: float) -> None:
    with pytest.raises(ValueError, match=r"percentile|p must"):
        percentile(values, p)


def test_latencies_keep_exact_totals_and_a_bounded_sample() -> None:
    latencies = Latencies(kept=10, seed=1)
    for value in range(1000):
        latencies.add(value / 1000)
    assert latencies.count == 1000
    assert len(latencies.samples) == 10
    assert latencies.maximum == 0.999
    assert latencies.total == pytest.approx(sum(v / 1000 for v in range(1000)))
    assert all(0 <= s < 1 for s in latencies.samples)
    assert sorted(latencies.samples) != [v / 1000 for v in range(10)]  # later calls get in


def test_latencies_below_the_bound_are_exact() -> None:
    latencies = Latencies()
    for value in (0.004, 0.001, 0.003, 0.002):
        latencies.add(value)
    assert latencies.percentiles(50, 99) == (0.002, 0.004)
    assert Latencies().percentiles(50, 99) == (0.0, 0.0)
    with pytest.raises(ValueError, match="kept"):
        Latencies(kept=0)


def test_calls_are_counted_per_action_and_outcome() -> None:
    stats = FleetStats(stations=2)
    for seconds in (0.001, 0.002, 0.003):
        stats.record("Heartbeat", "ok", seconds)
    stats.record("Heartbeat", "timeout", 30.0)
    stats.record("BootNotification", "ok", 0.010)
    stats.record("BootNotification", "NotSupported", 0.020)
    stats.record("BootNotification", "closed", 0.5)
    snapshot = stats.snapshot()
    heartbeat = snapshot.action("Heartbeat")
    boot = snapshot.action("BootNotification")
    assert heartbeat is not None and boot is not None
    assert (heartbeat.calls, heartbeat.ok, heartbeat.timeouts, heartbeat.closed) == (4, 3, 1, 0)
    assert heartbeat.p50_ms == pytest.approx(2.0)
    assert heartbeat.p99_ms == pytest.approx(3.0)
    assert heartbeat.max_ms == pytest.approx(3.0)  # the timeout is no response time
    assert (boot.calls, boot.ok, boot.errors, boot.closed) == (3, 1, {"NotSupported": 1}, 1)
    assert boot.p99_ms == pytest.approx(20.0)  # a CALLERROR is an answer: timed
    assert snapshot.calls == 7
    assert snapshot.errors == 2  # the CALLERROR and the timeout
    assert [f.action for f in snapshot.actions] == ["BootNotification", "Heartbeat"]
    assert snapshot.action("Authorize") is None


async def test_the_observer_reads_each_outcome_from_the_future() -> None:
    loop = asyncio.get_running_loop()
    stats = FleetStats(stations=1)

    def ended(result: Any = None, error: BaseException | None = None) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = loop.create_future()
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
        return future

    stats.outbound("Heartbeat", ended({"currentTime": "now"}), 0.001)
    stats.outbound("Heartbeat", ended(error=error_from_code("InternalError")), 0.002)
    stats.outbound("Heartbeat", ended(error=CallTimeoutError("no answer")), 30)
    stats.outbound("Heartbeat", ended(error=ConnectionClosedError("gone")), 0.1)
    stats.outbound("Heartbeat", loop.create_future(), 0.0)  # never sent
    stats.inbound("Reset", "ok", 0.001)  # the CSMS's call: no CSMS response time
    stats.bad_message("FormationViolation")
    snapshot = stats.snapshot()
    heartbeat = snapshot.action("Heartbeat")
    assert heartbeat is not None
    assert (heartbeat.ok, heartbeat.errors, heartbeat.timeouts, heartbeat.closed) == (
        1,
        {"InternalError": 1},
        1,
        2,
    )
    assert snapshot.action("Reset") is None
    assert snapshot.bad_messages == 1


def test_boots_count_each_station_by_its_last_verdict() -> None:
    stats = FleetStats(stations=5)
    stats.started = 4
    stats.booted("A", "Pending")
    stats.booted("A", "Accepted")  # pending, then accepted: counted once
    stats.booted("B", "Rejected")
    stats.booted("C", "Pending")
    boots = stats.snapshot().boots
    assert (boots.stations, boots.started) == (5, 4)
    assert (boots.accepted, boots.pending, boots.rejected, boots.failed) == (1, 1, 1, 1)


def test_listeners_get_each_published_snapshot_until_they_unsubscribe() -> None:
    elapsed = [0.0]
    stats = FleetStats(stations=1, clock=lambda: elapsed[0])
    seen: list[FleetSnapshot] = []

    def broken(snapshot: FleetSnapshot) -> None:
        raise RuntimeError("a view's bug")

    stats.subscribe(broken)
    unsubscribe = stats.subscribe(seen.append)
    stats.record("Heartbeat", "ok", 0.001)
    elapsed[0] = 1.5
    first = stats.publish()
    unsubscribe()
    unsubscribe()  # twice: harmless
    stats.publish()
    assert seen == [first]
    assert first.elapsed_s == 1.5
    assert first.calls == 1


def test_a_snapshot_is_json_and_a_table() -> None:
    stats = FleetStats(stations=2)
    stats.started = 2
    stats.booted("A", "Accepted")
    stats.booted("B", "Accepted")
    stats.record("Heartbeat", "ok", 0.0015)
    stats.record("Heartbeat", "SecurityError", 0.0025)
    stats.disconnects = 1
    snapshot = stats.snapshot()
    data = json.loads(json.dumps(snapshot.to_dict()))
    assert data["boots"]["accepted"] == 2
    assert data["disconnects"] == 1
    assert data["actions"]["Heartbeat"] == {
        "calls": 2,
        "ok": 1,
        "errors": {"SecurityError": 1},
        "timeouts": 0,
        "closed": 0,
        "p50_ms": 1.5,
        "p99_ms": 2.5,
        "max_ms": 2.5,
        "mean_ms": 2.0,
    }
    table = format_table(snapshot)
    assert "Boots: 2 accepted, 0 pending, 0 rejected, 0 failed (2 started)" in table
    assert "1 disconnects" in table
    assert "CALLERRORs: SecurityError 1" in table
    row = next(line for line in table.splitlines() if line.startswith("Heartbeat"))
    assert row.split() == ["Heartbeat", "2", "1", "1", "0", "0", "1.50", "2.50", "2.50"]
    assert next(line for line in table.splitlines() if line.startswith("total")).split() == [
        "total",
        "2",
        "1",
        "1",
        "0",
        "0",
    ]


def test_the_live_line_gives_the_rate_since_the_previous_snapshot() -> None:
    elapsed = [1.0]
    stats = FleetStats(stations=3, clock=lambda: elapsed[0])
    before = stats.snapshot()
    for _ in range(40):
        stats.record("Heartbeat", "ok", 0.002)
    elapsed[0] = 3.0
    line = live_line(stats.snapshot(), before)
    assert "booted 0/3" in line
    assert "40 calls, 20 calls/s" in line
    assert "worst p99 2.0 ms" in line
    assert "calls/s" not in live_line(stats.snapshot())


def test_call_listeners_see_each_call_as_it_ends_until_they_unsubscribe() -> None:
    stats = FleetStats(stations=1)
    seen: list[tuple[str, str, float]] = []

    def broken(action: str, outcome: str, seconds: float) -> None:
        raise RuntimeError("a view's bug")

    stats.on_call(broken)
    unsubscribe = stats.on_call(lambda *call: seen.append(call))
    stats.record("Heartbeat", "ok", 0.002)
    stats.record("Authorize", "timeout", 30.0)
    stats.record("StatusNotification", "FormationViolation", 0.004)
    assert seen == [
        ("Heartbeat", "ok", 0.002),
        ("Authorize", "timeout", 30.0),
        ("StatusNotification", "FormationViolation", 0.004),
    ]
    unsubscribe()
    unsubscribe()  # twice: harmless
    stats.record("Heartbeat", "ok", 0.001)
    assert len(seen) == 3
    assert stats.snapshot().calls == 4  # counted alike with or without listeners
