"""``browser-ocpp fleet`` as a subprocess against real servers on free ports."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from browser_ocpp.demo.csms import DemoCSMS

from .conftest import WAIT_S, PlainCsms

BRISK = ["--meter-interval", "0.5", "--heartbeat", "0.5", "--idle", "0.1:0.4", "--session", "0.4:1"]


async def fleet_process(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "browser_ocpp.cli",
        "fleet",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finish(process: asyncio.subprocess.Process) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(process.communicate(), WAIT_S)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_run_prints_the_table_and_writes_the_report(
    demo_csms: DemoCSMS, tmp_path: Path
) -> None:
    report = tmp_path / "fleet.json"
    url = f"ws://127.0.0.1:{demo_csms.server.port}/ocpp"
    process = await fleet_process(
        "--csms", url, "--stations", "10", "--duration", "2", "--report", str(report),
        "--identity-prefix", "CLI-", "--progress", *BRISK,
    )  # fmt: skip
    code, out, err = await finish(process)
    assert code == 0, err
    data: dict[str, Any] = json.loads(report.read_text())
    assert data["csms"] == url
    assert data["protocol"] == "ocpp1.6"
    assert data["boots"] == {
        "stations": 10,
        "started": 10,
        "accepted": 10,
        "pending": 0,
        "rejected": 0,
        "failed": 0,
    }
    assert data["not_booted"] == []
    assert data["running"] is False
    assert (data["disconnects"], data["errors"]) == (0, 0)
    assert data["actions"]["BootNotification"]["calls"] == 10
    for action in ("Heartbeat", "StatusNotification", "StartTransaction", "StopTransaction"):
        figures = data["actions"][action]
        assert figures["calls"] == figures["ok"] > 0, action
        assert 0 < figures["p50_ms"] <= figures["p99_ms"], action
    assert data["calls"] == sum(f["calls"] for f in data["actions"].values())
    assert sorted(demo_csms.stations) == [f"CLI-{n:02d}" for n in range(1, 11)]
    assert "Boots: 10 accepted, 0 pending, 0 rejected, 0 failed (10 started)" in out
    assert any(line.startswith("Heartbeat ") for line in out.splitlines())
    assert "booted 10/10" in err  # the live line


async def test_rejected_boots_give_a_non_zero_exit(plain_csms: PlainCsms, tmp_path: Path) -> None:
    plain_csms.answers["BootNotification"] = lambda who, params: {
        "status": "Rejected",
        "currentTime": "2024-01-01T00:00:00Z",
        "interval": 300,
    }
    report = tmp_path / "fleet.json"
    process = await fleet_process(
        "--csms", plain_csms.url, "--stations", "3", "--duration", "1", "--report", str(report),
    )  # fmt: skip
    code, out, err = await finish(process)
    assert code == 1
    assert "3 stations not booted: FLEET-1, FLEET-2, FLEET-3" in err
    assert "Boots: 0 accepted, 0 pending, 3 rejected" in out
    assert json.loads(report.read_text())["not_booted"] == ["FLEET-1", "FLEET-2", "FLEET-3"]


async def test_ctrl_c_ends_the_run_early_with_the_report(
    plain_csms: PlainCsms, tmp_path: Path
) -> None:
    report = tmp_path / "fleet.json"
    process = await fleet_process(
        "--csms", plain_csms.url, "--stations", "3", "--duration", "600", "--report", str(report),
        "--progress", "--idle", "0:0.1", "--session", "600:600",
    )  # fmt: skip
    assert process.stderr is not None
    lines: list[str] = []

    async def until_charging() -> None:
        assert process.stderr is not None
        while len(lines) < 1000:
            line = (await process.stderr.readline()).decode()
            if not line:
                raise AssertionError(f"ended before charging: {lines}")
            lines.append(line)
            if "booted 3/3" in line and plain_csms.seen["StartTransaction"] == 6:
                return
        raise AssertionError("no live line shows the stations charging")

    await asyncio.wait_for(until_charging(), WAIT_S)
    process.send_signal(signal.SIGINT)
    code, out, err = await finish(process)
    assert code == 0, err
    assert "Stopping: closing the stations" in err
    assert "Sessions: 6 started, 6 stopped, 0 refused" in out
    data = json.loads(report.read_text())
    assert data["sessions"] == {"started": 6, "refused": 0, "stopped": 6}
    assert plain_csms.seen["StopTransaction"] == 6  # stopped before closing
    assert data["elapsed_s"] < 600


async def test_a_bad_option_is_named_before_anything_runs(tmp_path: Path) -> None:
    process = await fleet_process(
        "--csms", "http://127.0.0.1:9/", "--stations", "3", "--duration", "1",
    )  # fmt: skip
    code, _, err = await finish(process)
    assert code == 2
    assert "ws:// or wss://" in err
    process = await fleet_process(
        "--csms", "ws://127.0.0.1:9/", "--stations", "3", "--duration", "1",
        "--report", str(tmp_path / "missing" / "r.json"),
    )  # fmt: skip
    code, _, err = await finish(process)
    assert code == 2
    assert "no folder for the report" in err
    process = await fleet_process(
        "--csms", "ws://127.0.0.1:9/", "--stations", "3", "--duration", "1", "--idle", "x:y"
    )
    code, _, err = await finish(process)
    assert code == 2
    assert "MIN:MAX" in err
