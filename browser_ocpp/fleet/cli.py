"""``browser-ocpp fleet``: run a fleet against a CSMS, print the table, write the report.

Exit code 0 when every station's boot was accepted, 1 when one was not (rejected,
pending, unanswered, never connected, or not started before an early Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from ..rpc.versions import SUPPORTED_PROTOCOLS
from .profile import Profile
from .report import format_table, live_line
from .runner import Fleet, FleetConfig
from .stats import FleetSnapshot

__all__ = ["add_arguments", "run"]

LIVE_EVERY_S = 2.0


def _seconds_range(text: str) -> tuple[float, float]:
    """``MIN:MAX`` (or one number for both) in seconds."""
    low, _, high = text.partition(":")
    try:
        values = (float(low), float(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds as MIN:MAX, not {text!r}") from None
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``fleet`` subcommand's options."""
    parser.add_argument("--csms", required=True, metavar="URL", help="/<identity> is appended")
    parser.add_argument("--stations", type=int, required=True, metavar="N")
    parser.add_argument("--duration", type=float, required=True, metavar="S", help="seconds")
    parser.add_argument("--protocol", default="ocpp1.6", choices=SUPPORTED_PROTOCOLS)
    parser.add_argument("--report", type=Path, metavar="F.json", help="write the figures here")
    parser.add_argument("--identity-prefix", default="FLEET-", metavar="X")
    parser.add_argument("--ramp", type=float, default=0.0, metavar="S", help="start over S s")
    parser.add_argument("--connectors", type=int, default=2, metavar="N")
    parser.add_argument("--meter-interval", type=float, default=5.0, metavar="S")
    parser.add_argument(
        "--heartbeat", type=float, metavar="S", help="heartbeat interval (default: the CSMS's)"
    )
    parser.add_argument(
        "--session", type=_seconds_range, default=(5.0, 30.0), metavar="MIN:MAX",
        help="length of a charging session (s)",
    )  # fmt: skip
    parser.add_argument(
        "--idle", type=_seconds_range, default=(2.0, 10.0), metavar="MIN:MAX",
        help="wait before each session on a connector (s)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="same seed, same sessions")
    parser.add_argument("--call-timeout", type=float, default=30.0, metavar="S")
    parser.add_argument("--grace", type=float, default=5.0, metavar="S", help="time to close")
    parser.add_argument(
        "--progress", action="store_true", help="a live line every few seconds (on by TTY)"
    )


def config_from(args: argparse.Namespace) -> FleetConfig:
    """The run the options ask for (ValueError says which one is wrong)."""
    profile = Profile(
        connectors=args.connectors,
        meter_interval_s=args.meter_interval,
        heartbeat_s=args.heartbeat,
        idle_s=args.idle,
        session_s=args.session,
        seed=args.seed,
    )
    config = FleetConfig(
        csms=args.csms,
        stations=args.stations,
        duration_s=args.duration,
        protocol=args.protocol,
        identity_prefix=args.identity_prefix,
        ramp_s=args.ramp,
        profile=profile,
        call_timeout_s=args.call_timeout,
        grace_s=args.grace,
        publish_s=LIVE_EVERY_S,
    )
    config.check()
    return config


def report_data(fleet: Fleet, snapshot: FleetSnapshot) -> dict[str, Any]:
    """The ``--report`` file: the run's settings, the figures, the stations not booted."""
    config = fleet.config
    return {
        "csms": config.csms,
        "protocol": config.protocol,
        "duration_s": config.duration_s,
        "ramp_s": config.ramp_s,
        "seed": config.profile.seed,
        **snapshot.to_dict(),
        "not_booted": fleet.not_booted(),
    }


async def _run(fleet: Fleet, live: bool) -> FleetSnapshot:
    loop = asyncio.get_running_loop()

    def interrupted() -> None:  # the first Ctrl-C ends the run; a second one kills it
        print("\nStopping: closing the stations...", file=sys.stderr, flush=True)
        loop.remove_signal_handler(signal.SIGINT)
        fleet.stop()

    try:
        loop.add_signal_handler(signal.SIGINT, interrupted)
        loop.add_signal_handler(signal.SIGTERM, fleet.stop)
    except (NotImplementedError, RuntimeError):  # no signals here: Ctrl-C kills the run
        pass
    if live:
        previous: list[FleetSnapshot] = []

        def show(snapshot: FleetSnapshot) -> None:
            print(live_line(snapshot, previous[-1] if previous else None), file=sys.stderr)
            previous[:] = [snapshot]

        fleet.subscribe(show)
    return await fleet.run()


def run(args: argparse.Namespace) -> int:
    """Run the fleet the options describe; the exit code."""
    try:
        config = config_from(args)
    except ValueError as exc:
        print(f"browser-ocpp fleet: {exc}", file=sys.stderr)
        return 2
    if args.report is not None and not args.report.parent.is_dir():
        print(f"browser-ocpp fleet: no folder for the report: {args.report}", file=sys.stderr)
        return 2
    fleet = Fleet(config)
    snapshot = asyncio.run(_run(fleet, live=args.progress or sys.stderr.isatty()))
    print(format_table(snapshot), flush=True)
    if args.report is not None:
        args.report.write_text(json.dumps(report_data(fleet, snapshot), indent=2) + "\n")
    missing = fleet.not_booted()
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        print(f"{len(missing)} stations not booted: {shown}", file=sys.stderr)
        return 1
    return 0
