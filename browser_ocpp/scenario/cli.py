"""``browser-ocpp run SCENARIO.py`` and ``browser-ocpp check``: scenarios and the
conformance pack against a CSMS, with a table, a JSON report and JUnit XML.

Exit codes: ``run`` 0 pass, 1 fail, 3 inconclusive; ``check`` 0 when no case
failed (inconclusive ones included), 1 when one did; 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from ..rpc.versions import SUPPORTED_PROTOCOLS
from .api import Settings, StepEvent
from .junit import to_junit
from .runner import load_file, run_cases
from .verdicts import EXIT_CODES, Report, Verdict

__all__ = ["COMMANDS", "add_commands", "main"]

COMMANDS = ("run", "check")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--csms", required=True, metavar="URL", help="the CSMS URL; /<identity> is appended"
    )
    parser.add_argument("--protocol", default="ocpp1.6", choices=SUPPORTED_PROTOCOLS)
    parser.add_argument("--identity", default="BOCPP-TEST", help="the (first) station's identity")
    parser.add_argument("--id-tag", default="TAG-0001", help="an idTag the CSMS accepts")
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds to wait for an answer or a CSMS command (default 10)",
    )
    parser.add_argument(
        "--response-limit",
        type=float,
        default=5.0,
        metavar="S",
        help="the slowest answer the response-time case accepts (default 5)",
    )
    parser.add_argument("--password", help="HTTP Basic password (security profiles 1 and 2)")
    parser.add_argument("--report", type=Path, metavar="R.json", help="write the JSON report")
    parser.add_argument("--junit", type=Path, metavar="J.xml", help="write JUnit XML")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each step")


def add_commands(commands: Any) -> None:
    """Add ``run`` and ``check`` to the ``browser-ocpp`` subcommands."""
    run = commands.add_parser("run", help="run a scenario file against a CSMS")
    run.add_argument("scenario", type=Path, metavar="SCENARIO.py")
    _common(run)
    check = commands.add_parser("check", help="run the conformance pack against a CSMS")
    _common(check)


def _settings(args: argparse.Namespace) -> Settings:
    for name in ("timeout", "response_limit"):
        value = getattr(args, name)
        if not 0 < value < 86_400:
            raise ValueError(f"--{name.replace('_', '-')} must be above 0 and below a day")
    if not args.csms.startswith(("ws://", "wss://")):
        raise ValueError(f"--csms must be a ws:// or wss:// URL, not {args.csms!r}")
    options = {"password": args.password} if args.password else {}
    return Settings(
        csms=args.csms,
        protocol=args.protocol,
        identity=args.identity,
        id_tag=args.id_tag,
        timeout_s=args.timeout,
        response_limit_s=args.response_limit,
        client_options=options,
    )


def _printer(verbose: bool) -> Any:
    def on_event(event: StepEvent) -> None:
        if event.kind == "step" and event.result is not None and verbose:
            step = event.result
            print(f"  {step.verdict:<12} {step.name} {step.reason}".rstrip(), flush=True)
        elif event.kind == "case" and verbose:
            print(f"{event.case_id}: {event.reason}", flush=True)

    return on_event


def _write(report: Report, args: argparse.Namespace) -> None:
    if args.report:
        args.report.write_text(json.dumps(report.as_json(), indent=2) + "\n", encoding="utf-8")
    if args.junit:
        args.junit.write_text(to_junit(report), encoding="utf-8")


def main(args: argparse.Namespace) -> int:
    """Run ``args.command``; the exit code."""
    try:
        settings = _settings(args)
        if args.command == "run":
            cases = load_file(args.scenario)
        else:
            from .conformance import cases_for

            cases = cases_for(settings.protocol)
    except Exception as error:  # the arguments, or the scenario file (its own code too)
        print(f"browser-ocpp {args.command}: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    report = asyncio.run(run_cases(cases, settings, _printer(args.verbose)))
    print(report.table())
    _write(report, args)
    if args.command == "check":
        return EXIT_CODES[Verdict.FAIL] if report.verdict is Verdict.FAIL else 0
    return EXIT_CODES[report.verdict]
