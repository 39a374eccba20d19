"""The web console: a charging station in the browser. ``static/`` is the page
(served by ``browser-ocpp serve``); ``app`` binds the station to the page's DOM and
imports ``js``, so only the page imports it; ``model`` is its state without the DOM."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["static_dir"]


def static_dir() -> Path:
    """The folder with the console's page, as installed."""
    return Path(str(resources.files(__package__) / "static"))
