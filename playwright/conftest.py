"""Real Chromium (Debian's), real pages served by us, real OCPPServer on loopback.

The CSMS runs on an asyncio loop in a background thread; tests drive Chromium with
Playwright's sync API and run Python in the page through ``window.runPy``.  Every
page aborts any request that is not for a loopback address, and a test fails if
one was attempted.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from browser_ocpp import OCPPServer
from browser_ocpp.runtime import ensure_runtime

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from chromium import CHROMIUM_ARGS, LoopThread, chromium_path  # noqa: E402

PAGES = Path(__file__).resolve().parent / "pages"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.stop()


@pytest.fixture(scope="session")
def runtime_dir() -> Path:
    return ensure_runtime(ROOT / "runtime")


@pytest.fixture(scope="session")
def site(loop_thread: LoopThread, runtime_dir: Path) -> Iterator[str]:
    """The origin serving the test pages and the runtime."""

    async def start() -> OCPPServer:
        server = OCPPServer()
        server.mount("/", PAGES)
        server.mount("/pyodide/", runtime_dir / "pyodide")
        server.mount("/pyscript/", runtime_dir / "pyscript")
        await server.listen(0)
        return server

    server = loop_thread.run(start())
    yield f"http://127.0.0.1:{server.port}"
    loop_thread.run(server.close())


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def offline_guard() -> Iterator[list[str]]:
    """Requests to anything but loopback, collected; the test fails if there is one."""
    attempted: list[str] = []
    yield attempted
    assert attempted == [], f"non-loopback requests were attempted: {attempted}"


def offline_route(attempted: list[str]) -> Callable[[Route], None]:
    def handle(route: Route) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if host in LOOPBACK or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            attempted.append(route.request.url)
            route.abort()

    return handle


@pytest.fixture
def open_page(
    browser: Browser, site: str, offline_guard: list[str]
) -> Iterator[Callable[..., Page]]:
    """``open_page(path="/harness.html")``: a fresh page, booted, with the guard on."""
    contexts = []

    def open_(path: str = "/harness.html", wait_ready: bool = True) -> Page:
        context = browser.new_context()
        contexts.append(context)
        context.route("**/*", offline_route(offline_guard))
        page = context.new_page()
        page.on("console", lambda message: print(f"[page {message.type}] {message.text}"))
        page.goto(site + path)
        if wait_ready:
            page.wait_for_function("window.pyodideReady !== undefined")
            page.evaluate("window.pyodideReady")
        return page

    yield open_
    for context in contexts:
        context.close()


def run_py(page: Page, code: str, timeout_ms: float = 30_000) -> Any:
    """Run Python in the page; the code's last expression must be a JSON string."""
    page.set_default_timeout(timeout_ms)
    return json.loads(page.evaluate("code => window.runPy(code)", code))


def start_py(page: Page, code: str) -> None:
    """Start Python in the page without waiting; collect with :func:`finish_py`."""
    page.evaluate("code => { window.scenario = window.runPy(code); }", code)


def finish_py(page: Page) -> Any:
    return json.loads(page.evaluate("window.scenario"))


def wait_signal(page: Page, name: str, timeout_ms: float = 20_000) -> None:
    """Wait (bounded) until the page's Python called ``signal(name)``."""
    page.wait_for_function(f"window.signals.includes({json.dumps(name)})", timeout=timeout_ms)
