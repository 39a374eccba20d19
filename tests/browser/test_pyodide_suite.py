"""tests/peer and tests/emulator pass under Pyodide's own Python too (3.14, in Node).

The same test files run inside Pyodide with pytest and pytest-asyncio, on the working
tree (not a wheel of it), every asyncio test on Pyodide's WebLoop as in a page, the
emulator's CSMS and stations over in-memory transports (no sockets there). A
behaviour difference between CPython and the browser's Python fails here. See
tests/pyodide/ for how; ``python -m tests.pyodide`` runs it by hand.
"""

from __future__ import annotations

import pytest

from ..pyodide.harness import DEFAULT_TIMEOUT_S, SuiteRun, run_suite, summary

MIN_PASSED = 800
"""The two suites hold about 850 tests; far fewer means collection went wrong."""
MAX_DESELECTED = 11
"""tests/pyodide/in_pyodide.py deselects, each by node id with its reason, the 2 tests
that need processes and the 9 log-upload tests that serve HTTP on a loopback socket
(Pyodide has none); more means something is being hidden from this run."""

# The first run builds the runtime and downloads the test wheels too.
pytestmark = pytest.mark.timeout(DEFAULT_TIMEOUT_S + 600)


@pytest.fixture(scope="module")
def suite() -> SuiteRun:
    return run_suite(echo=lambda line: print(line, flush=True))


def test_the_suites_pass_under_pyodide(suite: SuiteRun) -> None:
    inner = suite.inner
    assert inner, summary(suite)
    outcomes = inner["outcomes"]
    assert inner["exit_code"] == 0, summary(suite)
    assert set(outcomes) == {"passed"}, summary(suite)  # nothing failed, skipped or xfailed
    assert outcomes["passed"] == inner["selected"] >= MIN_PASSED, summary(suite)


def test_it_was_pyodide_running_this_tree_offline(suite: SuiteRun) -> None:
    assert suite.report is not None, summary(suite)
    inner = suite.inner
    assert inner["platform"] == "emscripten"
    assert inner["python"].startswith("3.14.")
    assert inner["browser_ocpp"] == "/repo/browser_ocpp/__init__.py"  # the tree, not a wheel
    assert inner["dont_write_bytecode"] is True  # nothing written into the tree
    assert suite.report["fetch_attempts"] == []


def test_only_the_listed_tests_were_deselected(suite: SuiteRun) -> None:
    inner = suite.inner
    assert inner, summary(suite)
    assert inner["unmatched_deselections"] == []  # every entry still names a test
    assert all(entry["reason"] for entry in inner["deselected"])
    assert 0 < len(inner["deselected"]) <= MAX_DESELECTED, inner["deselected"]
