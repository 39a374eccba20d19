"""Wheels for Pyodide: what one says about itself, and our own, made from the package
as installed (so an installed copy needs neither its sources nor a build backend)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from importlib import metadata
from pathlib import Path, PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .errors import RuntimeBuildError
from .fetch import sha256_file

__all__ = ["PROJECT", "WheelInfo", "build_own_wheel", "own_files", "read_wheel"]

PROJECT = "browser-ocpp"
PACKAGE = "browser_ocpp"
# Parts of the package the browser never imports: the command line, the runtime builder, the demo
# CSMS (a websockets server) and the console's static files (served, not imported).
NOT_FOR_THE_BROWSER = ("cli.py", "runtime", "demo", "console/static")
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed times: the same files always make the same wheel


@dataclass(frozen=True)
class WheelInfo:
    """What the generated Pyodide lock needs to know about one wheel."""

    path: Path
    name: str  # canonical
    version: str
    requires_python: str | None
    requirements: tuple[Requirement, ...]
    imports: tuple[str, ...]
    sha256: str


def _top_level_names(archive: zipfile.ZipFile, dist_info: str) -> tuple[str, ...]:
    names: set[str] = set()
    try:
        listed = archive.read(f"{dist_info}/top_level.txt").decode("utf-8")
    except KeyError:
        listed = ""
    names.update(line.strip().split("/")[0] for line in listed.splitlines() if line.strip())
    if not names:
        record = archive.read(f"{dist_info}/RECORD").decode("utf-8")
        for row in csv.reader(io.StringIO(record)):
            parts = PurePosixPath(row[0]).parts if row and row[0] else ()
            if not parts or parts[0].endswith((".dist-info", ".data")):
                continue
            if len(parts) > 1:
                names.add(parts[0])
            elif parts[0].endswith(".py"):
                names.add(parts[0][:-3])
    return tuple(sorted(name for name in names if name.isidentifier()))


def read_wheel(path: Path) -> WheelInfo:
    """Name, version, Requires-Dist, Requires-Python and import names of a wheel."""
    with zipfile.ZipFile(path) as archive:
        dist_infos = {
            name.split("/", 1)[0]
            for name in archive.namelist()
            if name.split("/", 1)[0].endswith(".dist-info") and name.endswith("/METADATA")
        }
        if len(dist_infos) != 1:
            raise RuntimeBuildError(f"{path.name}: expected one .dist-info, found {dist_infos}")
        dist_info = dist_infos.pop()
        headers = HeaderParser().parsestr(archive.read(f"{dist_info}/METADATA").decode("utf-8"))
        imports = _top_level_names(archive, dist_info)
    name, version = headers.get("Name"), headers.get("Version")
    if not name or not version:
        raise RuntimeBuildError(f"{path.name}: METADATA lacks Name or Version")
    try:
        requirements = tuple(Requirement(text) for text in headers.get_all("Requires-Dist", []))
    except InvalidRequirement as exc:
        raise RuntimeBuildError(f"{path.name}: {exc}") from exc
    return WheelInfo(
        path=path,
        name=canonicalize_name(name),
        version=str(version),
        requires_python=headers.get("Requires-Python"),
        requirements=requirements,
        imports=imports,
        sha256=sha256_file(path),
    )


def _package_dir() -> Path:
    return Path(__file__).resolve().parent.parent


def own_files() -> list[tuple[str, Path]]:
    """The package's files that go into its browser wheel, as (archive name, path)."""
    root = _package_dir()
    files: list[tuple[str, Path]] = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in {".pyc", ".pyo"}:
            continue
        if any(relative == part or relative.startswith(part + "/") for part in NOT_FOR_THE_BROWSER):
            continue
        files.append((f"{PACKAGE}/{relative}", path))
    return files


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def build_own_wheel(dest: Path) -> Path:
    """Our pure wheel for Pyodide, written into ``dest`` from the installed package."""
    try:
        distribution = metadata.distribution(PROJECT)
    except metadata.PackageNotFoundError as exc:
        raise RuntimeBuildError(
            f"{PROJECT} is not installed in {_package_dir().parent} "
            "(pip install browser-ocpp, or pip install -e . in a checkout)"
        ) from exc
    text = distribution.read_text("METADATA")
    if not text:
        raise RuntimeBuildError(f"the installed {PROJECT} has no METADATA")
    version = distribution.version
    dist_info = f"{PACKAGE}-{version}.dist-info"
    entries = [(name, path.read_bytes()) for name, path in own_files()]
    entries.append((f"{dist_info}/METADATA", text.encode("utf-8")))
    entries.append(
        (
            f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: browser-ocpp\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n",
        )
    )
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in entries)
    entries.append((f"{dist_info}/RECORD", (record + f"{dist_info}/RECORD,,\n").encode()))
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / f"{PACKAGE}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return wheel
