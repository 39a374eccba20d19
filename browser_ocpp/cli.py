"""``browser-ocpp``: ``serve`` the web console with its runtime and a demo CSMS on one
port; ``runtime`` builds the browser runtime into a folder (done by ``serve`` too)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from .runtime import RuntimeBuildError, default_runtime_dir, ensure_runtime

__all__ = ["main"]


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def serve(
    host: str, port: int, runtime: Path, web: Path | None, allowed_hosts: list[str]
) -> None:
    from .demo import ConsoleServer

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    console = ConsoleServer(runtime, web=web, allowed_hosts=allowed_hosts)
    bound = await console.listen(port, host)
    shown = f"[{host}]" if ":" in host else host
    print(f"Web console:   http://{shown}:{bound}/", flush=True)
    print(f"Demo CSMS:     ws://{shown}:{bound}/ocpp/<identity>", flush=True)
    print(f"Operator view: http://{shown}:{bound}/csms/", flush=True)
    await stop.wait()
    await console.close()


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
    build = commands.add_parser("runtime", help="build the browser runtime, print its folder")
    build.add_argument("--dir", type=Path, help=folder)
    build.add_argument("--force", action="store_true", help="rebuild even when up to date")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "serve" and args.web and not (args.web / "index.html").is_file():
        parser.error(f"no console page at {args.web} (expected index.html)")
    try:
        folder = args.dir if args.command == "runtime" else args.runtime
        runtime = ensure_runtime(folder, force=getattr(args, "force", False), log=_say)
    except RuntimeBuildError as exc:
        parser.exit(1, f"browser-ocpp: cannot prepare the browser runtime: {exc}\n")
    if args.command == "runtime":
        print(runtime)
        return
    try:
        asyncio.run(serve(args.host, args.port, runtime, args.web, args.allow_host))
    except OSError as exc:
        parser.exit(1, f"browser-ocpp: cannot listen on {args.host}:{args.port}: {exc}\n")


if __name__ == "__main__":
    main()
