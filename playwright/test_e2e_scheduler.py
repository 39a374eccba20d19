"""The client's ready queue on Pyodide's real event loop in Chromium: round trips
run through it, and a Python loop that never waits cannot starve the page."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from conftest import LoopThread, run_py
from playwright.sync_api import Page

from browser_ocpp import OCPPServer, OCPPServerClient


def _heartbeat(client: OCPPServerClient) -> None:
    client.handle("Heartbeat", lambda ctx: {"currentTime": "2024-01-01T00:00:00Z"})


@pytest.fixture
def csms_url(loop_thread: LoopThread) -> Iterator[str]:
    server = OCPPServer(protocols=["ocpp1.6"])
    server.on("client", _heartbeat)
    port = loop_thread.run(server.listen(0))
    yield f"ws://127.0.0.1:{port}/ocpp"
    loop_thread.run(server.close())


def connect(url: str, ready_queue: bool = True) -> str:
    return f"""
import asyncio, json
from browser_ocpp import BrowserOCPPClient
class Client(BrowserOCPPClient):
    ready_queue = {ready_queue}
client = Client(identity="RQ-1", endpoint={url!r}, protocols=["ocpp1.6"])
await client.connect()
loop = asyncio.get_running_loop()
"""


def test_round_trips_run_through_the_ready_queue(
    open_page: Callable[..., Page], csms_url: str
) -> None:
    page = open_page()
    result = run_py(
        page,
        connect(csms_url)
        + """
from browser_ocpp.browser.scheduler import ReadyQueue
queue = loop.__dict__.get("_browser_ocpp_ready")
for _ in range(20):
    await client.call("Heartbeat", {})
client.reconfigure(call_concurrency=10)
answers = await asyncio.gather(*(client.call("Heartbeat", {}) for _ in range(30)))
await client.close()
json.dumps({"installed": isinstance(queue, ReadyQueue) and loop.call_soon == queue.call_soon,
            "answers": len(answers)})
""",
    )
    assert result == {"installed": True, "answers": 30}


def test_an_answer_wakes_its_caller_from_the_message_event(
    open_page: Callable[..., Page], csms_url: str
) -> None:
    """The message event runs the caller its answer wakes before it returns: no
    microtask drain is queued per round trip (20 sequential calls queued 20 before)."""
    page = open_page()
    result = run_py(
        page,
        connect(csms_url)
        + """
from browser_ocpp.browser.scheduler import installed_queue
queue = installed_queue(loop)
queue_drain, drains = queue._queue_drain, []
queue._queue_drain = lambda: (drains.append(1), queue_drain())
answers = [await client.call("Heartbeat", {}) for _ in range(20)]
queue._queue_drain = queue_drain
await client.close()
json.dumps({"answers": len(answers), "drains": len(drains)})
""",
    )
    assert result["answers"] == 20
    assert result["drains"] <= 2, result


def test_a_python_loop_that_never_waits_lets_the_browser_run(
    open_page: Callable[..., Page], csms_url: str
) -> None:
    """``await asyncio.sleep(0)`` in a loop: a JS timer set before it still fires
    (were every wake-up a microtask, the timer would wait for the loop's cap)."""
    page = open_page()
    result = run_py(
        page,
        connect(csms_url)
        + """
import js
from pyodide.ffi import create_once_callable
fired = []
js.setTimeout(create_once_callable(lambda: fired.append(True)), 0)
spins = 0
while not fired and spins < 100_000:
    await asyncio.sleep(0)
    spins += 1
await client.close()
json.dumps({"fired": bool(fired), "capped": spins >= 100_000})
""",
    )
    assert result == {"fired": True, "capped": False}


def test_ready_queue_false_keeps_webloops_own_call_soon(
    open_page: Callable[..., Page], csms_url: str
) -> None:
    page = open_page()
    result = run_py(
        page,
        connect(csms_url, ready_queue=False)
        + """
installed = "_browser_ocpp_ready" in loop.__dict__ or "call_soon" in loop.__dict__
await client.close()
json.dumps(installed)
""",
    )
    assert result is False
