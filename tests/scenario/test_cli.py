"""``browser-ocpp run`` and ``check`` as a user runs them: the real command in a
subprocess, against a real CSMS on a free loopback port."""

from __future__ import annotations

import asyncio
import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from browser_ocpp import OCPPServer
from browser_ocpp.demo.csms import DemoCSMS

SCENARIO = '''
from browser_ocpp.scenario import scenario

@scenario("HB", title="A Heartbeat is answered", clause="OCPP-J 4.2.2")
async def heartbeat(bench):
    station = await bench.station(start=True)
    async with bench.step("Heartbeat"):
        reply = await station.call("Heartbeat", {})
        bench.expect_result("Heartbeat", reply)

async def scenario_second(bench):
    """The second one"""
    station = await bench.station()
    async with bench.step("unknown action"):
        reply = await station.send_call("NoSuchAction", {})
        CHECK
'''


@pytest.fixture
async def csms_url() -> AsyncIterator[str]:
    server = OCPPServer(protocols=["ocpp1.6", "ocpp2.0.1"], strict_mode=True)
    DemoCSMS(server)
    port = await server.listen(0, "127.0.0.1")
    yield f"ws://127.0.0.1:{port}/ocpp"
    await server.close()


async def browser_ocpp(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "browser_ocpp.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(
    ("check", "code", "verdict"),
    [
        ('bench.expect_error(reply, ["NotImplemented"], "unknown")', 0, "pass"),
        ('bench.expect_error(reply, ["GenericError"], "unknown")', 1, "fail"),
        ('bench.inconclusive("cannot tell")', 3, "inconclusive"),
    ],
)
async def test_run_exits_with_the_verdict_and_writes_both_reports(
    csms_url: str, tmp_path: Path, check: str, code: int, verdict: str
) -> None:
    path = tmp_path / "hb.py"
    path.write_text(SCENARIO.replace("CHECK", check))
    report, junit = tmp_path / "r.json", tmp_path / "j.xml"
    returncode, out, err = await browser_ocpp(
        "run", str(path), "--csms", csms_url, "--protocol", "ocpp2.0.1",
        "--report", str(report), "--junit", str(junit),
    )  # fmt: skip
    assert returncode == code, (out, err)
    data = json.loads(report.read_text())
    assert [case["id"] for case in data["cases"]] == ["HB", "scenario_second"]
    assert data["cases"][0]["verdict"] == "pass"
    assert data["cases"][1]["verdict"] == verdict
    assert data["summary"]["verdict"] == verdict
    assert data["cases"][1]["frames"]  # the deciding frames
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2"
    assert suite.get("failures") == ("1" if verdict == "fail" else "0")
    assert suite.get("skipped") == ("1" if verdict == "inconclusive" else "0")
    assert "HB" in out and verdict in out


async def test_check_prints_a_table_and_writes_the_report(csms_url: str, tmp_path: Path) -> None:
    report = tmp_path / "check.json"
    returncode, out, err = await browser_ocpp(
        "check", "--csms", csms_url, "--protocol", "ocpp1.6", "--identity", "CLI-1",
        "--timeout", "0.5", "--report", str(report),
    )  # fmt: skip
    assert returncode == 0, (out, err)  # inconclusive cases do not fail a check
    data = json.loads(report.read_text())
    ids = [case["id"] for case in data["cases"]]
    assert "BOOT-ACCEPTED" in ids and "TX-START-STOP" in ids and "TX-EVENTS" not in ids
    for case in data["cases"]:
        assert set(case) >= {"id", "title", "clause", "verdict", "reason", "frames"}
        assert case["verdict"] in ("pass", "inconclusive"), case
    assert data["summary"]["fail"] == 0 and data["summary"]["total"] == len(ids)
    assert "BOOT-ACCEPTED" in out and "cases:" in out


async def test_check_fails_against_a_csms_that_refuses_heartbeats(tmp_path: Path) -> None:
    server = OCPPServer(protocols=["ocpp1.6"], strict_mode=True)
    DemoCSMS(server)

    @server.on("client")
    def no_heartbeats(client: object) -> None:
        client.remove_handler("Heartbeat")  # type: ignore[attr-defined]

    port = await server.listen(0, "127.0.0.1")
    try:
        returncode, out, _ = await browser_ocpp(
            "check", "--csms", f"ws://127.0.0.1:{port}", "--timeout", "0.3"
        )
    finally:
        await server.close()
    assert returncode == 1
    assert any(line.startswith("HEARTBEAT") and "fail" in line for line in out.splitlines())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.py", "--csms", "ws://127.0.0.1:1"], "missing.py"),
        (["check", "--csms", "http://127.0.0.1:1"], "ws:// or wss://"),
        (["check", "--csms", "ws://127.0.0.1:1", "--timeout", "0"], "--timeout"),
    ],
)
async def test_bad_arguments_say_what_is_wrong(args: list[str], message: str) -> None:
    returncode, _, err = await browser_ocpp(*args)
    assert returncode == 2 and message in err


async def test_a_scenario_file_without_scenarios_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.py"
    path.write_text("x = 1\n")
    returncode, _, err = await browser_ocpp("run", str(path), "--csms", "ws://127.0.0.1:1")
    assert returncode == 2 and "holds no scenario" in err
