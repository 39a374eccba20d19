"""The scenario API itself: verdicts, steps, loading, live events."""

from __future__ import annotations

import pytest

from browser_ocpp.scenario import (
    Bench,
    Settings,
    StepEvent,
    Verdict,
    load_source,
    run_case,
    scenario,
    stream,
)
from browser_ocpp.scenario.verdicts import worst

from .conftest import Make


def test_the_worst_verdict_wins() -> None:
    assert worst([Verdict.PASS, Verdict.INCONCLUSIVE]) is Verdict.INCONCLUSIVE
    assert worst([Verdict.INCONCLUSIVE, Verdict.FAIL, Verdict.PASS]) is Verdict.FAIL
    assert worst([Verdict.PASS]) is Verdict.PASS
    assert worst([]) is Verdict.INCONCLUSIVE  # nothing decided


def test_a_source_gives_its_scenarios_in_order() -> None:
    found = load_source(
        "from browser_ocpp.scenario import scenario\n"
        "async def scenario_b(bench):\n    'Second title'\n"
        "@scenario('A-1', clause='4.1.1', protocols=['ocpp1.6'])\n"
        "async def a(bench):\n    'First title'\n"
        "async def helper(bench): pass\n"
    )
    assert [(s.id, s.title) for s in found] == [
        ("scenario_b", "Second title"),
        ("A-1", "First title"),
    ]
    assert found[1].applies_to("ocpp1.6") and not found[1].applies_to("ocpp2.0.1")
    with pytest.raises(SyntaxError):
        load_source("async def scenario_x(:")


async def test_steps_take_the_verdict_of_what_stopped_them(scripted: Make) -> None:
    _, settings = await scripted("ocpp1.6")

    @scenario("S")
    async def steps(bench: Bench) -> None:
        station = await bench.station(start=True)
        async with bench.step("heartbeat"):
            bench.expect_result("Heartbeat", await station.call("Heartbeat", {}))
        async with bench.step("an assert"):
            assert 1 == 2, "one is not two"
        async with bench.step("never run"):
            pass

    result = await run_case(steps.__scenario__, settings)  # type: ignore[attr-defined]
    assert [(s.name, s.verdict) for s in result.steps] == [
        ("heartbeat", Verdict.PASS),
        ("an assert", Verdict.FAIL),
    ]
    assert result.verdict is Verdict.FAIL and result.reason.startswith("one is not two")
    assert result.steps[0].frames  # the heartbeat's CALL and CALLRESULT


async def test_a_scenario_that_raises_or_cannot_connect_fails_with_the_error() -> None:
    @scenario("X")
    async def no_csms(bench: Bench) -> None:
        await bench.station()

    settings = Settings(csms="ws://127.0.0.1:9/ocpp", timeout_s=0.5)
    result = await run_case(no_csms.__scenario__, settings)  # type: ignore[attr-defined]
    assert result.verdict is Verdict.FAIL and "Error" in result.reason


async def test_stream_yields_cases_steps_frames_and_verdicts(scripted: Make) -> None:
    _, settings = await scripted("ocpp2.0.1")

    @scenario("LIVE")
    async def live(bench: Bench) -> None:
        station = await bench.station()
        async with bench.step("boot"):
            bench.expect_result(
                "BootNotification", await station.call("BootNotification", bench.boot_payload())
            )
        bench.inconclusive("nothing more to see")

    events: list[StepEvent] = [e async for e in stream([live.__scenario__], settings)]  # type: ignore[attr-defined]
    kinds = [event.kind for event in events]
    assert kinds[0] == "case" and kinds[-1] == "done" and "frame" in kinds and "step" in kinds
    assert events[-1].verdict is Verdict.INCONCLUSIVE
    assert events[-1].reason == "nothing more to see"
