"""Scenarios: Python test cases that drive emulated stations against a CSMS and
give verdicts (``pass``, ``fail``, ``inconclusive``) with the frames that decided
them. The same code runs headless (``browser-ocpp run``/``check``, pytest) and in
the browser: nothing here imports ``js`` or ``websockets`` at module level.
"""

from __future__ import annotations

from .api import Bench, Decided, Scenario, Settings, StepEvent, scenario
from .frames import FrameLog, Reply
from .junit import to_junit
from .runner import collect, load_file, load_source, run_case, run_cases, stream
from .stations import CsmsCall, ScenarioStation
from .verdicts import EXIT_CODES, CaseResult, FrameRecord, Report, StepResult, Verdict

__all__ = [
    "EXIT_CODES",
    "Bench",
    "CaseResult",
    "CsmsCall",
    "Decided",
    "FrameLog",
    "FrameRecord",
    "Reply",
    "Report",
    "Scenario",
    "ScenarioStation",
    "Settings",
    "StepEvent",
    "StepResult",
    "Verdict",
    "collect",
    "load_file",
    "load_source",
    "run_case",
    "run_cases",
    "scenario",
    "stream",
    "to_junit",
]
