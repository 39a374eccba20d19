"""The emulator under Pyodide (Node, the vendored runtime, this source tree).

Boots ``runtime/pyodide`` in Node with the network refused, mounts the working
tree (no bytecode is written into it) and runs a Station against a
strict in-memory CSMS for each protocol: boot, a session with meter samples, a
CSMS command and a Reset (close, reconnect, boot again).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PYODIDE = REPO_ROOT / "runtime" / "pyodide"
NODE_TIMEOUT = 120

PYTHON = r"""
import asyncio, json, sys, warnings
sys.dont_write_bytecode = True  # write nothing into the mounted tree
sys.path.insert(0, "/repo")
result = {}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from browser_ocpp.emulator import Station, StationConfig
    from browser_ocpp.peer import RPCClient, RPCPeer, memory_pair

    result["file"] = sys.modules["browser_ocpp.emulator"].__file__
    result["websockets_loaded"] = "websockets" in sys.modules
    NOW = "2024-01-01T00:00:00Z"

    def answers(protocol):
        if protocol == "ocpp1.6":
            tx = {"Authorize": {"idTagInfo": {"status": "Accepted"}},
                  "StartTransaction": {"idTagInfo": {"status": "Accepted"}, "transactionId": 5},
                  "StopTransaction": {}}
        else:
            tx = {"Authorize": {"idTokenInfo": {"status": "Accepted"}}, "TransactionEvent": {}}
        return {"BootNotification": {"status": "Accepted", "currentTime": NOW, "interval": 300},
                "Heartbeat": {"currentTime": NOW}, "StatusNotification": {}, "MeterValues": {},
                **tx}

    class Hub:
        def __init__(self, protocol):
            self.protocol, self.seen, self.csms = protocol, [], []

        async def open(self):
            left, right = memory_pair()
            csms = RPCPeer(strict_mode=True)
            table = answers(self.protocol)

            def handle(method, ctx):
                self.seen.append(method)
                return table[method]

            csms.handle(handle)
            csms.attach(right, self.protocol)
            right.start(csms)
            self.csms.append(csms)
            return left, self.protocol

    class MemoryClient(RPCClient):
        def __init__(self, hub):
            super().__init__(identity="EMU", endpoint="ws://memory/ocpp",
                             protocols=[hub.protocol], strict_mode=True, reconnect=False)
            self.hub = hub

        async def _open_transport(self, url):
            return await self.hub.open()

    async def until(check):
        while not check():
            await asyncio.sleep(0.01)

    async def run(protocol):
        hub = Hub(protocol)
        client = MemoryClient(hub)
        station = Station(client, StationConfig(meter_interval_s=0.05))
        await client.connect()
        await station.start()
        assert await station.start_transaction(1)
        sample = "MeterValues" if protocol == "ocpp1.6" else "TransactionEvent"
        await asyncio.wait_for(until(lambda: hub.seen.count(sample) >= 3), 5)
        await station.stop_transaction(1)
        await station.unplug(1)
        reset = {"type": "Soft"} if protocol == "ocpp1.6" else {"type": "Immediate"}
        answer = await hub.csms[-1].call("Reset", reset, timeout_ms=5000)
        await asyncio.wait_for(until(lambda: hub.seen.count("BootNotification") == 2), 5)
        await asyncio.wait_for(until(lambda: station.booted), 5)
        energy = station.connectors[0].energy_wh
        await station.shutdown()
        await client.close()
        return {"reset": answer, "seen": sorted(set(hub.seen)), "energy_wh": energy,
                "status": station.connectors[0].status.value}

    for protocol in ("ocpp1.6", "ocpp2.0.1", "ocpp2.1"):
        result[protocol] = await asyncio.wait_for(run(protocol), 20)
result["warnings"] = [f"{w.category.__name__}: {w.message}" for w in caught]
json.dumps(result)
"""

NODE = r"""
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const [indexDir, repo, codeFile] = process.argv.slice(2);
globalThis.fetch = async () => { throw new Error("network refused by the test"); };
try {
  const { loadPyodide } = await import(pathToFileURL(indexDir + "/pyodide.mjs").href);
  const pyodide = await loadPyodide({ indexURL: indexDir + "/", packages: ["jsonschema"] });
  pyodide.FS.mkdir("/repo");
  pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: repo }, "/repo");
  const out = await pyodide.runPythonAsync(readFileSync(codeFile, "utf8"));
  console.log("RESULT " + out);
  process.exit(0);
} catch (error) {
  console.error("FAILED:", error && error.stack ? error.stack : error);
  process.exit(1);
}
"""


@pytest.fixture(scope="module")
def pyodide_result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None, "needs node (make test installs it)"
    assert (PYODIDE / "pyodide.mjs").is_file(), "needs the vendored runtime (make test builds it)"
    work = tmp_path_factory.mktemp("pyodide-emulator")
    (work / "run.mjs").write_text(NODE, encoding="utf-8")
    (work / "run.py").write_text(PYTHON, encoding="utf-8")
    done = subprocess.run(
        [node, str(work / "run.mjs"), str(PYODIDE), str(REPO_ROOT), str(work / "run.py")],
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        cwd=work,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-4000:]
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def test_the_emulator_runs_under_pyodide(pyodide_result: dict[str, Any]) -> None:
    assert pyodide_result["file"].startswith("/repo/browser_ocpp/emulator/")
    assert pyodide_result["websockets_loaded"] is False
    assert pyodide_result["warnings"] == []
    for protocol in ("ocpp1.6", "ocpp2.0.1", "ocpp2.1"):
        run = pyodide_result[protocol]
        assert run["reset"] == {"status": "Accepted"}
        assert run["energy_wh"] > 0
        assert run["status"] == "Available"
        assert {"BootNotification", "StatusNotification", "Authorize"} <= set(run["seen"])
        if protocol == "ocpp1.6":
            assert {"StartTransaction", "MeterValues", "StopTransaction"} <= set(run["seen"])
        else:
            assert "TransactionEvent" in run["seen"]
