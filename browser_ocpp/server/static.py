"""Static files over the server's HTTP side: pages, the Pyodide runtime, wheels.

The WebSocket server answers plain requests (no ``Upgrade`` header) from mounted
folders, so pages and the CSMS share one origin, as Chromium's local network
checks want. GET and HEAD only (405 otherwise); one byte range per request (206,
or 416 when it lies past the end); ``ETag`` and ``Last-Modified``, with 304 for
``If-None-Match`` and ``If-Modified-Since``; no dotfiles or dot-folders (404). A
GET's body is not read here: the response carries the open file, and the
connection sends it a chunk at a time as the socket takes it
(:class:`~.transport.StreamedResponse`).
"""

from __future__ import annotations

import email.utils
import mimetypes
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Response

from .transport import StreamedResponse

__all__ = ["CROSS_ORIGIN_ISOLATED", "StaticFiles", "byte_range"]

ALLOW = "GET, HEAD"

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
# At most 18 digits (any file size fits): a longer number is not a range we serve,
# and int() of thousands of digits would raise.
_RANGE = re.compile(r"\s*bytes\s*=\s*(\d{0,18})\s*-\s*(\d{0,18})\s*", re.ASCII | re.IGNORECASE)
_TAG = re.compile(r'(W/)?"[^"]*"')


