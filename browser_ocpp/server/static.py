"""Static files over the server's HTTP side: pages, the Pyodide runtime, wheels.

The WebSocket server answers plain GET requests (no ``Upgrade`` header) from
mounted folders, so pages and the CSMS share one origin, as Chromium's local
network checks want.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import unquote, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Response

__all__ = ["StaticFiles"]

_TYPES = {
    ".wasm": "application/wasm",  # any other type makes loadPyodide hang
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".py": "text/x-python; charset=utf-8",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".map": "application/json",
}


def content_type(path: Path) -> str:
    return (
        _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )


class StaticFiles:
    """URL prefixes mapped to folders; files are read once and kept (until changed)."""

    def __init__(self) -> None:
        self._mounts: list[tuple[str, Path]] = []
        self._cache: dict[Path, tuple[float, bytes]] = {}

    def __bool__(self) -> bool:
        return bool(self._mounts)

    def mount(self, prefix: str, directory: str | Path) -> None:
        """Serve ``directory`` under the URL ``prefix`` (longest prefix wins)."""
        folder = Path(directory).resolve()
        if not folder.is_dir():
            raise ValueError(f"not a directory: {folder}")
        prefix = "/" + prefix.strip("/")
        self._mounts.append((prefix.rstrip("/") + "/", folder))
        self._mounts.sort(key=lambda mount: len(mount[0]), reverse=True)

    def resolve(self, url_path: str) -> Path | None:
        """The file for ``url_path``, or None (also for anything outside the mounts)."""
        path = unquote(urlsplit(url_path).path)
        for prefix, folder in self._mounts:
            if path == prefix.rstrip("/") or path.startswith(prefix):
                relative = path[len(prefix) :] if path.startswith(prefix) else ""
                try:
                    candidate = (folder / relative).resolve()
                    if not candidate.is_relative_to(folder):
                        return None
                    if candidate.is_dir():
                        candidate = candidate / "index.html"
                    return candidate if candidate.is_file() else None
                except (OSError, ValueError):  # e.g. an embedded NUL byte
                    return None
        return None

    def _read(self, path: Path) -> bytes:
        mtime = path.stat().st_mtime
        cached = self._cache.get(path)
        if cached is None or cached[0] != mtime:
            cached = (mtime, path.read_bytes())
            self._cache[path] = cached
        return cached[1]

    def response(self, url_path: str) -> Response:
        """200 with the file, or 404."""
        path = self.resolve(url_path)
        if path is None:
            body = b"Not Found\n"
            headers = Headers([("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return Response(404, "Not Found", headers, body)
        body = self._read(path)
        headers = Headers(
            [
                ("Content-Type", content_type(path)),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-cache"),
            ]
        )
        return Response(200, "OK", headers, body)
