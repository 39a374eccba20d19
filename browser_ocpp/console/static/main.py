"""Entry point of the console's pages (the emulator and the test bench), run by PyScript
in a Web Worker once Pyodide has started.

It loads the packages, then imports the page's app (``<html data-app="...">``) and
starts it, saying so on the loading indicator; any failure is reported there and in
the browser console.
"""

import asyncio
import importlib
import traceback

import js
import pyodide_js  # type: ignore[import-not-found]
from pyscript import document, window  # the page's (this runs in a Web Worker)


async def main() -> None:
    app_name = str(document.documentElement.dataset.app)
    window.consoleProgress("packages", "Loading packages: browser-ocpp, jsonschema…", 60)
    try:
        # Straight from the runtime's own lock: PyScript's "packages" would load
        # micropip first and resolve through it (about 0.4 s more).
        await pyodide_js.loadPackage("browser-ocpp", checkIntegrity=True)
        window.consoleProgress("app", "Starting: importing browser_ocpp…", 88)
        app = importlib.import_module(app_name)
    except Exception as exc:
        js.console.error(traceback.format_exc())
        window.consoleProgress("error", f"{type(exc).__name__}: {exc}")
        return
    await app.start()


def run() -> None:
    run.task = asyncio.ensure_future(main())  # type: ignore[attr-defined]  # keep a reference


run()
