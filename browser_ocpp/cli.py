"""``browser-ocpp``: ``serve`` the web console with its runtime and a demo CSMS on one
port (``--workers N`` processes, ``--redis URL`` to join other servers); ``runtime``
builds the browser runtime into a folder (done by ``serve`` too); ``run`` a scenario file
and ``check`` a CSMS with the conformance pack (:mod:`browser_ocpp.scenario.cli`); ``fleet``
runs many emulated stations against a CSMS and reports its figures
(:mod:`browser_ocpp.fleet.cli`)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .fleet import cli as fleet_cli
from .runtime import RuntimeBuildError, default_runtime_dir, ensure_runtime
from .scenario import cli as scenario_cli

if TYPE_CHECKING:
    from .demo import ConsoleServer

__all__ = ["main"]


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _console(args: argparse.Namespace, runtime: Path, node_id: str | None = None) -> ConsoleServer:
    """The console and demo CSMS, joined to the servers on ``--redis`` when given."""
    from .demo import ConsoleServer

    console = ConsoleServer(runtime, web=args.web, allowed_hosts=args.allow_host)
    if args.redis:
        from .adapters import RedisAdapter

        adapter = RedisAdapter(args.redis, prefix=args.redis_prefix, node_id=node_id)
        console.server.set_adapter(adapter)
    return console


def _print_urls(host: str, port: int) -> None:
    shown = f"[{host}]" if ":" in host else host
    print(f"Web console:   http://{shown}:{port}/", flush=True)
    print(f"Demo CSMS:     ws://{shown}:{port}/ocpp/<identity>", flush=True)
    print(f"Operator view: http://{shown}:{port}/csms/", flush=True)


async def serve(args: argparse.Namespace, runtime: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    console = _console(args, runtime)
    _print_urls(args.host, await console.listen(args.port, args.host))
    await stop.wait()
    await console.close()


def serve_workers(args: argparse.Namespace, runtime: Path) -> None:
    """``--workers N``: N processes on one port, each its own console and demo CSMS."""
    from .server.workers import Worker, run_workers

    if not args.redis:
        _say(
            "browser-ocpp: without --redis, each worker reaches only the stations "
            "connected to it (commands from the operator view included)"
        )

    def ready(port: int) -> None:
        _print_urls(args.host, port)
        print(f"Workers:       {args.workers} processes on port {port}", flush=True)

    def make(worker: Worker) -> Any:
        return _console(args, runtime, worker.node_id).server

    run_workers(make, args.workers, args.port, args.host, ready=ready)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="browser-ocpp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    folder = f"the runtime folder (default: {default_runtime_dir()})"
    run = commands.add_parser("serve", help="serve the web console with a demo CSMS")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8080)
    run.add_argument("--runtime", type=Path, help=folder)
    run.add_argument("--web", type=Path, help="serve another console page from this folder")
    run.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name the operator API answers to (IP addresses and localhost always)",
    )
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="worker processes sharing the port (SO_REUSEPORT); one dying is restarted",
    )
    run.add_argument(
        "--redis",
        metavar="URL",
        help="join the servers sharing this Redis (each worker, each machine): "
        "commands reach stations connected to any of them",
    )
    run.add_argument("--redis-prefix", default="ocpp:", help="prefix of the Redis keys")
    build = commands.add_parser("runtime", help="build the browser runtime, print its folder")
    build.add_argument("--dir", type=Path, help=folder)
    build.add_argument("--force", action="store_true", help="rebuild even when up to date")
    scenario_cli.add_commands(commands)
    fleet = commands.add_parser("fleet", help="run N emulated stations against a CSMS")
    fleet_cli.add_arguments(fleet)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command in scenario_cli.COMMANDS:  # no browser runtime needed
        sys.exit(scenario_cli.main(args))
    if args.command == "fleet":
        sys.exit(fleet_cli.run(args))
    if args.command == "serve" and args.web and not (args.web / "index.html").is_file():
        parser.error(f"no console page at {args.web} (expected index.html)")
    if args.command == "serve" and args.workers < 1:
        parser.error("--workers must be 1 or more")
    try:
        folder = args.dir if args.command == "runtime" else args.runtime
        runtime = ensure_runtime(folder, force=getattr(args, "force", False), log=_say)
    except RuntimeBuildError as exc:
        parser.exit(1, f"browser-ocpp: cannot prepare the browser runtime: {exc}\n")
    if args.command == "runtime":
        print(runtime)
        return
    try:
        if args.workers > 1:
            serve_workers(args, runtime)
        else:
            asyncio.run(serve(args, runtime))
    except ConnectionError as exc:  # Redis (the adapter) unreachable
        parser.exit(1, f"browser-ocpp: {exc}\n")
    except OSError as exc:
        parser.exit(1, f"browser-ocpp: cannot listen on {args.host}:{args.port}: {exc}\n")
    except RuntimeError as exc:  # a worker could not start
        parser.exit(1, f"browser-ocpp: {exc}\n")


if __name__ == "__main__":
    main()
