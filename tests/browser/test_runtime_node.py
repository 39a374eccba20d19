"""The offline browser runtime (``browser_ocpp.runtime``) boots under Node and runs us.

Builds ``runtime/`` (slow only the first time), checks the generated
``pyodide-lock.json`` against the wheels beside it, then boots that Pyodide in Node 20
with every ``fetch`` refused and runs, inside Pyodide: the import of ``browser_ocpp``,
strict validation with jsonschema 4.17.3, and an RPC round trip over ``memory_pair``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from browser_ocpp.runtime import RuntimeBuildError, ensure_runtime
from browser_ocpp.runtime.fetch import extract_tar_folder, npm_integrity
from browser_ocpp.runtime.pins import load_lock
from browser_ocpp.runtime.pyodide_lock import environment_for, lock_entries
from browser_ocpp.runtime.wheels import WheelInfo, build_own_wheel, read_wheel

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_TIMEOUT = 180  # seconds for the whole Node run
VENDORED = {"browser-ocpp", "jsonschema", "fastjsonschema", "attrs", "pyrsistent", "micropip"}

pytestmark = pytest.mark.timeout(900)  # the first build downloads and builds wheels

# Runs inside Pyodide (``runPythonAsync``: top-level await); its value is a JSON text.
PYODIDE_CODE = r"""
import asyncio
import importlib.metadata
import importlib.util
import json
import sys
import time
import warnings

result = {"platform": sys.platform, "python": sys.version.split()[0]}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    started = time.perf_counter()
    import browser_ocpp
    from browser_ocpp import NOREPLY, RPCOccurrenceConstraintViolationError, RPCPeer
    from browser_ocpp.peer import memory_pair

    result["import_ms"] = (time.perf_counter() - started) * 1000
    result["browser_ocpp_file"] = browser_ocpp.__file__
    # The README: importing the package loads neither websockets, js nor jsonschema.
    result["loaded_by_import"] = sorted({"websockets", "js", "jsonschema"} & set(sys.modules))
    started = time.perf_counter()
    from browser_ocpp.rpc.validation import validator_for

    result["validation_import_ms"] = (time.perf_counter() - started) * 1000
    try:
        import websockets  # noqa: F401
    except ImportError:
        result["websockets_importable"] = False
    else:
        result["websockets_importable"] = True

    # Strict validation with the jsonschema Pyodide got (4.17.x).
    validator = validator_for("ocpp1.6")
    boot = {"chargePointVendor": "ACME", "chargePointModel": "One"}
    started = time.perf_counter()
    validator.validate_request("BootNotification", boot)
    result["first_validation_ms"] = (time.perf_counter() - started) * 1000
    result["jsonschema"] = importlib.metadata.version("jsonschema")
    result["jsonschema_file"] = sys.modules["jsonschema"].__file__
    result["fast_path"] = validator._checker("BootNotification", "request").fast is not None
    try:
        validator.validate_request("BootNotification", {"chargePointVendor": "ACME"})
    except RPCOccurrenceConstraintViolationError as exc:
        result["invalid_request"] = [type(exc).__name__, str(exc.code)]
    else:
        result["invalid_request"] = "accepted"

    # The README's engine example, and a strict-mode rejection over the wire.
    async def round_trip():
        station, csms = RPCPeer(), RPCPeer(strict_mode=True)
        left, right = memory_pair()
        station.attach(left, "ocpp1.6")
        csms.attach(right, "ocpp1.6")
        left.start(station)
        right.start(csms)

        @csms.handle("BootNotification")
        def on_boot(ctx):
            return {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 300}

        csms.handle("StatusNotification", lambda ctx: NOREPLY)
        response = await station.call("BootNotification", boot, timeout_ms=5000)
        try:
            await station.call("BootNotification", {"chargePointModel": "One"}, timeout_ms=5000)
        except RPCOccurrenceConstraintViolationError as exc:
            rejected = [type(exc).__name__, str(exc.code)]
        else:
            rejected = "accepted"
        await station.close()
        return response, rejected

    started = time.perf_counter()
    response, rejected = await asyncio.wait_for(round_trip(), 10)
    result["round_trip_ms"] = (time.perf_counter() - started) * 1000
    result["boot_response"] = response
    result["strict_rejection"] = rejected

result["warnings"] = [
    f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught
]
json.dumps(result)
"""

# Boots the runtime in Node with the network refused; prints one ``RESULT {json}`` line.
NODE_SCRIPT = r"""
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [indexDir, codeFile] = process.argv.slice(2);
const fetchAttempts = [];
globalThis.fetch = async (input) => {
  fetchAttempts.push(String(input?.url ?? input));
  throw new Error("network refused by the test");
};
const consoleErrors = [];
const originalError = console.error;
console.error = (...args) => {
  consoleErrors.push(args.map(String).join(" "));
  originalError(...args);
};

