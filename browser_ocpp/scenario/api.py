"""Writing scenarios: the ``@scenario`` decorator, the context a scenario receives
(``bench``), named steps and the checks that give them verdicts.

A scenario is an async function of one argument, the :class:`Bench`::

    from browser_ocpp.scenario import Bench, scenario

    @scenario(title="A boot is accepted", clause="OCPP-J 1.6 4.2.2")
    async def boot_is_accepted(bench: Bench) -> None:
        station = await bench.station()              # connected, not booted
        async with bench.step("BootNotification"):
            reply = await station.call("BootNotification", bench.boot_payload())
            bench.expect(reply.kind == "result", f"got {reply.describe()}", reply.frames)
            bench.expect_valid_response("BootNotification", reply)

An undecorated ``async def scenario_*(bench)`` in a scenario file is one too.  A
failed check, an ``assert``, or any exception ends the step (and the scenario) with
``fail``; :meth:`Bench.inconclusive` ends it ``inconclusive``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..emulator import StationConfig
from ..emulator import messages as msg
from ..peer.logs import LoggingConfig
from .frames import FrameLog, Reply
from .stations import ClientFactory, ScenarioStation, default_client_factory
from .verdicts import FrameRecord, StepResult, Verdict

__all__ = [
    "Bench",
    "Decided",
    "Scenario",
    "Settings",
    "StepEvent",
    "scenario",
]

ScenarioFunction = Callable[["Bench"], Awaitable[None]]
F = TypeVar("F", bound=ScenarioFunction)


@dataclass(frozen=True)
class Scenario:
    """A scenario function and what a report says of it."""

    function: ScenarioFunction
    id: str
    title: str
    clause: str = ""
    protocols: tuple[str, ...] | None = None
    """The versions it applies to; None: every one."""

    def applies_to(self, protocol: str) -> bool:
        return self.protocols is None or protocol in self.protocols


def scenario(
    id: str | None = None,
    *,
    title: str | None = None,
    clause: str = "",
    protocols: Iterable[str] | None = None,
) -> Callable[[F], F]:
    """Mark an async function as a scenario (its name is the default id, its
    docstring's first line the default title); the function stays callable."""

    def mark(function: F) -> F:
        doc = (function.__doc__ or "").strip().splitlines()
        function.__scenario__ = Scenario(  # type: ignore[attr-defined]
            function,
            id or function.__name__,
            title or (doc[0] if doc else function.__name__.replace("_", " ")),
            clause,
            tuple(protocols) if protocols is not None else None,
        )
        return function

    return mark


@dataclass
class Settings:
    """Where and how scenarios run."""

    csms: str
    """The CSMS's URL; ``/<identity>`` is appended for each station."""
    protocol: str = "ocpp1.6"
    identity: str = "BOCPP-TEST"
    """The first station's identity; more stations get ``-2``, ``-3``..."""
    timeout_s: float = 10.0
    """How long to wait for a CSMS-initiated call, and for the CSMS's answers."""
    response_limit_s: float = 5.0
    """The slowest answer a response-time check accepts."""
    case_limit_s: float | None = None
    """A case still running after this long fails (default: 30 s plus ten timeouts)."""
    id_tag: str = "TAG-0001"
    """An idTag (idToken) the CSMS accepts, for the cases that charge."""
    client_factory: ClientFactory = default_client_factory
    client_options: dict[str, Any] = field(default_factory=dict)
    """More options for each station's client (``password``, TLS...)."""

    @property
    def case_limit(self) -> float:
        if self.case_limit_s is not None:
            return self.case_limit_s
        return 30.0 + 10 * self.timeout_s


@dataclass(frozen=True, slots=True)
class StepEvent:
    """Something that happened during a run, for live views: ``kind`` is ``case``
    (started), ``step`` (``result`` is set), ``frame`` (``frame`` is set) or
    ``done`` (the case's verdict)."""

    kind: str
    case_id: str
    result: StepResult | None = None
    frame: FrameRecord | None = None
    verdict: Verdict | None = None
    reason: str = ""


class Decided(Exception):
    """Ends a step with a verdict (raised by :meth:`Bench.fail` and friends)."""

    def __init__(self, verdict: Verdict, reason: str, frames: Sequence[FrameRecord] = ()) -> None:
        super().__init__(reason)
        self.verdict, self.reason, self.frames = verdict, reason, list(frames)


class Bench:
    """What a scenario works with: its stations, its steps, and their verdicts."""

    def __init__(
        self,
        settings: Settings,
        log: FrameLog,
        case_id: str = "",
        on_event: Callable[[StepEvent], None] | None = None,
    ) -> None:
        self.settings = settings
        self.log = log
        self.case_id = case_id
        self.steps: list[StepResult] = []
        self.stations: list[ScenarioStation] = []
        self._on_event = on_event
        self._step: str | None = None
        self._noted: tuple[str, Sequence[FrameRecord]] | None = None

    @property
    def protocol(self) -> str:
        return self.settings.protocol

    @property
    def v16(self) -> bool:
        return msg.is_v16(self.protocol)

    @property
    def timeout_s(self) -> float:
        return self.settings.timeout_s

    # -- stations ------------------------------------------------------------------------

    async def station(
        self,
        identity: str | None = None,
        *,
        config: StationConfig | None = None,
        connect: bool = True,
        start: bool = False,
        **client_options: Any,
    ) -> ScenarioStation:
        """A new emulated station on the CSMS; connected unless ``connect=False``,
        booted and reporting (:meth:`ScenarioStation.start`) if ``start``."""
        if identity is None:
            number = len(self.stations) + 1
            identity = self.settings.identity + (f"-{number}" if number > 1 else "")
        options: dict[str, Any] = {
            "identity": identity,
            "endpoint": self.settings.csms,
            "protocols": [self.settings.protocol],
            "strict_mode": True,
            "reconnect": False,
            "call_timeout_ms": self.settings.timeout_s * 1000,
            "logging": LoggingConfig(enabled=False),  # the frame log says it all
            **self.settings.client_options,
            **client_options,
        }
        client = self.settings.client_factory(**options)
        station = ScenarioStation(self.log, client, config, self.settings.timeout_s)
        self.stations.append(station)
        if connect:
            await station.connect()
        if start:
            await station.start()
        return station

    async def close(self) -> None:
        """Close every station (the runner does it after the scenario)."""
        for station in self.stations:
            with contextlib.suppress(Exception):
                await station.close()

    def boot_payload(self, reason: str = "PowerUp") -> dict[str, Any]:
        """A valid BootNotification request of the version under test."""
        return msg.boot_notification(self.protocol, StationConfig(), reason)

    # -- steps and verdicts --------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def step(self, name: str) -> AsyncIterator[None]:
        """A named step: ``pass`` if its body ends normally, else the verdict of the
        check that stopped it (an exception other than a check is a ``fail``, and
        stops the scenario)."""
        start = len(self.log.records)
        self._step, self._noted = name, None
        try:
            yield
        except Decided as decided:
            self._record(name, decided.verdict, decided.reason, decided.frames or None, start)
            raise
        except AssertionError as error:
            self._record(name, Verdict.FAIL, str(error) or "assertion failed", None, start)
            raise Decided(Verdict.FAIL, str(error) or "assertion failed") from error
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"
            self._record(name, Verdict.FAIL, reason, None, start)
            raise Decided(Verdict.FAIL, reason) from error
        else:
            reason, frames = self._noted or ("", None)
            self._record(name, Verdict.PASS, reason, frames or None, start)
        finally:
            self._step, self._noted = None, None

    def _record(
        self,
        name: str,
        verdict: Verdict,
        reason: str,
        frames: Sequence[FrameRecord] | None,
        start: int,
    ) -> None:
        result = StepResult(
            name, verdict, reason, list(frames) if frames is not None else self.log.since(start)
        )
        self.steps.append(result)
        self.emit(StepEvent("step", self.case_id, result=result))

    def emit(self, event: StepEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def passed(self, reason: str, frames: Sequence[FrameRecord] = ()) -> None:
        """Say why the current step passes, with its frames (outside a step: a passed
        step of its own)."""
        if self._step is None:
            self._record(reason, Verdict.PASS, reason, frames, len(self.log.records))
        else:
            self._noted = (reason, frames)

    async def wait(self, seconds: float) -> None:
        """Let ``seconds`` pass (a wait the protocol asks for, such as a boot interval);
        the stations answer the CSMS meanwhile."""
        await asyncio.sleep(max(0.0, seconds))

    def fail(self, reason: str, frames: Sequence[FrameRecord] = ()) -> None:
        """End the step, and the scenario, with ``fail``."""
        raise Decided(Verdict.FAIL, reason, frames)

    def inconclusive(self, reason: str, frames: Sequence[FrameRecord] = ()) -> None:
        """End the step, and the scenario, with ``inconclusive``: the CSMS gave no
        chance to decide."""
        raise Decided(Verdict.INCONCLUSIVE, reason, frames)

    def expect(self, condition: object, reason: str, frames: Sequence[FrameRecord] = ()) -> None:
        """``fail`` with ``reason`` unless ``condition`` holds."""
        if not condition:
            self.fail(reason, frames)

    def expect_result(self, action: str, reply: Reply) -> dict[str, Any]:
        """The reply is a CALLRESULT whose payload is a valid ``action`` response."""
        if reply.kind == "none":
            self.fail(f"{action}: no answer within {self.timeout_s:g} s", reply.frames)
        if reply.kind == "error":
            self.fail(f"{action}: answered CALLERROR {reply.error_code}", reply.frames)
        self.expect_valid_response(action, reply)
        payload: dict[str, Any] = reply.payload
        return payload

    def expect_valid_response(self, action: str, reply: Reply) -> None:
        """The CALLRESULT's payload is valid against ``action``'s response schema."""
        problem = schema_problem(self.protocol, action, "response", reply.payload)
        if problem is not None:
            self.fail(f"{action} response is not valid: {problem}", reply.frames)

    def expect_valid_request(
        self, action: str, payload: Any, frames: Sequence[FrameRecord]
    ) -> None:
        """A CSMS call's payload is valid against ``action``'s request schema."""
        problem = schema_problem(self.protocol, action, "request", payload)
        if problem is not None:
            self.fail(f"{action} request is not valid: {problem}", frames)

    def expect_error(self, reply: Reply, codes: Iterable[str], why: str) -> None:
        """The reply is a CALLERROR with one of ``codes``."""
        allowed = sorted(set(codes))
        if reply.kind != "error":
            self.fail(
                f"{why}: expected CALLERROR {' or '.join(allowed)}, got {reply.describe()}",
                reply.frames,
            )
        if reply.error_code not in allowed:
            self.fail(
                f"{why}: expected CALLERROR {' or '.join(allowed)}, got {reply.error_code}",
                reply.frames,
            )


def schema_problem(protocol: str, action: str, kind: str, payload: Any) -> str | None:
    """Why ``payload`` is not a valid ``action`` request/response; None if it is."""
    from ..rpc.errors import RPCError
    from ..rpc.validation import validator_for  # loads jsonschema on first use

    validator = validator_for(protocol)
    if validator is None:
        return None
    try:
        if kind == "request":
            validator.validate_request(action, payload)
        else:
            validator.validate_response(action, payload)
    except RPCError as error:
        return f"{error.code}: {error.message}"
    return None