CROSS_ORIGIN_ISOLATED = (
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Embedder-Policy", "require-corp"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)
"""Headers that make a page cross-origin isolated: it gets ``SharedArrayBuffer``,
which Python in a Web Worker needs to reach the page's DOM synchronously."""


def content_type(path: Path) -> str:
    return (
        _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )


def byte_range(value: str, size: int) -> range | None:
    """The bytes a ``Range`` header asks of a ``size``-byte file: None to ignore it
    (another unit, several ranges, not valid), an empty range when none of them
    exists (416)."""
    match = _RANGE.fullmatch(value)
    if match is None:
        return None
    first, last = match.groups()
    if not first:  # the last N bytes
        if not last:
            return None
        return range(max(size - int(last), 0), size)
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        return range(0)
    return range(start, size if not last else min(int(last) + 1, size))


class StaticFiles:
    """URL prefixes mapped to folders."""

    def __init__(self) -> None:
        self._mounts: list[tuple[str, Path, tuple[tuple[str, str], ...]]] = []

    def __bool__(self) -> bool:
        return bool(self._mounts)

    def mount(
        self, prefix: str, directory: str | Path, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        """Serve ``directory`` under the URL ``prefix`` (longest prefix wins), each
        file's response carrying ``headers`` as well."""
        folder = Path(directory).resolve()
        if not folder.is_dir():
            raise ValueError(f"not a directory: {folder}")
        prefix = "/" + prefix.strip("/")
        self._mounts.append((prefix.rstrip("/") + "/", folder, tuple(headers)))
        self._mounts.sort(key=lambda mount: len(mount[0]), reverse=True)

    def resolve(self, url_path: str) -> Path | None:
        """The file for ``url_path``, or None: also for anything outside the mounts
        and for dotfiles, dot-folders and links to them."""
        found = self._find(url_path)
        return None if found is None else found[0]

    def _find(self, url_path: str) -> tuple[Path, tuple[tuple[str, str], ...]] | None:
        """The file for ``url_path`` and its mount's headers (see :meth:`resolve`)."""
        path = unquote(urlsplit(url_path).path)
        for prefix, folder, headers in self._mounts:
            if path == prefix.rstrip("/") or path.startswith(prefix):
                relative = path[len(prefix) :] if path.startswith(prefix) else ""
                try:
                    candidate = (folder / relative).resolve()
                    if not candidate.is_relative_to(folder):
                        return None
                    if candidate.is_dir():
                        candidate = candidate / "index.html"
                    inside = candidate.relative_to(folder).parts
                except (OSError, ValueError):  # e.g. an embedded NUL byte
                    return None
                asked = relative.split("/")
                if any(part.startswith(".") for part in (*asked, *inside)):
                    return None
                return (candidate, headers) if candidate.is_file() else None
        return None

    def response(self, url_path: str, request: Headers, method: str = "GET") -> Response:
        """The answer to ``method url_path``: 200 or 206 streaming the file (HEAD: its
        headers alone), 304, 404, 405 or 416."""
        found = self._find(url_path)
        if found is None:
            return _plain(404, "Not Found")
        path, extra = found
        if method not in ("GET", "HEAD"):
            response = _plain(405, "Method Not Allowed")
            response.headers["Allow"] = ALLOW
            return response
        try:
            file: BinaryIO = open(path, "rb", buffering=0)  # noqa: SIM115  # the connection closes it
        except OSError:
            return _plain(404, "Not Found")
        try:
            response = _file_response(file, path, request, method)
        except BaseException:
            file.close()
            raise
        for name, value in extra:
            response.headers[name] = value
        return response


def _file_response(file: BinaryIO, path: Path, request: Headers, method: str) -> Response:
    """The response for an open file; it keeps ``file`` only when it streams it."""
    stat = os.fstat(file.fileno())
    size = stat.st_size
    tag = f'"{size:x}-{stat.st_mtime_ns:x}"'
    validators = [
        ("ETag", tag),
        ("Last-Modified", email.utils.formatdate(stat.st_mtime, usegmt=True)),
        ("Cache-Control", "no-cache"),
    ]
    if _not_modified(request, tag, int(stat.st_mtime)):
        file.close()
        return Response(304, "Not Modified", Headers([*validators, ("Connection", "close")]))
    asked = request.get("Range")
    chosen = None
    if asked is not None and _if_range(request.get("If-Range"), tag, int(stat.st_mtime)):
        chosen = byte_range(asked, size)
    wanted = range(size) if chosen is None else chosen
    status, reason, extra = 200, "OK", []
    if chosen is not None:
        if not chosen:
            file.close()
            response = _plain(416, "Range Not Satisfiable")
            response.headers["Content-Range"] = f"bytes */{size}"
            return response
        status, reason = 206, "Partial Content"
        extra = [("Content-Range", f"bytes {wanted.start}-{wanted.stop - 1}/{size}")]
    headers = Headers(
        [
            ("Content-Type", content_type(path)),
            ("Content-Length", str(len(wanted))),
            *extra,
            ("Accept-Ranges", "bytes"),
            *validators,
            ("Connection", "close"),
        ]
    )
    if method == "HEAD" or not wanted:
        file.close()
        return Response(status, reason, headers)
    file.seek(wanted.start)
    return StreamedResponse(status, reason, headers, source=file, length=len(wanted))


def _not_modified(request: Headers, tag: str, mtime: int) -> bool:
    """Whether the client's copy is current: ``If-None-Match`` (weak comparison)
    decides when present, else ``If-Modified-Since``."""
    match = request.get("If-None-Match")
    if match is not None:
        return match.strip() == "*" or any(
            found.group(0).removeprefix("W/") == tag for found in _TAG.finditer(match)
        )
    since = request.get("If-Modified-Since")
    return since is not None and mtime <= (_timestamp(since) or -1)


def _if_range(condition: str | None, tag: str, mtime: int) -> bool:
    """Whether a ``Range`` applies: no ``If-Range``, or one naming this version
    (strong comparison of the tag, or exactly its date)."""
    if condition is None:
        return True
    condition = condition.strip()
    if condition.startswith(("W/", '"')):
        return condition == tag
    return _timestamp(condition) == mtime


def _timestamp(date: str) -> int | None:
    try:
        return int(email.utils.parsedate_to_datetime(date).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _plain(status: int, text: str) -> Response:
    body = f"{text}\n".encode()
    headers = Headers(
        [
            ("Content-Type", "text/plain"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
    )
    return Response(status, text, headers, body)
