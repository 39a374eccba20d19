"""Real Chromium (Debian's), real pages served by us, real OCPPServer on loopback.

The CSMS runs on an asyncio loop in a background thread; tests drive Chromium with
Playwright's sync API and run Python in the page through ``window.runPy``.  Every
page aborts any request that is not for a loopback address, and a test fails if
one was attempted.

One Chromium serves the session; every test gets fresh browser contexts (each page
and its Pyodide live in a renderer process of their own) and must leave none open.
Every page is watched with ``page.on("crash")``: a renderer that dies fails the test
it died in, with how it died (signal and minidump, or a SIGKILL from outside),
the memory available then and Chromium's own stderr; nothing is retried.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright

from browser_ocpp import OCPPServer
from browser_ocpp.demo import ConsoleServer
from browser_ocpp.runtime import ensure_runtime

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from chromium import ChromiumRun, LoopThread, Mark, mem_available_mib  # noqa: E402

PAGES = Path(__file__).resolve().parent / "pages"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.stop()


@pytest.fixture(scope="session")
def runtime_dir() -> Path:
    """``runtime/``, or ``$BROWSER_OCPP_TEST_RUNTIME``: a runtime of one's own, which no
    other process rebuilds (so our wheel cannot change under a page while it loads)."""
    return ensure_runtime(Path(os.environ.get("BROWSER_OCPP_TEST_RUNTIME", ROOT / "runtime")))


def own_runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``$BROWSER_OCPP_TEST_RUNTIME`` if set, else a copy of ``runtime/`` for the caller
    alone (a rebuild of the shared one cannot swap the wheel under its pages while they
    load). A module overrides ``runtime_dir`` with it at module scope."""
    given = os.environ.get("BROWSER_OCPP_TEST_RUNTIME")
    if given:
        return ensure_runtime(Path(given))
    copy = tmp_path_factory.mktemp("runtime") / "runtime"
    shutil.copytree(ensure_runtime(ROOT / "runtime"), copy, ignore=shutil.ignore_patterns(".lock"))
    return ensure_runtime(copy)


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


@dataclass(frozen=True)
class RendererCrash:
    url: str
    seconds_open: float
    mem_available_mib: int | None


class CrashWatch:
    """Every page of the session's browser, watched for the death of its renderer."""

    def __init__(self, run: ChromiumRun, browser: Browser) -> None:
        self.run, self.browser = run, browser
        self.crashes: list[RendererCrash] = []
        self.since: Mark = run.mark()
        browser.on("context", self._watch_context)

    def _watch_context(self, context: BrowserContext) -> None:
        context.on("page", self._watch_page)

    def _watch_page(self, page: Page) -> None:
        opened = time.monotonic()

        def crashed(page: Page) -> None:
            seconds = time.monotonic() - opened
            self.crashes.append(RendererCrash(page.url, seconds, mem_available_mib()))

        page.on("crash", crashed)

    def start(self) -> None:
        """A test begins: what happens from now on is that test's."""
        self.crashes.clear()
        self.since = self.run.mark()

    def describe(self, nodeid: str) -> str:
        deaths = [
            f"  page.on('crash') for {crash.url}, {crash.seconds_open:.1f} s after it opened"
            f" (memory available then: {crash.mem_available_mib} MiB)"
            for crash in self.crashes
        ] or ["  Playwright reported 'Target crashed' (page.on('crash') did not fire)"]
        return "\n".join(
            [
                f"Chromium's renderer died during {nodeid}:",
                *deaths,
                "How it died:",
                *("  " + line for line in self.run.explain(self.since).splitlines()),
                f"Chromium's stderr during the test ({self.run.log}):",
                self.run.log_tail(self.since),
                "Not retried. The browser lives on and the next test opens a fresh context.",
            ]
        )


