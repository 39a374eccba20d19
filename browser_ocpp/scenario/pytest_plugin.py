"""A pytest plugin: scenarios and conformance cases in a CSMS team's own suite.

Installed with the package (entry point ``pytest11``), or named in a conftest with
``pytest_plugins = ["browser_ocpp.scenario.pytest_plugin"]``::

    def test_boot(ocpp_run):
        ocpp_run("BOOT-ACCEPTED")               # a case of the conformance pack

    def test_mine(ocpp_run):
        ocpp_run(my_scenario)                   # a @scenario function of your own

    pytest --ocpp-csms ws://127.0.0.1:9000/ocpp --ocpp-protocol ocpp2.0.1

A ``fail`` fails the test with the reason and the frames that decided it; an
``inconclusive`` skips it with its reason (``--ocpp-inconclusive fail`` fails it).
``ocpp_run`` runs its own event loop: from an async test, ``await run_case(...)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from .api import Scenario, Settings
from .runner import run_case
from .verdicts import CaseResult, Verdict

__all__ = ["ocpp_run", "ocpp_settings", "pytest_addoption"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("browser-ocpp", "OCPP scenarios (browser_ocpp.scenario)")
    group.addoption("--ocpp-csms", metavar="URL", help="the CSMS; /<identity> is appended")
    group.addoption("--ocpp-protocol", default="ocpp1.6", help="ocpp1.6, ocpp2.0.1 or ocpp2.1")
    group.addoption("--ocpp-identity", default="BOCPP-TEST", help="the station's identity")
    group.addoption("--ocpp-id-tag", default="TAG-0001", help="an idTag the CSMS accepts")
    group.addoption("--ocpp-timeout", type=float, default=10.0, help="seconds to wait")
    group.addoption(
        "--ocpp-inconclusive",
        choices=("skip", "fail"),
        default="skip",
        help="what an inconclusive verdict does to the test (default: skip)",
    )


@pytest.fixture
def ocpp_settings(request: pytest.FixtureRequest) -> Settings:
    """Settings from the ``--ocpp-*`` options."""
    option = request.config.getoption
    csms = option("--ocpp-csms")
    if not csms:
        pytest.fail("browser_ocpp scenarios need the CSMS: pytest --ocpp-csms ws://host:port/path")
    return Settings(
        csms=csms,
        protocol=option("--ocpp-protocol"),
        identity=option("--ocpp-identity"),
        id_tag=option("--ocpp-id-tag"),
        timeout_s=option("--ocpp-timeout"),
    )


def _find(name: str) -> Scenario:
    from .conformance import PACK

    for case in PACK:
        if case.id == name:
            return case
    known = ", ".join(case.id for case in PACK)
    raise ValueError(f"no conformance case {name!r}; the pack has {known}")


@pytest.fixture
def ocpp_run(ocpp_settings: Settings, request: pytest.FixtureRequest) -> Callable[..., CaseResult]:
    """``ocpp_run(case, **settings)``: run a scenario (a ``@scenario`` function, a
    :class:`Scenario`, or a pack case's id) and turn its verdict into the test's."""
    inconclusive = request.config.getoption("--ocpp-inconclusive")

    def run(case: Any, **overrides: Any) -> CaseResult:
        settings = replace(ocpp_settings, **overrides)
        if isinstance(case, str):
            case = _find(case)
        case = getattr(case, "__scenario__", case)
        if not isinstance(case, Scenario):
            raise TypeError(f"not a scenario: {case!r} (mark it with @scenario)")
        result = asyncio.run(run_case(case, settings))
        frames = "\n".join(str(frame) for frame in result.frames)
        if result.verdict is Verdict.FAIL:
            pytest.fail(f"{result.id} failed: {result.reason}\n{frames}", pytrace=False)
        if result.verdict is Verdict.INCONCLUSIVE:
            if inconclusive == "fail":
                pytest.fail(f"{result.id} inconclusive: {result.reason}", pytrace=False)
            pytest.skip(f"{result.id} inconclusive: {result.reason}")
        return result

    return run
