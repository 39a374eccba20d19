"""The seeded plan of each station's sessions, the ramp, and the checks of a run."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

from browser_ocpp.fleet import FleetConfig, Profile, plan
from browser_ocpp.fleet.profile import ramp_offset


def test_the_same_seed_gives_the_same_plan_and_stations_differ() -> None:
    profile = Profile(seed=7)
    assert plan(profile, 3, 300) == plan(Profile(seed=7), 3, 300)
    assert plan(profile, 3, 300) != plan(profile, 4, 300)
    assert plan(profile, 3, 300) != plan(Profile(seed=8), 3, 300)


def test_sessions_follow_the_profile_and_end_by_the_horizon() -> None:
    profile = Profile(connectors=3, idle_s=(1.0, 4.0), session_s=(2.0, 6.0), seed=1)
    horizon = 120.0
    sessions = plan(profile, 0, horizon)
    assert [s.start_s for s in sessions] == sorted(s.start_s for s in sessions)
    assert {s.connector for s in sessions} == {1, 2, 3}
    for connector in (1, 2, 3):
        mine = [s for s in sessions if s.connector == connector]
        assert 1.0 <= mine[0].start_s <= 4.0  # idle first
        for before, after in itertools.pairwise(mine):
            assert 1.0 <= after.start_s - before.stop_s <= 4.0
        for session in mine:
            assert session.start_s < horizon and session.stop_s <= horizon
            if session.stop_s < horizon:
                assert 2.0 <= session.stop_s - session.start_s <= 6.0


def test_a_horizon_shorter_than_the_first_wait_plans_nothing() -> None:
    assert plan(Profile(idle_s=(5.0, 5.0)), 0, 4.0) == []


def test_the_ramp_spreads_the_starts_evenly() -> None:
    assert [ramp_offset(i, 4, 2.0) for i in range(4)] == [0.0, 0.5, 1.0, 1.5]
    assert ramp_offset(3, 4, 0.0) == 0.0
    assert ramp_offset(0, 1, 5.0) == 0.0


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        (Profile(connectors=0), "connectors"),
        (Profile(connectors=9), "connectors"),
        (Profile(meter_interval_s=-1), "meter interval"),
        (Profile(heartbeat_s=0), "heartbeat"),
        (Profile(heartbeat_s=float("nan")), "heartbeat"),
        (Profile(idle_s=(3.0, 1.0)), "idle_s"),
        (Profile(session_s=(0.0, 5.0)), "more than 0"),
        (Profile(session_s=(1.0, float("inf"))), "session_s"),
    ],
)
def test_a_profile_no_fleet_can_run_is_refused(profile: Profile, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        profile.check()


def fleet(**changes: object) -> FleetConfig:
    settings: dict[str, object] = {"csms": "ws://127.0.0.1:9/ocpp", "stations": 10}
    settings["duration_s"] = 5.0
    settings.update(changes)
    return FleetConfig(**settings)  # type: ignore[arg-type]


def test_identities_are_numbered_to_the_same_width() -> None:
    config = fleet(stations=120, identity_prefix="CP-")
    assert [config.identity(i) for i in (0, 9, 119)] == ["CP-001", "CP-010", "CP-120"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"stations": 0}, "stations must be 1"),
        ({"stations": True}, "whole number"),
        ({"duration_s": 0}, "duration_s"),
        ({"duration_s": float("inf")}, "duration_s"),
        ({"ramp_s": -1}, "ramp_s"),
        ({"protocol": "ocpp1.5"}, "unknown protocol"),
        ({"csms": "http://127.0.0.1/"}, "ws://"),
        ({"identity_prefix": "a:b"}, "may not hold"),
        ({"identity_prefix": "x" * 47}, "too long"),
        ({"grace_s": 0}, "grace_s"),
    ],
)
def test_a_run_that_cannot_be_made_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fleet(**changes).check()


def test_the_fleet_package_imports_without_cpython_only_modules() -> None:
    """What the page imports: no socket library, no js, until a client is made."""
    code = (
        "import sys, browser_ocpp.fleet\n"
        "loaded = {'websockets', 'js', 'pyodide'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
