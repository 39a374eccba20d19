"""The test bench's models: the run log of a scenario or the pack (fed the runner's
real events against the demo CSMS), the forms, and the fleet's live table and chart."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import pytest

from browser_ocpp import OCPPServer
from browser_ocpp.console.model.bench_form import fleet_config, scenario_settings
from browser_ocpp.console.model.example_scenario import EXAMPLE_SCENARIO
from browser_ocpp.console.model.fleet_live import (
    FleetSeries,
    Point,
    action_rows,
    chart_svg,
    headline,
)
from browser_ocpp.console.model.run_log import MAX_FRAMES_PER_CASE, RunLog, frame_summary
from browser_ocpp.console.model.settings import SettingsError
from browser_ocpp.demo.csms import DemoCSMS
from browser_ocpp.fleet import FleetStats
from browser_ocpp.scenario import Scenario, StepEvent, Verdict, load_source, run_cases
from browser_ocpp.scenario.verdicts import FrameRecord, StepResult

PROTOCOLS = ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]


@pytest.fixture
async def demo() -> AsyncIterator[str]:
    server = OCPPServer(protocols=PROTOCOLS, strict_mode=True)
    DemoCSMS(server)
    port = await server.listen(0, "127.0.0.1")
    yield f"ws://127.0.0.1:{port}"
    await server.close()


# -- the example scenario and the run log ----------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_the_example_scenario_passes_against_the_demo_step_by_step(
    demo: str, protocol: str
) -> None:
    cases = load_source(EXAMPLE_SCENARIO)
    assert [case.id for case in cases] == ["EXAMPLE-1"]
    settings = scenario_settings(
        {"csms": demo, "protocol": protocol, "identity": "BENCH-T", "timeout": "5"}
    )
    log = RunLog(cases)
    report = await run_cases(cases, settings, log.apply)
    log.finished = True
    assert report.verdict is Verdict.PASS, report.table()
    row = log.rows["EXAMPLE-1"]
    assert row.verdict is Verdict.PASS and not row.running
    assert [step.name for step in row.steps] == [
        "Connect and boot",
        "Heartbeat gives the CSMS's time",
        "Authorize the idTag",
        "Charge for two seconds, then stop",
    ]
    assert all(step.verdict is Verdict.PASS for step in row.steps)
    assert any("CALL BootNotification" in frame_summary(f) for f in row.frames)
    kinds = [line.kind for line in log.lines]
    assert kinds[0] == "case" and kinds[-1] == "done" and kinds.count("step") == 4
    assert "frame" in kinds
    assert log.verdict is Verdict.PASS
    assert log.summary() == "1 pass, 0 fail, 0 inconclusive of 1"


def _case(case_id: str) -> Scenario:
    async def nothing(bench: object) -> None:
        return None

    return Scenario(nothing, case_id, f"title of {case_id}", "clause")


def _frame(text: str, direction: str = "out") -> FrameRecord:
    return FrameRecord(0.5, direction, "CP-1", text)


def test_the_run_log_follows_events_and_gives_the_worst_verdict() -> None:
    log = RunLog([_case("A"), _case("B"), _case("C")])
    assert [row.state for row in log.rows.values()] == ["queued"] * 3
    assert log.verdict is None and log.summary().endswith("(running)")
    log.apply(StepEvent("case", "A", reason="title of A"))
    assert log.rows["A"].state == "running"
    log.apply(StepEvent("frame", "A", frame=_frame('[2,"1","Heartbeat",{}]')))
    beat = [_frame('[2,"1","Heartbeat",{}]')]
    log.apply(StepEvent("step", "A", result=StepResult("beat", Verdict.PASS, "", beat)))
    log.apply(StepEvent("step", "A", result=StepResult("check the answer", Verdict.PASS)))
    assert log.rows["A"].deciding_frames == beat
    log.apply(StepEvent("done", "A", verdict=Verdict.PASS))
    log.apply(StepEvent("case", "B"))
    log.apply(StepEvent("step", "B", result=StepResult("x", Verdict.INCONCLUSIVE, "no Reset")))
    log.apply(StepEvent("done", "B", verdict=Verdict.INCONCLUSIVE, reason="no Reset"))
    assert log.verdict is Verdict.INCONCLUSIVE
    log.apply(StepEvent("case", "C"))
    log.apply(StepEvent("done", "C", verdict=Verdict.FAIL, reason="late"))
    log.finished = True
    assert log.verdict is Verdict.FAIL
    assert log.counts() == {"pass": 1, "fail": 1, "inconclusive": 1, "total": 3}
    assert log.summary() == "1 pass, 1 fail, 1 inconclusive of 3"
    assert log.rows["B"].reason == "no Reset"
    assert [line.verdict for line in log.lines if line.kind == "done"] == [
        "pass",
        "inconclusive",
        "fail",
    ]


def test_a_stopped_run_leaves_its_case_undecided_and_frames_are_bounded() -> None:
    log = RunLog([_case("A")])
    log.apply(StepEvent("case", "A"))
    for n in range(MAX_FRAMES_PER_CASE + 5):
        log.apply(StepEvent("frame", "A", frame=_frame(f'[2,"{n}","Heartbeat",{{}}]')))
    row = log.rows["A"]
    assert len(row.frames) == MAX_FRAMES_PER_CASE and row.frames_dropped == 5
    log.stop()
    assert row.state == "queued" and row.reason == "stopped before a verdict"
    assert log.summary().endswith("(stopped)")
    unknown = log.update(StepEvent("case", "NEW", reason="came from elsewhere"))
    assert unknown.title == "came from elsewhere"


@pytest.mark.parametrize(
    ("text", "direction", "summary"),
    [
        ('[2,"1","BootNotification",{}]', "out", "CP-1 -> CALL BootNotification"),
        ('[3,"1",{}]', "in", "CP-1 <- CALLRESULT"),
        ('[4,"1","NotImplemented","",{}]', "in", "CP-1 <- CALLERROR NotImplemented"),
        ('[7,"1"]', "out", "CP-1 -> type 7"),
        ("[2,", "out", "CP-1 -> not an OCPP-J array: [2,"),
    ],
)
def test_frames_are_summed_up_in_a_line(text: str, direction: str, summary: str) -> None:
    assert frame_summary(_frame(text, direction)) == summary


# -- the forms ------------------------------------------------------------------------------


def test_scenario_settings_from_the_form() -> None:
    settings = scenario_settings(
        {"csms": "ws://127.0.0.1:8080/ocpp", "protocol": "ocpp2.0.1", "identity": "B-1"}
    )
    assert (settings.csms, settings.protocol, settings.identity) == (
        "ws://127.0.0.1:8080/ocpp",
        "ocpp2.0.1",
        "B-1",
    )
    assert settings.timeout_s == 10 and settings.id_tag == "TAG-0001"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"csms": "", "protocol": "ocpp1.6", "identity": "B"}, "csms"),
        ({"csms": "http://x:1", "protocol": "ocpp1.6", "identity": "B"}, "csms"),
        ({"csms": "ws://x:1", "protocol": "ocpp9", "identity": "B"}, "protocol"),
        ({"csms": "ws://x:1", "protocol": "ocpp1.6", "identity": "a/b"}, "identity"),
        ({"csms": "ws://x:1", "protocol": "ocpp1.6", "identity": ""}, "identity"),
        ({"csms": "ws://x:1", "protocol": "ocpp1.6", "identity": "B", "timeout": "0"}, "timeout"),
    ],
)
def test_a_bad_scenario_form_names_its_field(raw: dict[str, str], field: str) -> None:
    with pytest.raises(SettingsError) as caught:
        scenario_settings(raw)
    assert caught.value.field == field


FLEET = {
    "csms": "ws://127.0.0.1:8080/ocpp",
    "protocol": "ocpp1.6",
    "prefix": "WEB-",
    "stations": "20",
    "duration": "60",
    "ramp": "2",
    "heartbeat": "10",
    "meter": "5",
}


def test_fleet_config_from_the_form() -> None:
    config = fleet_config(FLEET)
    assert (config.stations, config.duration_s, config.ramp_s) == (20, 60, 2)
    assert config.identity(0) == "WEB-01" and config.profile.heartbeat_s == 10


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"stations": "0"}, "stations"),
        ({"stations": "2.5"}, "stations"),
        ({"stations": "501"}, "stations"),
        ({"duration": "x"}, "duration"),
        ({"heartbeat": "0"}, "heartbeat"),
        ({"prefix": ""}, "prefix"),
        ({"prefix": "a/b"}, "prefix"),
        ({"prefix": "P" * 50}, "prefix"),
        ({"csms": "ws://h:99999"}, "csms"),
        ({"meter": "0.5"}, "meter"),
    ],
)
def test_a_bad_fleet_form_names_its_field(change: dict[str, str], field: str) -> None:
    with pytest.raises(SettingsError) as caught:
        fleet_config({**FLEET, **change})
    assert caught.value.field == field


# -- the fleet's live table and chart -------------------------------------------------------


def test_the_series_buckets_calls_per_second_with_gaps() -> None:
    series = FleetSeries()
    series.add(0.1, "ok", 0.010)
    series.add(0.5, "ok", 0.030)
    series.add(0.9, "timeout", 30.0)  # not answered: neither counted nor timed
    series.add(1.2, "NotImplemented", 0.002)  # a CALLERROR is an answer
    series.advance(4.0)
    assert series.points == [
        Point(1.0, 2, 10.0, 30.0),
        Point(2.0, 1, 2.0, 2.0),
        Point(3.0, 0, None, None),
        Point(4.0, 0, None, None),
    ]
    series.advance(3.5)  # time never runs back
    assert len(series.points) == 4


def test_the_series_keeps_a_bounded_history() -> None:
    series = FleetSeries(keep=10)
    series.add(0.0, "ok", 0.001)
    series.advance(10_000.0)
    assert len(series.points) == 10 and series.points[-1].t == 10_000.0
    with pytest.raises(ValueError, match="bucket_s"):
        FleetSeries(bucket_s=0)


def test_the_chart_is_svg_with_both_lines_and_bars() -> None:
    points = [Point(float(t), 10 + t, 5.0 + t, 20.0 + t) for t in range(1, 30)]
    points[10] = Point(11.0, 0, None, None)  # a second without answers: the lines break
    svg = chart_svg(points, width=600, height=200)
    root = ET.fromstring(svg)
    assert root.get("width") == "600" and root.get("height") == "200"
    names = [element.get("class") for element in root.iter()]
    assert names.count("c-p50") == 2 and names.count("c-p99") == 2  # broken in two
    assert names.count("c-bar") == 28
    texts = [element.text for element in root.iter() if element.text]
    assert "50" in texts and "ms" in texts  # p99 tops at 48 ms: the axis at 50
    empty = ET.fromstring(chart_svg([], width=100, height=50))
    assert empty.get("width") == "240"  # never narrower than legible
    assert "No calls yet" in [element.text for element in empty.iter()]


def test_action_rows_and_headline_from_a_snapshot() -> None:
    stats = FleetStats(stations=3)
    stats.started = 3
    stats.booted("A", "Accepted")
    stats.booted("B", "Accepted")
    for seconds in (0.001, 0.003):
        stats.record("Heartbeat", "ok", seconds)
    stats.record("Heartbeat", "timeout", 30.0)
    stats.record("Authorize", "FormationViolation", 0.002)
    rows = action_rows(stats.snapshot())
    assert rows == [
        ("Authorize", "1", "0", "1", "0", "0", "2.0", "2.0", "2.0"),
        ("Heartbeat", "3", "2", "0", "1", "0", "1.0", "3.0", "3.0"),
        ("total", "4", "2", "1", "1", "0", "", "", ""),
    ]
    figures = headline(stats.snapshot())
    assert figures["booted"] == "2 / 3" and figures["errors"] == "2"
    assert "1 failed" in figures["boots"]