try {
  const { loadPyodide } = await import(pathToFileURL(indexDir + "/pyodide.mjs").href);
  const t0 = performance.now();
  const pyodide = await loadPyodide({
    indexURL: indexDir + "/",
    packages: ["browser-ocpp"],
    stdout: (line) => process.stderr.write("[py] " + line + "\n"),
    stderr: (line) => process.stderr.write("[py:err] " + line + "\n"),
  });
  const bootMs = performance.now() - t0;
  const t1 = performance.now();
  const out = await pyodide.runPythonAsync(readFileSync(codeFile, "utf8"));
  const runMs = performance.now() - t1;
  console.log("RESULT " + JSON.stringify({
    boot_ms: bootMs,
    run_ms: runMs,
    version: pyodide.version,
    loaded: Object.keys(pyodide.loadedPackages).sort(),
    fetch_attempts: fetchAttempts,
    console_errors: consoleErrors,
    python: JSON.parse(out),
  }));
  process.exit(0);
} catch (error) {
  originalError("BOOT FAILED:", error && error.stack ? error.stack : error);
  process.exit(1);
}
"""


@pytest.fixture(scope="module")
def runtime() -> Path:
    return ensure_runtime(REPO_ROOT / "runtime")


@pytest.fixture(scope="module")
def node_result(runtime: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None
    work = tmp_path_factory.mktemp("node-boot")
    (work / "boot.mjs").write_text(NODE_SCRIPT, encoding="utf-8")
    (work / "check.py").write_text(PYODIDE_CODE, encoding="utf-8")
    started = time.monotonic()
    done = subprocess.run(
        [node, str(work / "boot.mjs"), str(runtime / "pyodide"), str(work / "check.py")],
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        cwd=work,
        check=False,
    )
    elapsed = time.monotonic() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and len(lines) == 1, (
        f"node exited {done.returncode}\nstdout:\n{done.stdout[-4000:]}\n"
        f"stderr:\n{done.stderr[-4000:]}"
    )
    result: dict[str, Any] = json.loads(lines[0][len("RESULT ") :])
    result["process_s"] = elapsed
    python = result["python"]
    print(
        f"node: process {elapsed:.2f} s, loadPyodide+packages {result['boot_ms']:.0f} ms, "
        f"checks {result['run_ms']:.0f} ms (import browser_ocpp {python['import_ms']:.0f} ms, "
        f"validation module with jsonschema {python['validation_import_ms']:.0f} ms)"
    )
    return result


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_generated_lock_lists_exactly_the_vendored_wheels(runtime: Path) -> None:
    folder = runtime / "pyodide"
    lock = json.loads((folder / "pyodide-lock.json").read_text(encoding="utf-8"))
    assert lock["info"]["python"].startswith("3.14.")
    packages = lock["packages"]
    assert set(packages) == VENDORED
    for key, entry in packages.items():
        assert entry["name"] == key
        wheel = folder / entry["file_name"]
        assert wheel.is_file(), entry["file_name"]
        assert _sha256(wheel) == entry["sha256"], entry["file_name"]
        assert entry["file_name"].endswith("-none-any.whl")
        assert entry["install_dir"] == "site"
        assert entry["package_type"] == "package"
        assert set(entry["depends"]) <= set(packages)
        assert entry["imports"]
    assert sorted(packages["browser-ocpp"]["depends"]) == ["fastjsonschema", "jsonschema"]
    assert packages["browser-ocpp"]["imports"] == ["browser_ocpp"]
    assert packages["jsonschema"]["version"].startswith("4.17.")
    assert packages["jsonschema"]["depends"] == ["attrs", "pyrsistent"]
    # Every wheel pinned in runtime.lock.json is there with the pinned sha256.
    for pin in load_lock().wheels:
        entry = packages[pin.name]
        assert (entry["file_name"], entry["sha256"]) == (pin.file_name, pin.sha256)


def test_second_ensure_is_a_quick_no_op(runtime: Path) -> None:
    lines: list[str] = []
    ensure_runtime(runtime, log=lines.append)
    # Somebody editing browser_ocpp meanwhile makes the pyodide part rebuild: then once more.
    if lines:
        lines.clear()
        ensure_runtime(runtime, log=lines.append)
    assert lines == []


def test_pyodide_boots_offline_in_node(node_result: dict[str, Any]) -> None:
    assert node_result["version"] == "314.0.7"
    assert node_result["fetch_attempts"] == []
    assert node_result["console_errors"] == []
    assert {"browser-ocpp", "jsonschema", "fastjsonschema", "attrs", "pyrsistent"} <= set(
        node_result["loaded"]
    )
    python = node_result["python"]
    assert python["platform"] == "emscripten"
    assert python["python"].startswith("3.14.")


def test_browser_ocpp_imports_without_websockets(node_result: dict[str, Any]) -> None:
    python = node_result["python"]
    assert "site-packages/browser_ocpp" in python["browser_ocpp_file"]
    assert python["websockets_importable"] is False
    assert python["loaded_by_import"] == []
    assert python["warnings"] == []


def test_strict_validation_under_pyodide(node_result: dict[str, Any]) -> None:
    python = node_result["python"]
    assert python["jsonschema"] == "4.17.3"
    assert python["fast_path"] is True  # fastjsonschema compiles under Pyodide too
    assert "site-packages/jsonschema" in python["jsonschema_file"]
    assert python["invalid_request"] == [
        "RPCOccurrenceConstraintViolationError",
        "OccurrenceConstraintViolation",
    ]


def test_rpc_round_trip_under_pyodide(node_result: dict[str, Any]) -> None:
    python = node_result["python"]
    assert python["boot_response"] == {
        "status": "Accepted",
        "currentTime": "2024-01-01T00:00:00Z",
        "interval": 300,
    }
    assert python["strict_rejection"][0] == "RPCOccurrenceConstraintViolationError"


# --- the builder's parts, without the network --------------------------------------


def _wheel(tmp_path: Path, name: str, version: str, requires: list[str]) -> WheelInfo:
    path = tmp_path / f"{name}-{version}-py3-none-any.whl"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    dist_info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}/__init__.py", "")
        archive.writestr(f"{dist_info}/METADATA", metadata)
        archive.writestr(f"{dist_info}/RECORD", f"{name}/__init__.py,,\n")
    return read_wheel(path)


def test_lock_keeps_dependencies_whose_markers_hold_under_pyodide(tmp_path: Path) -> None:
    app = _wheel(
        tmp_path,
        "app",
        "1.0",
        [
            "dep>=1,<2; sys_platform == 'emscripten'",
            "native; sys_platform != 'emscripten'",
            "old; python_version < '3.8'",
            "tool; extra == 'dev'",
        ],
    )
    dep = _wheel(tmp_path, "dep", "1.5", [])
    packages = lock_entries([app, dep], environment_for("3.14.2"))
    assert packages["app"]["depends"] == ["dep"]
    assert packages["app"]["imports"] == ["app"]


@pytest.mark.parametrize(
    ("requires", "message"),
    [
        (["dep>=2; sys_platform == 'emscripten'"], "needs dep>=2, vendored 1.5"),
        (["missing"], "needs missing under emscripten, not vendored"),
    ],
)
def test_lock_refuses_unmet_dependencies(tmp_path: Path, requires: list[str], message: str) -> None:
    wheels = [_wheel(tmp_path, "app", "1.0", requires), _wheel(tmp_path, "dep", "1.5", [])]
    with pytest.raises(RuntimeBuildError, match=re.escape(message)):
        lock_entries(wheels, environment_for("3.14.2"))


def test_own_wheel_leaves_out_what_the_browser_never_imports(tmp_path: Path) -> None:
    wheel = build_own_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "browser_ocpp/peer/peer.py" in names
    assert "browser_ocpp/console/app.py" in names
    assert "browser_ocpp/rpc/schemas/ocpp1.6/BootNotificationRequest.json" in names
    left_out = ("browser_ocpp/runtime/", "browser_ocpp/demo/", "browser_ocpp/console/static/")
    assert not [name for name in names if name.startswith(left_out)]
    assert "browser_ocpp/cli.py" not in names
    # The same files always make the same wheel (fixed times), so its sha256 is stable.
    again = build_own_wheel(tmp_path / "again")
    assert again.read_bytes() == (tmp_path / again.name).read_bytes()


def test_npm_integrity_is_base64_sha512(tmp_path: Path) -> None:
    tarball = tmp_path / "x.tgz"
    tarball.write_bytes(b"some bytes")
    expected = base64.b64encode(hashlib.sha512(b"some bytes").digest()).decode()
    assert npm_integrity(tarball) == f"sha512-{expected}"


@pytest.mark.parametrize("kind", ["dotdot", "symlink"])
def test_extraction_refuses_unsafe_members(tmp_path: Path, kind: str) -> None:
    tarball = tmp_path / "evil.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        good = tarfile.TarInfo("package/ok.txt")
        good.size = 2
        archive.addfile(good, io.BytesIO(b"ok"))
        evil = tarfile.TarInfo("package/../evil.txt" if kind == "dotdot" else "package/link")
        if kind == "symlink":
            evil.type = tarfile.SYMTYPE
            evil.linkname = "/etc/passwd"
            archive.addfile(evil)
        else:
            evil.size = 1
            archive.addfile(evil, io.BytesIO(b"x"))
    with pytest.raises(RuntimeBuildError):
        extract_tar_folder(tarball, "package/", tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()
