"""Files stations upload to the demo CSMS: the logs of GetDiagnostics (1.6) and GetLog
(2.x), POSTed to ``/api/uploads``; kept in memory, a bounded number of them."""

from __future__ import annotations

import itertools
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["MAX_UPLOAD_BYTES", "UPLOADS_KEPT", "Upload", "Uploads", "upload_name"]

MAX_UPLOAD_BYTES = 1024 * 1024
"""The largest upload taken (413 beyond)."""
UPLOADS_KEPT = 20
"""Uploads kept; a new one beyond this forgets the oldest."""
NAME_LENGTH = 200

_FILENAME = re.compile(r'filename\s*=\s*"([^"]*)"|filename\s*=\s*([^;\s]+)', re.IGNORECASE)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def upload_name(headers: Mapping[str, str], query_name: str | None, fallback: str) -> str:
    """The file's name: ``Content-Disposition``'s filename, else ``?name=``, else
    ``fallback``; reduced to letters, digits, ``.``, ``_`` and ``-`` (others become
    ``_``), at most ``NAME_LENGTH`` characters."""
    found = _FILENAME.search(headers.get("Content-Disposition", ""))
    name = (found.group(1) or found.group(2)) if found else query_name
    name = _UNSAFE.sub("_", (name or "").strip())[:NAME_LENGTH].strip(".")
    return name or fallback


@dataclass
class Upload:
    name: str
    body: bytes
    content_type: str
    received: str
    """When it arrived (UTC, ISO 8601)."""
    identity: str | None = None
    """The station whose GetDiagnostics / GetLog answer named this file, if one did."""

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "bytes": len(self.body),
            "content_type": self.content_type,
            "received": self.received,
            "identity": self.identity,
        }


class Uploads:
    """The uploads received, newest last, at most ``kept``; a name received again
    replaces the earlier file."""

    def __init__(self, kept: int = UPLOADS_KEPT) -> None:
        self.kept = kept
        self._files: OrderedDict[str, Upload] = OrderedDict()
        self._expected: OrderedDict[str, str] = OrderedDict()  # file name -> identity
        self._numbers = itertools.count(1)

    def expect(self, name: str, identity: str) -> None:
        """``identity`` said it will upload ``name`` (its GetDiagnostics / GetLog answer)."""
        self._expected[name] = identity
        while len(self._expected) > self.kept:
            self._expected.popitem(last=False)

    def add(self, headers: Mapping[str, str], query_name: str | None, body: bytes) -> Upload:
        name = upload_name(headers, query_name, f"upload-{next(self._numbers)}.log")
        upload = Upload(
            name,
            body,
            headers.get("Content-Type", "application/octet-stream"),
            datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            self._expected.pop(name, None),
        )
        self._files.pop(name, None)
        self._files[name] = upload
        while len(self._files) > self.kept:
            self._files.popitem(last=False)
        return upload

    def get(self, name: str) -> Upload | None:
        return self._files.get(name)

    def listing(self) -> list[dict[str, Any]]:
        """Every upload kept, newest first, without its content."""
        return [upload.as_json() for upload in reversed(self._files.values())]
