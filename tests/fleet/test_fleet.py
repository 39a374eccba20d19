"""Fleets on real sockets: against the demo CSMS, a CSMS that rejects boots, one that
never answers, one that drops stations; early stops and the close at the end."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from browser_ocpp.demo.csms import DemoCSMS
from browser_ocpp.fleet import Fleet, FleetConfig, FleetSnapshot

from .conftest import BRISK, WAIT_S, PlainCsms


async def run(fleet: Fleet) -> FleetSnapshot:
    return await asyncio.wait_for(fleet.run(), WAIT_S)


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_twenty_stations_boot_heartbeat_and_charge_on_the_demo_csms(
    demo_csms: DemoCSMS, protocol: str
) -> None:
    url = f"ws://127.0.0.1:{demo_csms.server.port}/ocpp"
    profile = dataclasses.replace(BRISK, heartbeat_s=None)  # the CSMS's interval: 1 s
    config = FleetConfig(url, stations=20, duration_s=3.0, protocol=protocol, profile=profile)
    config.publish_s = 0.5
    fleet = Fleet(config)
    published: list[FleetSnapshot] = []
    fleet.subscribe(published.append)
    result = await run(fleet)

    assert (result.boots.accepted, result.boots.failed, fleet.not_booted()) == (20, 0, [])
    assert (result.disconnects, result.reconnects, result.connect_failures) == (0, 0, 0)
    assert (result.errors, result.bad_messages) == (0, 0)  # no answer came for no one
    assert result.sessions_started > 20
    assert result.sessions_stopped == result.sessions_started  # the end stops the rest
    counts = {figures.action: figures.calls for figures in result.actions}
    assert counts["BootNotification"] == 20
    assert counts["Heartbeat"] >= 20
    assert counts["Authorize"] == result.sessions_started
    if protocol == "ocpp1.6":
        assert counts["StartTransaction"] == counts["StopTransaction"] == result.sessions_started
        assert counts["MeterValues"] > 0
        assert counts["StatusNotification"] >= 20 * 3  # the station and its 2 connectors
    else:
        assert counts["TransactionEvent"] > 2 * result.sessions_started  # and meter updates
        assert counts["StatusNotification"] >= 20 * 2
    for figures in result.actions:
        assert figures.ok == figures.calls, figures
        assert 0 < figures.p50_ms <= figures.p99_ms <= figures.max_ms, figures

    assert len(demo_csms.stations) == 20
    for record in demo_csms.stations.values():  # every session ended at the CSMS too
        assert record.transactions
        assert all(t.stopped for t in record.transactions.values()), record.identity
    assert [s.running for s in published[-1:]] == [False]
    assert published[-1] == result
    assert any(s.running for s in published)


async def test_stations_whose_boot_is_rejected_are_named(plain_csms: PlainCsms) -> None:
    def boot(identity: str, params: Any) -> Any:
        status = "Rejected" if identity in ("CP-2", "CP-4") else "Accepted"
        return {"status": status, "currentTime": "2024-01-01T00:00:00Z", "interval": 300}

    plain_csms.answers["BootNotification"] = boot
    config = FleetConfig(
        plain_csms.url, stations=4, duration_s=1.5, identity_prefix="CP-", profile=BRISK
    )
    fleet = Fleet(config)
    result = await run(fleet)
    assert (result.boots.accepted, result.boots.rejected, result.boots.failed) == (2, 2, 0)
    assert fleet.not_booted() == ["CP-2", "CP-4"]
    assert result.errors == 0


async def test_stop_ends_a_long_run_and_open_transactions_are_stopped_first(
    plain_csms: PlainCsms,
) -> None:
    profile = dataclasses.replace(BRISK, idle_s=(0.0, 0.1), session_s=(600.0, 600.0))
    config = FleetConfig(plain_csms.url, stations=5, duration_s=600.0, profile=profile)
    config.publish_s = 0.2
    fleet = Fleet(config)

    def stop_once_charging(snapshot: FleetSnapshot) -> None:
        if snapshot.sessions_started == 10:  # every connector of every station
            fleet.stop()

    fleet.subscribe(stop_once_charging)
    result = await run(fleet)
    assert result.sessions_started == result.sessions_stopped == 10
    assert plain_csms.seen["StopTransaction"] == 10
    assert result.boots.accepted == 5
    assert result.disconnects == 0


async def test_a_csms_that_never_answers_cannot_hold_the_end_past_the_grace(
    plain_csms: PlainCsms,
) -> None:
    never = asyncio.Event()

    async def hang(identity: str, params: Any) -> Any:
        await never.wait()

    plain_csms.answers["StopTransaction"] = hang
    profile = dataclasses.replace(BRISK, idle_s=(0.0, 0.1), session_s=(600.0, 600.0))
    config = FleetConfig(plain_csms.url, stations=3, duration_s=1.5, profile=profile)
    config.grace_s = 0.5
    result = await run(Fleet(config))
    stops = result.action("StopTransaction")
    assert stops is not None
    assert stops.ok == 0 and stops.closed == stops.calls > 0  # lost when dropped
    assert plain_csms.seen["StopTransaction"] == stops.calls


async def test_disconnects_are_counted_and_stations_resume_without_a_boot(
    plain_csms: PlainCsms,
) -> None:
    config = FleetConfig(plain_csms.url, stations=3, duration_s=600.0, profile=BRISK)
    config.publish_s = 0.2
    fleet = Fleet(config)
    dropped: list[asyncio.Future[Any]] = []

    def drop_then_stop(snapshot: FleetSnapshot) -> None:
        if not dropped and snapshot.boots.accepted == 3:
            dropped.append(asyncio.ensure_future(plain_csms.clients["FLEET-2"].close(1011, "bye")))
        elif dropped and snapshot.reconnects == 1 and snapshot.connected == 3:
            fleet.stop()

    fleet.subscribe(drop_then_stop)
    result = await run(fleet)
    await asyncio.gather(*dropped)
    assert (result.disconnects, result.reconnects) == (1, 1)
    assert plain_csms.seen["BootNotification"] == 3  # a reconnect is not a power-up
    assert result.boots.accepted == 3


async def test_the_ramp_starts_stations_one_after_another(plain_csms: PlainCsms) -> None:
    config = FleetConfig(plain_csms.url, stations=4, duration_s=600.0, ramp_s=4.0, profile=BRISK)
    config.publish_s = 0.2
    fleet = Fleet(config)
    started: list[int] = []

    def watch(snapshot: FleetSnapshot) -> None:
        started.append(snapshot.boots.started)
        if snapshot.boots.accepted == 4:
            fleet.stop()

    fleet.subscribe(watch)
    result = await run(fleet)
    assert result.boots.accepted == 4
    assert started == sorted(started)
    assert {1, 2, 3} <= set(started)  # seen part-way, a station at a time
