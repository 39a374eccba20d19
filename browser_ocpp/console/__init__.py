"""The web console: a charging station in the browser. ``static/`` is the page
(served by ``browser-ocpp serve``); ``app`` wires the station to the views in ``ui/``
(one module per part of the page; they import ``js``, so only the page imports them);
``model/`` is the state without the DOM, tested in CPython."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["static_dir"]


def static_dir() -> Path:
    """The folder with the console's page, as installed."""
    return Path(str(resources.files(__package__) / "static"))
