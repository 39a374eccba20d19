"""The browser client: runs under Pyodide on the page's own WebSocket."""

from .client import BrowserOCPPClient
from .transport import BrowserTransport, JSApi, browser_close_code

__all__ = ["BrowserOCPPClient", "BrowserTransport", "JSApi", "browser_close_code"]
