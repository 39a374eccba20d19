"""The page's ``window`` and ``document``, wherever the console's Python runs.

The console runs in a Web Worker (PyScript's ``worker`` mode), so that Python never
blocks the page: there ``js`` is the worker's own global scope and ``pyscript.window``
reaches the page's, synchronously (hence the cross-origin isolation headers the
console is served with).  On the page's main thread both are the same.  A call into
the page that returns a promise may arrive already settled (``settled``).
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["document", "in_worker", "settled", "window"]

try:
    from pyscript import RUNNING_IN_WORKER as in_worker
    from pyscript import document, window
except ImportError:  # plain Pyodide on the main thread
    import js as window

    document = window.document
    in_worker = False


async def settled(result: Any) -> Any:
    """The value of a page call's result: awaited when it is a promise."""
    if inspect.isawaitable(result):
        return await result
    return result
