"""Entry point of the test bench page, run by PyScript in a Web Worker once Pyodide and
the packages load; a failure to import is reported on the loading indicator and in the console."""

import asyncio
import importlib
import traceback

import js
from pyscript import window  # the page's window (this runs in a Web Worker)


def main() -> None:
    window.consoleProgress("app", "Starting the test bench: importing browser_ocpp…", 88)
    try:
        bench_app = importlib.import_module("browser_ocpp.console.bench.app")
    except Exception as exc:
        js.console.error(traceback.format_exc())
        window.consoleProgress("error", f"{type(exc).__name__}: {exc}")
        return
    task = asyncio.ensure_future(bench_app.start())
    main.task = task  # type: ignore[attr-defined]  # keep a reference


main()
