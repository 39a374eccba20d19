"""The product as a user installs it: our wheel built from this tree, installed into a
fresh virtualenv, ``browser-ocpp serve`` started in an empty folder with an empty
per-user cache, and the console it serves connecting and booting in Chromium.

Nothing here reads the repository at run time: the server runs from the venv, the
runtime is built into the fresh cache from the installed package.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, offline_route
from playwright.sync_api import Browser, expect

START_TIMEOUT = 300  # seconds; the first start fetches the runtime with npm and pip
URL_LINE = re.compile(r"^Web console:\s+(http://\S+)/$")

pytestmark = pytest.mark.timeout(900)


@dataclass
class Installed:
    venv: Path
    cache: Path
    folder: Path
    wheel: Path

    @property
    def command(self) -> Path:
        return self.venv / "bin" / "browser-ocpp"


def _run(command: list[str], cwd: Path | None = None) -> None:
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """``python -m build`` of this tree, and ``pip install`` of the wheel into a new venv."""
    work = tmp_path_factory.mktemp("installed")
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(work / "dist"), str(ROOT)])
    (wheel,) = (work / "dist").glob("browser_ocpp-*.whl")
    _run([sys.executable, "-m", "venv", str(work / "venv")])
    _run([str(work / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)])
    folder = work / "empty"
    folder.mkdir()
    return Installed(work / "venv", work / "cache", folder, wheel)


class Serve:
    """``browser-ocpp serve --port 0`` in the empty folder; stopped by its PID."""

    def __init__(self, installed: Installed) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
        env["XDG_CACHE_HOME"] = str(installed.cache)
        env["PATH"] = f"{installed.venv / 'bin'}:{env.get('PATH', '')}"
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [str(installed.command), "serve", "--port", "0"],
            cwd=installed.folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.url = self._wait_for_url()
        self.seconds = time.monotonic() - self.started

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for line in self.process.stdout:
                self.lines.put(line.rstrip("\n"))

    def _wait_for_url(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.output.append(line)
            match = URL_LINE.match(line)
            if match:
                return match.group(1)
        self.stop()
        raise AssertionError("browser-ocpp serve printed no URL:\n" + "\n".join(self.output))

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self.reader.join(timeout=30)
        return code


@pytest.fixture(scope="module")
def served(installed: Installed) -> Iterator[tuple[Serve, Serve]]:
    """A first start (empty cache) stopped, then a second one that stays up."""
    first = Serve(installed)
    assert first.stop() == 0
    second = Serve(installed)
    yield first, second
    assert second.stop() == 0


def test_installed_package_serves_a_console_that_connects_and_boots(
    browser: Browser, installed: Installed, served: tuple[Serve, Serve], offline_guard: list[str]
) -> None:
    first, second = served
    print(
        f"wheel {installed.wheel.name}: {installed.wheel.stat().st_size / 1e3:.0f} kB; "
        f"first start {first.seconds:.1f} s, second start {second.seconds:.2f} s"
    )
    assert any("browser runtime: ready" in line for line in first.output), first.output
    # The second start builds nothing: the cache is up to date and no tool runs.
    assert not any("browser runtime" in line for line in second.output), second.output
    assert (installed.cache / "browser-ocpp" / "runtime" / "pyodide" / "pyodide.mjs").is_file()
    assert list(installed.folder.iterdir()) == []  # nothing written where it was started

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.route("**/*", offline_route(offline_guard))
    try:
        page = context.new_page()
        page.goto(second.url + "/")
        page.wait_for_function(
            "document.querySelector('[data-testid=progress]').dataset.state === 'ready'",
            timeout=120_000,
        )
        page.get_by_test_id("identity").fill("CP-INSTALLED")
        page.get_by_test_id("connect").click()
        expect(page.get_by_test_id("boot-status")).to_have_text("Accepted", timeout=20_000)
        with urllib.request.urlopen(second.url + "/api/stations", timeout=10) as response:
            stations = json.load(response)["stations"]
        (station,) = [s for s in stations if s["identity"] == "CP-INSTALLED"]
        assert station["boot"] is not None
    finally:
        context.close()
