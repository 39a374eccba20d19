"""``browser-ocpp serve``: the web console, its runtime and a demo CSMS in one process."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

__all__ = ["main"]

REPO = Path(__file__).resolve().parent.parent


def _runtime(root: Path) -> Path:
    """The vendored runtime: built (once) by the project's script when run from a checkout."""
    script = root / "scripts" / "runtime.py"
    if script.exists():
        sys.path.insert(0, str(script.parent))
        from runtime import ensure_runtime

        return ensure_runtime(root)
    return root / "runtime"


async def serve(host: str, port: int, web: Path, runtime: Path) -> None:
    from .demo import ConsoleServer

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    console = ConsoleServer(web, runtime)
    bound = await console.listen(port, host)
    shown = f"[{host}]" if ":" in host else host
    print(f"Web console:   http://{shown}:{bound}/", flush=True)
    print(f"Demo CSMS:     ws://{shown}:{bound}/ocpp/<identity>", flush=True)
    print(f"Operator view: http://{shown}:{bound}/csms/", flush=True)
    await stop.wait()
    await console.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="browser-ocpp", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="serve the web console with a demo CSMS")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8080)
    run.add_argument("--web", type=Path, default=REPO / "web", help="the console's folder")
    run.add_argument("--runtime", type=Path, help="the runtime folder (default: build it)")
    args = parser.parse_args(argv)
    if not (args.web / "index.html").exists():
        parser.error(f"no console at {args.web} (expected index.html)")
    runtime = args.runtime or _runtime(REPO)
    try:
        asyncio.run(serve(args.host, args.port, args.web, runtime))
    except OSError as exc:
        parser.exit(1, f"browser-ocpp: cannot listen on {args.host}:{args.port}: {exc}\n")


if __name__ == "__main__":
    main()
