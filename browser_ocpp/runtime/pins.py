"""The runtime's pins (``runtime.lock.json`` beside this module): the npm packages
``pyodide`` and ``@pyscript/core`` by version and ``dist.integrity``, and the pure
wheels Pyodide needs besides ours by file name and sha256."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .errors import RuntimeBuildError

__all__ = ["LOCK_NAME", "LockedNpm", "LockedWheel", "RuntimeLock", "load_lock", "parse_lock"]

LOCK_NAME = "runtime.lock.json"
NPM_PYODIDE = "pyodide"
NPM_PYSCRIPT = "@pyscript/core"


@dataclass(frozen=True)
class LockedNpm:
    """An npm package pinned by version and npm ``dist.integrity`` (``sha512-...``)."""

    name: str
    version: str
    integrity: str

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class LockedWheel:
    """A wheel pinned by file name and sha256."""

    name: str
    version: str
    file_name: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class RuntimeLock:
    pyodide: LockedNpm
    pyscript: LockedNpm
    wheels: tuple[LockedWheel, ...]
    text: str
    """The lock file as read, so a build can tell when the pins changed."""


def _text(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise RuntimeBuildError(f"{where}: {key!r} must be a non-empty string")
    return value


def _npm_pin(npm: dict[str, Any], name: str) -> LockedNpm:
    entry = npm.get(name)
    if not isinstance(entry, dict):
        raise RuntimeBuildError(f"{LOCK_NAME}: npm package {name!r} is not pinned")
    where = f"{LOCK_NAME}: npm {name}"
    integrity = _text(entry, "integrity", where)
    if not integrity.startswith("sha512-"):
        raise RuntimeBuildError(f"{where}: integrity must be a sha512- value")
    return LockedNpm(name, _text(entry, "version", where), integrity)


def _wheel_pin(entry: Any, index: int) -> LockedWheel:
    where = f"{LOCK_NAME}: wheels[{index}]"
    if not isinstance(entry, dict):
        raise RuntimeBuildError(f"{where} is not an object")
    wheel = LockedWheel(
        name=_text(entry, "name", where),
        version=_text(entry, "version", where),
        file_name=_text(entry, "file_name", where),
        sha256=_text(entry, "sha256", where).lower(),
    )
    if not re.fullmatch(r"[0-9a-f]{64}", wheel.sha256):
        raise RuntimeBuildError(f"{where}: sha256 must be 64 hex digits")
    if "/" in wheel.file_name or not wheel.file_name.endswith(".whl"):
        raise RuntimeBuildError(f"{where}: file_name must be a bare .whl name")
    return wheel


def parse_lock(text: str) -> RuntimeLock:
    """Check and read the text of a lock file."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RuntimeBuildError(f"{LOCK_NAME}: not JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("npm"), dict):
        raise RuntimeBuildError(f"{LOCK_NAME}: expected an object with an 'npm' object")
    wheels = data.get("wheels")
    if not isinstance(wheels, list) or not wheels:
        raise RuntimeBuildError(f"{LOCK_NAME}: 'wheels' must be a non-empty list")
    return RuntimeLock(
        pyodide=_npm_pin(data["npm"], NPM_PYODIDE),
        pyscript=_npm_pin(data["npm"], NPM_PYSCRIPT),
        wheels=tuple(_wheel_pin(entry, index) for index, entry in enumerate(wheels)),
        text=text,
    )


def load_lock() -> RuntimeLock:
    """The pins shipped with the package."""
    return parse_lock((resources.files(__package__) / LOCK_NAME).read_text(encoding="utf-8"))
