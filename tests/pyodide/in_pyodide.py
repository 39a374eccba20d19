"""The Pyodide side of the suite run: imported and called by ``boot.mjs`` in Node.

``main`` installs the pinned test wheels into site-packages, writes a pytest
configuration derived from the project's, and runs pytest on the tree mounted at
``/repo`` with every asyncio test on a fresh ``WebLoop``, the loop pages run on.
``boot.mjs`` calls it with WebAssembly stack switching (JSPI), so that
``WebLoop.run_until_complete`` can block, as pytest-asyncio's Runner needs; the
loop's callbacks run plainly from Node's event loop meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import sysconfig
import time
import tomllib
import zipfile
from collections import Counter
from typing import Any

from pyodide import webloop
from pyodide.ffi import can_run_sync

__all__ = ["DESELECTED", "main"]

REPO = "/repo"
INI = "/tmp/browser-ocpp-pyodide-pytest.ini"
TIMEOUT_KEY = "timeout"
"""pytest-timeout's setting: that plugin needs signals or threads, Pyodide has neither, so
the loop below does its work for asyncio tests."""
DESELECTED = {
    "tests/emulator/test_pyodide.py": (
        "starts Node with Pyodide in a subprocess (Pyodide has no processes); this run "
        "is what it checks, on a larger scale"
    ),
    "tests/emulator/test_units.py::test_the_emulator_imports_without_websockets_or_jsonschema": (
        "imports the emulator in a fresh interpreter started with subprocess (Pyodide "
        "has no processes)"
    ),
    **{
        f"tests/emulator/test_logs.py::{name}": (
            "runs an HTTP server on a loopback socket to receive the log (Pyodide has no "
            "sockets; the station uploads with the page's fetch there)"
        )
        for name in (
            "test_upload_to_a_loopback_server",
            "test_upload_refused_by_the_server_fails",
            "test_upload_failure_chosen_with_faults",
        )
    },
}
"""Node ids (or their prefixes) that cannot run in Pyodide, with the reason."""

LONGREPR_CHARS = 4000


def _install_wheels(folder: str, names: list[str]) -> None:
    """Unpack the pure wheels (already sha256-checked by the harness) into site-packages."""
    site = sysconfig.get_path("purelib")
    for name in names:
        with zipfile.ZipFile(os.path.join(folder, name)) as wheel:
            wheel.extractall(site)


def _write_ini() -> tuple[str, float]:
    """The project's ``[tool.pytest.ini_options]`` as an ini file (the same asyncio mode,
    ``filterwarnings = error``), and its per-test timeout, which the file leaves out."""
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as stream:
        options = tomllib.load(stream)["tool"]["pytest"]["ini_options"]
    timeout = float(options.pop(TIMEOUT_KEY))
    lines = ["[pytest]"]
    for key, value in options.items():
        if isinstance(value, list):
            lines.append(f"{key} =" + "".join(f"\n    {item}" for item in value))
        else:
            lines.append(f"{key} = {value}")
    with open(INI, "w", encoding="utf-8") as stream:
        stream.write("\n".join(lines) + "\n")
    return INI, timeout


def _run_callbacks_plainly() -> None:
    """Let WebLoop run each callback as a plain call from Node's event loop, as in a
    browser without stack switching, instead of a call that could suspend.

    Only the test's own ``run_until_complete`` needs to suspend. Node 20's experimental
    stack switching gives every call that could a stack of its own, and the garbage
    collection that follows stalls the loop 5 to 90 ms at a time. Measured here (2
    busy cores), from a peer's event to the test code it wakes: median 1.3 ms, 95th
    percentile 16 ms, worst 89 ms; plainly 0.2, 1 and 6 ms. Those stalls broke the
    timing margin of a reconnect test in half the runs, for reasons no browser shares."""
    once_callable = webloop.create_once_callable
    webloop.create_once_callable = lambda function, **_: once_callable(function)


class WatchedLoop(webloop.WebLoop):
    """A fresh WebLoop for one test, whose tasks are cancelled once the test has run
    ``limit`` seconds (pytest-timeout's job on CPython).

    A WebLoop makes itself the running loop of the thread state that creates it (it
    never stops), and ``asyncio.Runner.run`` refuses to start under a running loop, so
    the slot is given back. Callbacks run from Node's event loop while
    ``run_until_complete`` waits (JSPI), and each claims the slot again for itself.
    """

    def __init__(self, limit: float) -> None:
        super().__init__()
        asyncio._set_running_loop(None)
        self._watchdog = self.call_later(limit, self._expire, limit)

    def _expire(self, limit: float) -> None:
        for task in asyncio.all_tasks(self):
            task.cancel(f"the test still ran after {limit:g} s (the project's pytest timeout)")

    def close(self) -> None:
        self._watchdog.cancel()
        super().close()


def _deselection(nodeid: str) -> str | None:
    for key in DESELECTED:
        if nodeid == key or nodeid.startswith((key + "::", key + "[")):
            return key
    return None


class SuitePlugin:
    """Runs asyncio tests on WebLoop, drops ``DESELECTED`` and tallies the outcomes."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.outcomes: Counter[str] = Counter()
        self.failures: list[dict[str, str]] = []
        self.deselected: list[dict[str, str]] = []
        self.selected = 0

    def pytest_asyncio_loop_factories(self, config: Any, item: Any) -> dict[str, Any]:
        return {"webloop": lambda: WatchedLoop(self.timeout)}

    def pytest_collection_modifyitems(self, session: Any, config: Any, items: list[Any]) -> None:
        keep, dropped = [], []
        for item in items:
            key = _deselection(item.nodeid)
            if key is None:
                keep.append(item)
            else:
                dropped.append(item)
                self.deselected.append({"nodeid": item.nodeid, "reason": DESELECTED[key]})
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep
        self.selected = len(items)

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when == "call" or report.outcome != "passed":
            outcome = report.outcome
            if report.when != "call" and outcome == "failed":
                outcome = "error"
            elif hasattr(report, "wasxfail"):
                outcome = "xpassed" if outcome == "passed" else "xfailed"
            self.outcomes[outcome] += 1
        if report.failed:
            self.failures.append(
                {
                    "nodeid": report.nodeid,
                    "when": report.when,
                    "longrepr": report.longreprtext[-LONGREPR_CHARS:],
                }
            )


def main(config_json: str) -> str:
    """Run pytest as ``config_json`` says (``wheels_dir``, ``wheels``, ``pytest_args``);
    return what happened as JSON text."""
    if not can_run_sync():
        raise RuntimeError("call main with stack switching (callPromising): WebLoop must block")
    config = json.loads(config_json)
    started = time.perf_counter()
    _install_wheels(config["wheels_dir"], config["wheels"])
    os.chdir(REPO)  # boot.mjs put it first on sys.path
    import pytest

    import browser_ocpp

    asyncio._set_running_loop(None)  # the default WebLoop's claim (see WatchedLoop)
    _run_callbacks_plainly()
    ini, timeout = _write_ini()
    plugin = SuitePlugin(timeout)
    args = ["-c", ini, "--rootdir", REPO, "-p", "no:cacheprovider", "--color=no"]
    exit_code = pytest.main([*args, *config["pytest_args"]], plugins=[plugin])
    matched = {_deselection(entry["nodeid"]) for entry in plugin.deselected}
    return json.dumps(
        {
            "exit_code": int(exit_code),
            "python": sys.version.split()[0],
            "platform": sys.platform,
            "browser_ocpp": browser_ocpp.__file__,
            "pytest": pytest.__version__,
            "dont_write_bytecode": sys.dont_write_bytecode,
            "selected": plugin.selected,
            "outcomes": dict(plugin.outcomes),
            "failures": plugin.failures,
            "deselected": plugin.deselected,
            "unmatched_deselections": sorted(set(DESELECTED) - matched),
            "seconds": time.perf_counter() - started,
        }
    )
