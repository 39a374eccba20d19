"""The ``pyodide-lock.json`` we generate: the upstream ``info`` block and exactly the
vendored wheels, each checked to fit Pyodide's Python and to have its dependencies."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from .errors import RuntimeBuildError
from .fetch import sha256_file
from .wheels import WheelInfo

__all__ = ["environment_for", "lock_entries", "runtime_depends", "verify_pyodide_lock"]


def environment_for(python: str) -> dict[str, str]:
    """The marker environment micropip sees inside Pyodide running ``python`` (3.14.2)."""
    return {
        "python_version": ".".join(python.split(".")[:2]),
        "python_full_version": python,
        "implementation_version": python,
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": "emscripten",
        "platform_system": "Emscripten",
        "os_name": "posix",
        "platform_machine": "wasm32",
        "platform_release": "",
        "platform_version": "",
        "extra": "",
    }


def _fits(version: str, specifier: str, what: str) -> bool:
    try:
        return SpecifierSet(specifier).contains(version, prereleases=True)
    except InvalidSpecifier as exc:
        raise RuntimeBuildError(f"{what}: {exc}") from exc


def _is_pure(file_name: str) -> bool:
    parts = file_name[: -len(".whl")].split("-")
    if len(parts) < 5:
        return False
    python, abi, platform = parts[-3:]
    return abi == "none" and platform == "any" and "py3" in python.split(".")


def runtime_depends(wheel: WheelInfo, environment: dict[str, str]) -> list[str]:
    """Canonical names of ``wheel``'s dependencies that apply under ``environment``."""
    names: list[str] = []
    for requirement in wheel.requirements:
        applies = requirement.marker is None or requirement.marker.evaluate(environment)
        name = canonicalize_name(requirement.name)
        if applies and name not in names:
            names.append(name)
    return names


def lock_entries(wheels: Sequence[WheelInfo], environment: dict[str, str]) -> dict[str, Any]:
    """The ``packages`` map of the generated lock; checks the set is closed and fits."""
    by_name = {wheel.name: wheel for wheel in wheels}
    if len(by_name) != len(wheels):
        raise RuntimeBuildError("two vendored wheels share a name")
    python = environment["python_full_version"]
    packages: dict[str, Any] = {}
    for wheel in sorted(wheels, key=lambda w: w.name):
        if not _is_pure(wheel.path.name):
            raise RuntimeBuildError(f"{wheel.path.name} is not a pure py3-none-any wheel")
        if wheel.requires_python and not _fits(python, wheel.requires_python, wheel.name):
            raise RuntimeBuildError(
                f"{wheel.path.name} requires Python {wheel.requires_python}, Pyodide has {python}"
            )
        depends = runtime_depends(wheel, environment)
        for requirement in wheel.requirements:
            name = canonicalize_name(requirement.name)
            if name not in depends:
                continue
            dependency = by_name.get(name)
            if dependency is None:
                raise RuntimeBuildError(f"{wheel.name} needs {name} under emscripten, not vendored")
            if not requirement.specifier.contains(dependency.version, prereleases=True):
                raise RuntimeBuildError(
                    f"{wheel.name} needs {name}{requirement.specifier}, "
                    f"vendored {dependency.version}"
                )
        if not wheel.imports:
            raise RuntimeBuildError(f"{wheel.path.name}: no importable top-level names found")
        packages[wheel.name] = {
            "name": wheel.name,
            "version": wheel.version,
            "file_name": wheel.path.name,
            "install_dir": "site",
            "sha256": wheel.sha256,
            "package_type": "package",
            "imports": list(wheel.imports),
            "depends": sorted(depends),
            "unvendored_tests": False,
            "shared_library": False,
            "tool": {},
        }
    return packages


def verify_pyodide_lock(directory: Path) -> list[str]:
    """Problems with ``directory/pyodide-lock.json``: missing wheels, wrong sha256..."""
    problems: list[str] = []
    try:
        lock = json.loads((directory / "pyodide-lock.json").read_text(encoding="utf-8"))
        packages: dict[str, Any] = lock["packages"]
        if not isinstance(lock["info"]["python"], str):
            return ["pyodide-lock.json: info.python is not a string"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"unreadable pyodide-lock.json: {exc!r}"]
    for key, entry in packages.items():
        wheel = directory / str(entry.get("file_name", ""))
        if not wheel.is_file():
            problems.append(f"{key}: {wheel.name} missing")
        elif sha256_file(wheel) != entry.get("sha256"):
            problems.append(f"{key}: {wheel.name} sha256 differs from the lock")
        problems.extend(
            f"{key}: dependency {dependency} not in the lock"
            for dependency in entry.get("depends", [])
            if dependency not in packages
        )
    return problems