WATCH: CrashWatch | None = None


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """One Chromium for the session, its stderr and minidumps kept for explanations."""
    global WATCH
    run = ChromiumRun(tmp_path_factory.mktemp("chromium"))
    with sync_playwright() as playwright:
        browser = run.launch(playwright)
        WATCH = CrashWatch(run, browser)
        yield browser
        WATCH = None
        browser.close()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if WATCH is not None:
        WATCH.start()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A renderer that died fails the test it died in, saying how it died."""
    report = yield
    crashed = WATCH is not None and bool(WATCH.crashes)
    if report.failed and "Target crashed" in report.longreprtext:
        crashed = True
    if crashed and WATCH is not None:
        message = WATCH.describe(item.nodeid)
        WATCH.crashes.clear()
        if report.failed:
            message += "\n\n" + report.longreprtext
        report.outcome = "failed"
        report.longrepr = message
    return report


@pytest.fixture(autouse=True)
def contexts_closed(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test closes the browser contexts it opened, so no page (and no Pyodide
    in its renderer) outlives it; torn down last, after the test's own fixtures."""
    yield
    if WATCH is not None and WATCH.browser.contexts:
        left = WATCH.browser.contexts
        for context in left:
            context.close()
        pytest.fail(f"{request.node.nodeid} left {len(left)} browser context(s) open")


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
        page = new_page(context, site + path)
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


# -- the web console (the demo CSMS's server) --------------------------------------------

SCREENSHOTS = ROOT / "runtime" / "screenshots"
READY_MS = 120_000  # a bound, not a timing: loads take 50-60 s on a machine at load 10
OPEN = re.compile(r"^open")


class Console:
    """The console server on the background loop (restartable on the same port)."""

    def __init__(self, loop: LoopThread, runtime: Path) -> None:
        self.loop, self.runtime = loop, runtime
        self.server = ConsoleServer(runtime)
        self.port = loop.run(self.server.listen(0))
        self.url = f"http://127.0.0.1:{self.port}"

    def station(self, identity: str) -> dict[str, Any]:
        stations = self.loop.call(self.server.csms.snapshot)
        return next(s for s in stations if s["identity"] == identity)

    def restart(self) -> None:
        self.loop.run(self.server.close())
        self.server = ConsoleServer(self.runtime)
        self.loop.run(self.server.listen(self.port))

    def close(self) -> None:
        self.loop.run(self.server.close())


@pytest.fixture
def console(loop_thread: LoopThread, runtime_dir: Path) -> Iterator[Console]:
    server = Console(loop_thread, runtime_dir)
    yield server
    server.close()


@pytest.fixture
def context(browser: Browser, offline_guard: list[str]) -> Iterator[BrowserContext]:
    """A browser context at 1280x800 with the loopback guard on."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.route("**/*", offline_route(offline_guard))
    yield context
    context.close()


def new_page(context: BrowserContext, url: str | None = None) -> Page:
    """A page of ``context`` whose console output is printed, at ``url`` if given."""
    page = context.new_page()
    page.on("console", lambda message: print(f"[page {message.type}] {message.text}"))
    if url is not None:
        page.goto(url)
    return page


def wait_ready(page: Page) -> None:
    """Until the console's (or the bench's) Python is loaded, bounded."""
    page.wait_for_function(
        "document.querySelector('[data-testid=progress]').dataset.state === 'ready'",
        timeout=READY_MS,
    )


def open_console(context: BrowserContext, console: Console, identity: str) -> Page:
    """The console, loaded and set up for ``identity`` (settings are per browser context)."""
    page = new_page(context, console.url + "/")
    expect(page.get_by_test_id("progress")).to_be_visible(timeout=5_000)
    wait_ready(page)
    page.get_by_test_id("identity").fill(identity)
    return page


def connect(page: Page) -> None:
    """Connect the console's station and wait (bounded) for its boot to be accepted."""
    page.get_by_test_id("connect").click()
    expect(page.get_by_test_id("conn-state")).to_have_text(OPEN, timeout=20_000)
    expect(page.get_by_test_id("boot-status")).to_have_text("Accepted", timeout=20_000)
