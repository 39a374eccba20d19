"""Entry point of the web console, run by PyScript in a Web Worker once Pyodide and the
packages load.

Importing ``browser_ocpp`` and the console happens here, after the loading indicator
says so; any failure is reported on the indicator and in the browser console.
"""

import asyncio
import importlib
import traceback

import js
from pyscript import window  # the page's window (this runs in a Web Worker)


def main() -> None:
    window.consoleProgress("app", "Starting the emulator: importing browser_ocpp…", 88)
    try:
        console_app = importlib.import_module("browser_ocpp.console.app")
    except Exception as exc:
        js.console.error(traceback.format_exc())
        window.consoleProgress("error", f"{type(exc).__name__}: {exc}")
        return
    task = asyncio.ensure_future(console_app.start())
    main.task = task  # type: ignore[attr-defined]  # keep a reference


main()
