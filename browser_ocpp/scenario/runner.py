"""Running scenarios to verdicts: one case, a list of them, or a file of them, with
live events for a view (a callback, or :func:`stream` as an async iterator)."""

from __future__ import annotations

import asyncio
import contextlib
import types
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

from .api import Bench, Decided, Scenario, Settings, StepEvent
from .frames import FrameLog
from .verdicts import CaseResult, Report, StepResult, Verdict, worst

__all__ = ["collect", "load_file", "load_source", "run_case", "run_cases", "stream"]

OnEvent = Callable[[StepEvent], None]


async def run_case(
    case: Scenario, settings: Settings, on_event: OnEvent | None = None
) -> CaseResult:
    """Run one scenario on fresh stations; never raises for what the CSMS does."""
    log = FrameLog()
    bench = Bench(settings, log, case.id, on_event)
    if on_event is not None:
        log.on_frame(lambda record: on_event(StepEvent("frame", case.id, frame=record)))
        on_event(StepEvent("case", case.id, reason=case.title))
    verdict, reason, frames = Verdict.PASS, "", []
    try:
        await asyncio.wait_for(case.function(bench), settings.case_limit)
    except TimeoutError:
        verdict = Verdict.FAIL
        reason = f"the case did not end within {settings.case_limit:g} s"
    except Decided as decided:
        verdict, reason, frames = decided.verdict, decided.reason, decided.frames
        if not bench.steps or bench.steps[-1].reason != reason:
            bench.steps.append(_outside_step(case, decided, log))
    except Exception as error:  # a scenario's own bug, or the connection refused
        verdict, reason = Verdict.FAIL, f"{type(error).__name__}: {error}"
    finally:
        with contextlib.suppress(Exception):
            await bench.close()
    if verdict is Verdict.PASS:
        verdict = worst(step.verdict for step in bench.steps) if bench.steps else Verdict.PASS
        reason = next((s.reason for s in reversed(bench.steps) if s.reason), "")
    if not frames and bench.steps:
        frames = list(bench.steps[-1].frames)
    result = CaseResult(
        case.id,
        case.title,
        case.clause,
        settings.protocol,
        verdict,
        reason,
        bench.steps,
        frames,
        list(log.records),
        log.now(),
    )
    if on_event is not None:
        on_event(StepEvent("done", case.id, verdict=verdict, reason=reason))
    return result


def _outside_step(case: Scenario, decided: Decided, log: FrameLog) -> StepResult:
    """A verdict given outside any step: a step named after the case."""
    return StepResult(case.title, decided.verdict, decided.reason, decided.frames or log.records)


async def run_cases(
    cases: Iterable[Scenario], settings: Settings, on_event: OnEvent | None = None
) -> Report:
    """Run the cases that apply to ``settings.protocol``, one after the other."""
    report = Report(settings.csms, settings.protocol)
    for case in cases:
        if case.applies_to(settings.protocol):
            report.cases.append(await run_case(case, settings, on_event))
    return report


async def stream(cases: Iterable[Scenario], settings: Settings) -> AsyncIterator[StepEvent]:
    """The events of :func:`run_cases` as they happen (for a live view)."""
    queue: asyncio.Queue[StepEvent | None] = asyncio.Queue()
    task = asyncio.ensure_future(run_cases(cases, settings, queue.put_nowait))
    task.add_done_callback(lambda _: queue.put_nowait(None))
    try:
        while (event := await queue.get()) is not None:
            yield event
    finally:
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def collect(namespace: dict[str, Any]) -> list[Scenario]:
    """The scenarios of a module's namespace, in definition order: functions marked
    with ``@scenario`` and coroutine functions named ``scenario_*``."""
    found: list[Scenario] = []
    for name, value in list(namespace.items()):
        marked = getattr(value, "__scenario__", None)
        if isinstance(marked, Scenario):
            found.append(marked)
        elif name.startswith("scenario_") and asyncio.iscoroutinefunction(value):
            doc = (value.__doc__ or "").strip().splitlines()
            title = doc[0] if doc else name[len("scenario_") :].replace("_", " ")
            found.append(Scenario(value, name, title))
    return found


def load_source(source: str, name: str = "scenario") -> list[Scenario]:
    """The scenarios of Python ``source`` (a console's editor, or a file's text);
    SyntaxError and the code's own exceptions come out as they are."""
    module = types.ModuleType(name)
    module.__file__ = name
    exec(compile(source, name, "exec"), module.__dict__)
    return collect(module.__dict__)


def load_file(path: str | Path) -> list[Scenario]:
    """The scenarios of a scenario file; ValueError if it holds none."""
    path = Path(path)
    scenarios = load_source(path.read_text(encoding="utf-8"), str(path))
    if not scenarios:
        raise ValueError(
            f"{path} holds no scenario: mark async functions with @scenario or name them scenario_*"
        )
    return scenarios
