"""The demo CSMS and the server that carries the web console (CPython only)."""

from .app import ConsoleServer
from .csms import DemoCSMS, StationRecord

__all__ = ["ConsoleServer", "DemoCSMS", "StationRecord"]
