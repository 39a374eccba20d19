"""The CPython side: run tests under Pyodide's Python in Node, stream the output, and
read back what happened.

``run_suite`` builds (or checks) the browser runtime, fetches the test wheels pinned in
``test-wheels.lock.json`` into ``runtime/.cache/test-wheels/`` (``pip download``, then
sha256-checked on every run), and starts ``node`` on ``boot.mjs`` with WebAssembly
stack switching. Each output line is passed on as it comes; the run is killed at its
deadline. ``python -m tests.pyodide [pytest args]`` is the command-line form.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from browser_ocpp.runtime import ensure_runtime
from browser_ocpp.runtime.fetch import fetch_wheel
from browser_ocpp.runtime.pins import LockedWheel

__all__ = ["DEFAULT_ARGS", "SuiteRun", "run_suite", "summary"]

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
LOCK = HERE / "test-wheels.lock.json"
BOOT = HERE / "boot.mjs"
RESULT_PREFIX = "PYODIDE-SUITE-RESULT "
DEFAULT_ARGS = ("-v", "-rfE", "tests/peer", "tests/emulator")
DEFAULT_TIMEOUT_S = 900.0
TAIL_LINES = 60

Echo = Callable[[str], None]


@dataclass
class SuiteRun:
    """One run: the Pyodide side's report (None if it never came), and the process."""

    report: dict[str, Any] | None
    returncode: int | None
    timed_out: bool
    seconds: float
    tail: list[str] = field(default_factory=list)

    @property
    def inner(self) -> dict[str, Any]:
        """What ``in_pyodide.main`` returned (``{}`` without a report)."""
        return dict(self.report["python"]) if self.report else {}


def locked_wheels() -> list[LockedWheel]:
    pins = json.loads(LOCK.read_text(encoding="utf-8"))["wheels"]
    return [LockedWheel(p["name"], p["version"], p["file_name"], p["sha256"]) for p in pins]


def fetch_test_wheels(cache: Path, log: Echo) -> list[Path]:
    """The pinned wheels in ``cache``, downloaded if missing, each sha256-checked."""
    return [fetch_wheel(pin, cache, log) for pin in locked_wheels()]


def jspi_flags(node: str) -> list[str]:
    """Node's flag for WebAssembly stack switching: Node 20 and 21 know the first
    proposal as ``--experimental-wasm-stack-switching``, Node 22 to 24 the current one as
    ``--experimental-wasm-jspi``; later versions have it on by default."""
    options = subprocess.run(
        [node, "--v8-options"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    for flag in ("--experimental-wasm-jspi", "--experimental-wasm-stack-switching"):
        if f"  {flag} " in options:
            return [flag]
    return []


def run_suite(
    pytest_args: Sequence[str] = DEFAULT_ARGS,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    echo: Echo = print,
    runtime_dir: Path = REPO_ROOT / "runtime",
) -> SuiteRun:
    """Run ``pytest pytest_args`` (paths relative to the repository) under Pyodide."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is needed (Debian: apt-get install nodejs)")
    runtime = ensure_runtime(runtime_dir, log=echo)
    wheels = fetch_test_wheels(runtime / ".cache" / "test-wheels", echo)
    config = {
        "wheels_dir": "/wheels",
        "wheels": [path.name for path in wheels],
        "pytest_args": list(pytest_args),
    }
    command = [
        node,
        *jspi_flags(node),
        str(BOOT),
        str(runtime / "pyodide"),
        str(REPO_ROOT),
        str(wheels[0].parent),
        json.dumps(config),
    ]
    started = time.monotonic()
    expired = threading.Event()

    def kill(process: subprocess.Popen[str]) -> None:
        expired.set()
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.killpg(process.pid, signal.SIGKILL)

    tail: deque[str] = deque(maxlen=TAIL_LINES)
    report: dict[str, Any] | None = None
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        cwd=REPO_ROOT,
        start_new_session=True,  # its own process group: the deadline ends all of it
    ) as process:
        timer = threading.Timer(timeout_s, kill, args=(process,))
        timer.start()
        try:
            assert process.stdout is not None
            for raw in process.stdout:
                line = raw.rstrip("\n")
                if line.startswith(RESULT_PREFIX):
                    report = json.loads(line[len(RESULT_PREFIX) :])
                    continue
                echo(line)
                tail.append(line)
            returncode = process.wait()
        except BaseException:
            kill(process)
            raise
        finally:
            timer.cancel()
    return SuiteRun(report, returncode, expired.is_set(), time.monotonic() - started, list(tail))


def summary(run: SuiteRun) -> str:
    """What went wrong, for an assertion message: the failures with their tracebacks,
    or how the process ended and its last lines."""
    inner = run.inner
    if not inner:
        how = f"killed after {run.seconds:.0f} s" if run.timed_out else f"exit {run.returncode}"
        return f"no report from Pyodide ({how}); last lines:\n" + "\n".join(run.tail)
    parts = [
        f"inner pytest exit code {inner['exit_code']}, {inner['selected']} selected, "
        f"outcomes {inner['outcomes']}, Python {inner['python']} on {inner['platform']}"
    ]
    for failure in inner["failures"]:
        parts.append(f"--- {failure['nodeid']} ({failure['when']})\n{failure['longrepr']}")
    if not inner["failures"]:
        parts.append("last lines:\n" + "\n".join(run.tail))
    return "\n".join(parts)
