"""The pytest plugin in a CSMS team's suite: a real pytest run in a subprocess,
with the plugin loaded by name, against a real CSMS on loopback."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from browser_ocpp import OCPPServer
from browser_ocpp.demo.csms import DemoCSMS

SUITE = """
from browser_ocpp.scenario import scenario

@scenario("MINE", title="An unknown action is NotImplemented")
async def unknown(bench):
    station = await bench.station()
    reply = await station.send_call("NoSuchAction", {})
    bench.expect_error(reply, ["NotImplemented"], "unknown action")

@scenario("WRONG", title="expects the wrong code")
async def wrong(bench):
    station = await bench.station()
    reply = await station.send_call("NoSuchAction", {})
    bench.expect_error(reply, ["SecurityError"], "unknown action")

def test_pack_case(ocpp_run):
    assert ocpp_run("HEARTBEAT").verdict == "pass"

def test_own_scenario(ocpp_run):
    ocpp_run(unknown)

def test_inconclusive(ocpp_run):
    ocpp_run("CMD-RESET", timeout_s=0.2)

def test_failing(ocpp_run):
    ocpp_run(wrong)
"""


async def test_a_suite_runs_scenarios_with_the_plugin(tmp_path: Path) -> None:
    (tmp_path / "test_csms.py").write_text(SUITE)
    server = OCPPServer(protocols=["ocpp2.0.1"], strict_mode=True)
    DemoCSMS(server)
    port = await server.listen(0, "127.0.0.1")
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pytest", "-p", "browser_ocpp.scenario.pytest_plugin",
            "-p", "no:cacheprovider", "-rs", "-q", "test_csms.py",
            "--ocpp-csms", f"ws://127.0.0.1:{port}/ocpp", "--ocpp-protocol", "ocpp2.0.1",
            cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(process.communicate(), 90)
    finally:
        await server.close()
    text = out.decode()
    assert process.returncode == 1, text  # one test failed
    assert "2 passed" in text and "1 failed" in text and "1 skipped" in text, text
    assert "WRONG failed: unknown action: expected CALLERROR SecurityError" in text
    assert "CMD-RESET inconclusive: the CSMS sent no Reset" in text
