#!/usr/bin/env python3
"""Prepare the offline browser runtime in ``runtime/`` (git-ignored).

Everything is pinned in ``runtime.lock.json`` at the repository root: the npm
packages ``pyodide`` and ``@pyscript/core`` (version + npm ``dist.integrity``) and
the pure wheels Pyodide needs besides our own (file name + sha256).  This script
builds:

``runtime/pyodide/``
    the files of the ``pyodide`` npm tarball, the pinned wheels, this project's own
    wheel built from the working tree, and a *generated* ``pyodide-lock.json`` that
    keeps the upstream ``info`` block and lists exactly the vendored wheels, so
    ``loadPyodide({indexURL, packages: ["browser-ocpp"]})`` works with no network.
``runtime/pyscript/``
    the ``dist/`` folder of the ``@pyscript/core`` npm tarball.

Downloads go through ``npm pack`` and ``pip download`` into ``runtime/.cache/`` and
are checked against the pins before use.  A stamp file records a digest of the
inputs (the lock, ``pyproject.toml``, ``browser_ocpp/**`` and this script), so a
second run with nothing changed is a quick no-op.

Usage::

    python3 scripts/runtime.py            # build or refresh runtime/
    python3 scripts/runtime.py --force    # rebuild even when up to date

From Python: ``ensure_runtime(repo_root)`` returns the ``runtime/`` directory.
"""

from __future__ import annotations

import argparse
import base64
import csv
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = [
    "PYODIDE_ENVIRONMENT",
    "LockedNpm",
    "LockedWheel",
    "RuntimeBuildError",
    "RuntimeLock",
    "WheelInfo",
    "ensure_runtime",
    "evaluate_marker",
    "extract_tar_folder",
    "load_lock",
    "main",
    "npm_integrity",
    "pyodide_dir",
    "pyscript_dir",
    "read_wheel",
    "runtime_dir",
    "verify_pyodide_lock",
    "version_satisfies",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCK_NAME = "runtime.lock.json"
RUNTIME_NAME = "runtime"
PACKAGE_DIR = "browser_ocpp"
PROJECT_NAME = "browser-ocpp"
STAMP_NAME = ".stamp.json"
RUNTIME_FILES = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip")
NPM_PYODIDE = "pyodide"
NPM_PYSCRIPT = "@pyscript/core"
SUBPROCESS_TIMEOUT = 600  # seconds, for each npm / pip call

# The environment micropip would see inside Pyodide 314 (CPython 3.14.2, wasm32).
# ``python_full_version`` is overwritten with the upstream lock's ``info.python``.
PYODIDE_ENVIRONMENT: dict[str, str] = {
    "python_version": "3.14",
    "python_full_version": "3.14.2",
    "implementation_version": "3.14.2",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "emscripten",
    "platform_system": "Emscripten",
    "os_name": "posix",
    "platform_machine": "wasm32",
    "platform_release": "",
    "platform_version": "",
}

Log = Callable[[str], None]


class RuntimeBuildError(Exception):
    """The runtime cannot be built as pinned (bad checksum, bad metadata, tool failed)."""


# --- the pins -----------------------------------------------------------------------


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
    """A wheel from PyPI pinned by file name and sha256."""

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


def _str_field(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise RuntimeBuildError(f"{where}: {key!r} must be a non-empty string")
    return value


def load_lock(path: Path) -> RuntimeLock:
    """Read and check ``runtime.lock.json``."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise RuntimeBuildError(f"{path}: not a JSON object")
    npm = data.get("npm")
    if not isinstance(npm, dict):
        raise RuntimeBuildError(f"{path}: 'npm' must be an object")

    def npm_pin(name: str) -> LockedNpm:
        entry = npm.get(name)
        if not isinstance(entry, dict):
            raise RuntimeBuildError(f"{path}: npm package {name!r} is not pinned")
        where = f"{path}: npm {name}"
        integrity = _str_field(entry, "integrity", where)
        if not integrity.startswith("sha512-"):
            raise RuntimeBuildError(f"{where}: integrity must be a sha512- value")
        return LockedNpm(name, _str_field(entry, "version", where), integrity)

    raw_wheels = data.get("wheels")
    if not isinstance(raw_wheels, list) or not raw_wheels:
        raise RuntimeBuildError(f"{path}: 'wheels' must be a non-empty list")
    wheels: list[LockedWheel] = []
    for index, entry in enumerate(raw_wheels):
        if not isinstance(entry, dict):
            raise RuntimeBuildError(f"{path}: wheels[{index}] is not an object")
        where = f"{path}: wheels[{index}]"
        wheel = LockedWheel(
            name=_str_field(entry, "name", where),
            version=_str_field(entry, "version", where),
            file_name=_str_field(entry, "file_name", where),
            sha256=_str_field(entry, "sha256", where).lower(),
        )
        if not re.fullmatch(r"[0-9a-f]{64}", wheel.sha256):
            raise RuntimeBuildError(f"{where}: sha256 must be 64 hex digits")
        if "/" in wheel.file_name or not wheel.file_name.endswith(".whl"):
            raise RuntimeBuildError(f"{where}: file_name must be a bare .whl name")
        wheels.append(wheel)
    return RuntimeLock(npm_pin(NPM_PYODIDE), npm_pin(NPM_PYSCRIPT), tuple(wheels))


# --- small helpers ------------------------------------------------------------------


def runtime_dir(root: Path) -> Path:
    return root / RUNTIME_NAME


def pyodide_dir(root: Path) -> Path:
    return runtime_dir(root) / "pyodide"


def pyscript_dir(root: Path) -> Path:
    return runtime_dir(root) / "pyscript"


def normalize_name(name: str) -> str:
    """PEP 503 normalization, as Pyodide's ``canonicalizePackageName`` does."""
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def npm_integrity(path: Path) -> str:
    """The tarball's ``sha512-<base64>``, computed as npm computes ``dist.integrity``."""
    digest = hashlib.sha512()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")


def _integrity_matches(path: Path, pinned: str) -> bool:
    # An SRI string may list several hashes separated by spaces; we pin one sha512.
    return npm_integrity(path) in pinned.split()


def _run(command: Sequence[str], what: str, cwd: Path | None = None) -> str:
    """Run a tool; return its stdout, or raise with its output when it fails."""
    env = dict(os.environ)
    env.update(
        {
            "npm_config_update_notifier": "false",
            "npm_config_fund": "false",
            "npm_config_audit": "false",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
    )
    try:
        done = subprocess.run(
            list(command),
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT,
            cwd=cwd,
            env=env,
            check=False,
        )
    except FileNotFoundError as exc:
        raise RuntimeBuildError(f"{what}: {command[0]} not found") from exc
    except subprocess.TimeoutExpired as exc:
        raise RuntimeBuildError(f"{what}: timed out after {SUBPROCESS_TIMEOUT} s") from exc
    if done.returncode != 0:
        raise RuntimeBuildError(
            f"{what} failed (exit {done.returncode}): {' '.join(command)}\n"
            f"{done.stdout[-4000:]}{done.stderr[-4000:]}"
        )
    return done.stdout


# --- inputs digest and stamp --------------------------------------------------------


def _package_files(root: Path) -> Iterator[Path]:
    for path in sorted((root / PACKAGE_DIR).rglob("*")):
        if "__pycache__" in path.parts or path.suffix in {".pyc", ".pyo"}:
            continue
        if path.is_file():
            yield path


def _digest_files(root: Path, paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def input_digests(root: Path) -> dict[str, str]:
    """What each part of the runtime is built from, hashed."""
    script = Path(__file__).resolve()
    lock_bytes = (root / LOCK_NAME).read_bytes()
    script_hash = hashlib.sha256(script.read_bytes()).hexdigest()
    pyodide_inputs = [root / LOCK_NAME, root / "pyproject.toml", *_package_files(root)]
    return {
        "pyodide": hashlib.sha256(
            (_digest_files(root, pyodide_inputs) + script_hash).encode()
        ).hexdigest(),
        "pyscript": hashlib.sha256(
            hashlib.sha256(lock_bytes).hexdigest().encode() + script_hash.encode()
        ).hexdigest(),
    }


def _read_stamp(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def _write_stamp(path: Path, stamp: dict[str, str]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    temporary.replace(path)


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Serialize builders (parallel test workers, a server and a terminal)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- npm tarballs -------------------------------------------------------------------


def fetch_npm(pin: LockedNpm, cache: Path, log: Log) -> Path:
    """The pinned npm tarball in ``cache`` (``npm pack`` unless cached), integrity-checked."""
    cache.mkdir(parents=True, exist_ok=True)
    stem = pin.name.lstrip("@").replace("/", "-")
    expected = cache / f"{stem}-{pin.version}.tgz"
    if expected.is_file() and _integrity_matches(expected, pin.integrity):
        log(f"npm {pin.spec}: cached tarball, integrity OK (skipped npm pack)")
        return expected
    out = _run(
        ["npm", "pack", pin.spec, "--json", "--pack-destination", str(cache)],
        f"npm pack {pin.spec}",
        cwd=cache,
    )
    try:
        report = json.loads(out)
        tarball = cache / str(report[0]["filename"])
    except (ValueError, LookupError, TypeError) as exc:
        raise RuntimeBuildError(f"npm pack {pin.spec}: unexpected output {out[:500]!r}") from exc
    if not tarball.is_file():
        raise RuntimeBuildError(f"npm pack {pin.spec}: {tarball} was not written")
    if tarball != expected:
        tarball.replace(expected)
    actual = npm_integrity(expected)
    if actual not in pin.integrity.split():
        expected.unlink()
        raise RuntimeBuildError(
            f"npm {pin.spec}: integrity mismatch: pinned {pin.integrity}, got {actual}"
        )
    log(f"npm {pin.spec}: packed {expected.name}, integrity OK")
    return expected


def extract_tar_folder(tarball: Path, prefix: str, dest: Path) -> int:
    """Extract the regular files under ``prefix`` (e.g. ``package/dist/``) into ``dest``.

    Safe by construction: only directories and regular files, no absolute names, no
    ``..``, nothing that lands outside ``dest``; anything else is an error.
    Returns the number of files written.
    """
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    count = 0
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive:
            name = member.name
            if not name.startswith(prefix):
                continue
            relative = PurePosixPath(name[len(prefix) :])
            if not relative.parts:
                continue
            if relative.is_absolute() or any(part in {"..", ""} for part in relative.parts):
                raise RuntimeBuildError(f"{tarball.name}: unsafe member name {name!r}")
            target = root.joinpath(*relative.parts)
            if not target.resolve().is_relative_to(root):
                raise RuntimeBuildError(f"{tarball.name}: member {name!r} escapes {dest}")
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                source = archive.extractfile(member)
                if source is None:
                    raise RuntimeBuildError(f"{tarball.name}: cannot read {name!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                with source, target.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
                target.chmod(0o755 if member.mode & 0o111 else 0o644)
                count += 1
            else:
                raise RuntimeBuildError(f"{tarball.name}: refusing non-regular member {name!r}")
    if count == 0:
        raise RuntimeBuildError(f"{tarball.name}: nothing under {prefix!r}")
    return count


# --- wheels -------------------------------------------------------------------------


def fetch_wheel(pin: LockedWheel, cache: Path, log: Log) -> Path:
    """The pinned wheel in ``cache`` (``pip download`` unless cached), sha256-checked."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / pin.file_name
    if path.is_file() and sha256_file(path) == pin.sha256:
        log(f"wheel {pin.file_name}: cached, sha256 OK (skipped pip download)")
        return path
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            PYODIDE_ENVIRONMENT["python_version"],
            "--implementation",
            "py",
            "--platform",
            "any",
            "--dest",
            str(cache),
            pin.requirement,
        ],
        f"pip download {pin.requirement}",
    )
    if not path.is_file():
        found = sorted(p.name for p in cache.glob("*.whl"))
        raise RuntimeBuildError(
            f"pip download {pin.requirement} did not produce {pin.file_name} (cache: {found})"
        )
    actual = sha256_file(path)
    if actual != pin.sha256:
        path.unlink()
        raise RuntimeBuildError(
            f"wheel {pin.file_name}: sha256 mismatch: pinned {pin.sha256}, got {actual}"
        )
    log(f"wheel {pin.file_name}: downloaded, sha256 OK")
    return path


def _build_requires(root: Path) -> list[str]:
    """``[build-system] requires`` of the project (the build backend, e.g. hatchling)."""
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    requires = data.get("build-system", {}).get("requires", [])
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise RuntimeBuildError("pyproject.toml: [build-system] requires is not a list")
    return [str(r) for r in requires]


def build_project_wheel(root: Path, outdir: Path, cache: Path, log: Log) -> Path:
    """Build this project's wheel from the working tree into ``outdir``.

    The build backend's wheels are kept in ``cache`` and the build itself runs with
    ``--no-index``, so rebuilding after an edit needs no network; the backend is
    (re)downloaded only when the cache is empty or no longer fits ``pyproject.toml``.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-index",
        "--find-links",
        str(cache),
        "--wheel-dir",
        str(outdir),
        str(root),
    ]
    try:
        if not any(cache.glob("*.whl")):
            raise RuntimeBuildError("no cached build backend")
        _run(command, "building the project wheel (offline)")
    except RuntimeBuildError:
        requires = _build_requires(root)
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--only-binary=:all:",
                "--dest",
                str(cache),
                *requires,
            ],
            f"pip download {' '.join(requires)}",
        )
        log(f"build backend: downloaded {', '.join(requires)} into {cache}")
        _run(command, "building the project wheel")
    built = sorted(outdir.glob("browser_ocpp-*.whl"))
    if len(built) != 1:
        raise RuntimeBuildError(f"expected one browser_ocpp wheel in {outdir}, found {built}")
    wheel = built[0]
    if not wheel.name.endswith("-py3-none-any.whl"):
        raise RuntimeBuildError(f"the project wheel is not pure: {wheel.name}")
    log(f"wheel {wheel.name}: built from the working tree in {time.monotonic() - started:.1f} s")
    return wheel


# --- wheel metadata: requirements, markers, versions --------------------------------

_VERSION_RE = re.compile(r"^v?(\d+(?:\.\d+)*)$")


def _release(version: str) -> tuple[int, ...]:
    """The release segment of a plain version (``4.17.3``); others are refused."""
    match = _VERSION_RE.match(version.strip())
    if match is None:
        raise RuntimeBuildError(f"unsupported version {version!r} (only plain releases)")
    return tuple(int(part) for part in match.group(1).split("."))


def _cmp(left: tuple[int, ...], right: tuple[int, ...]) -> int:
    width = max(len(left), len(right))
    a = left + (0,) * (width - len(left))
    b = right + (0,) * (width - len(right))
    return (a > b) - (a < b)


def _prefix_match(version: tuple[int, ...], prefix: tuple[int, ...]) -> bool:
    padded = version + (0,) * max(0, len(prefix) - len(version))
    return padded[: len(prefix)] == prefix


def version_satisfies(version: str, specifiers: str) -> bool:
    """Whether a plain release ``version`` meets ``specifiers`` (``>=4.17,<4.18``...)."""
    have = _release(version)
    for clause in filter(None, (c.strip() for c in specifiers.strip("() ").split(","))):
        match = re.fullmatch(r"(~=|===|==|!=|<=|>=|<|>)\s*(\S+)", clause)
        if match is None:
            raise RuntimeBuildError(f"unsupported version specifier {clause!r}")
        op, target = match.groups()
        if op in {"==", "!="} and target.endswith(".*"):
            ok = _prefix_match(have, _release(target[:-2]))
            ok = ok if op == "==" else not ok
        elif op == "===":
            ok = version == target
        elif op == "~=":
            want = _release(target)
            if len(want) < 2:
                raise RuntimeBuildError(f"invalid ~= specifier {clause!r}")
            ok = _cmp(have, want) >= 0 and _prefix_match(have, want[:-1])
        else:
            c = _cmp(have, _release(target))
            ok = {
                "==": c == 0,
                "!=": c != 0,
                "<=": c <= 0,
                ">=": c >= 0,
                "<": c < 0,
                ">": c > 0,
            }[op]
        if not ok:
            return False
    return True


_MARKER_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'[^']*'|"[^"]*")
      | (?P<op>===|==|!=|<=|>=|~=|<|>|\(|\))
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
_VERSION_VARIABLES = {"python_version", "python_full_version", "implementation_version"}


def _marker_tokens(marker: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = marker.rstrip()
    while position < len(text):
        match = _MARKER_TOKEN.match(text, position)
        if match is None:
            raise RuntimeBuildError(f"cannot parse marker {marker!r} at {text[position:]!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def evaluate_marker(
    marker: str, environment: dict[str, str] | None = None, extras: frozenset[str] = frozenset()
) -> bool:
    """Evaluate a PEP 508 environment marker (the subset wheels use) by hand.

    Supports ``and``/``or``/parentheses, comparisons of marker variables with quoted
    strings, ``in``/``not in``, version comparisons for the ``*_version`` variables
    and ``extra == "..."``.  Anything else raises, rather than guessing.
    """
    env = dict(PYODIDE_ENVIRONMENT if environment is None else environment)
    tokens = _marker_tokens(marker)
    index = 0

    def peek() -> tuple[str, str] | None:
        return tokens[index] if index < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal index
        if index >= len(tokens):
            raise RuntimeBuildError(f"marker {marker!r} ends early")
        index += 1
        return tokens[index - 1]

    def value() -> tuple[str, str]:
        kind, text = take()
        if kind == "string":
            return ("literal", text[1:-1])
        if kind == "word":
            return ("variable", text)
        raise RuntimeBuildError(f"marker {marker!r}: expected a value, got {text!r}")

    def resolve(item: tuple[str, str]) -> str:
        kind, text = item
        if kind == "literal":
            return text
        if text == "extra":
            raise RuntimeBuildError("internal: extra resolved as a value")
        if text not in env:
            raise RuntimeBuildError(f"marker {marker!r}: unknown variable {text!r}")
        return env[text]

    def comparison() -> bool:
        left = value()
        kind, op = take()
        if kind == "word" and op == "not":
            _, word = take()
            if word != "in":
                raise RuntimeBuildError(f"marker {marker!r}: 'not' without 'in'")
            op = "not in"
        elif kind == "word" and op != "in":
            raise RuntimeBuildError(f"marker {marker!r}: unknown operator {op!r}")
        right = value()
        if ("variable", "extra") in (left, right):
            other = right if left == ("variable", "extra") else left
            if op not in {"==", "!="} or other[0] != "literal":
                raise RuntimeBuildError(f"marker {marker!r}: unsupported extra comparison")
            found = normalize_name(other[1]) in {normalize_name(e) for e in extras}
            return found if op == "==" else not found
        lhs, rhs = resolve(left), resolve(right)
        if op == "in":
            return lhs in rhs
        if op == "not in":
            return lhs not in rhs
        variable = left[1] if left[0] == "variable" else right[1]
        if variable in _VERSION_VARIABLES and op != "===":
            # Version comparison: ``lhs op rhs`` with rhs as the specifier side.
            if left[0] == "variable":
                return version_satisfies(lhs, f"{op}{rhs}")
            flipped = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
            return version_satisfies(rhs, f"{flipped}{lhs}")
        if op == "==" or op == "===":
            return lhs == rhs
        if op == "!=":
            return lhs != rhs
        raise RuntimeBuildError(f"marker {marker!r}: operator {op!r} on non-version {variable!r}")

    def atom() -> bool:
        token = peek()
        if token == ("op", "("):
            take()
            result = disjunction()
            if take() != ("op", ")"):
                raise RuntimeBuildError(f"marker {marker!r}: missing ')'")
            return result
        return comparison()

    def conjunction() -> bool:
        result = atom()
        while peek() == ("word", "and"):
            take()
            right = atom()
            result = result and right
        return result

    def disjunction() -> bool:
        result = conjunction()
        while peek() == ("word", "or"):
            take()
            right = conjunction()
            result = result or right
        return result

    outcome = disjunction()
    if index != len(tokens):
        raise RuntimeBuildError(f"marker {marker!r}: trailing {tokens[index:]!r}")
    return outcome


_REQUIREMENT = re.compile(
    r"""^\s*(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*
        (?:\[(?P<extras>[^\]]*)\])?\s*
        (?P<spec>\(?[^;@]*?\)?)\s*
        (?:;\s*(?P<marker>.*))?$""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Requirement:
    name: str
    specifier: str
    marker: str | None


def parse_requirement(text: str) -> Requirement:
    match = _REQUIREMENT.match(text)
    if match is None or "@" in text.split(";", 1)[0]:
        raise RuntimeBuildError(f"unsupported requirement {text!r}")
    return Requirement(
        name=normalize_name(match.group("name")),
        specifier=match.group("spec").strip(),
        marker=(match.group("marker") or "").strip() or None,
    )


@dataclass(frozen=True)
class WheelInfo:
    """What the generated lock needs to know about one wheel."""

    path: Path
    name: str  # normalized
    version: str
    requires_python: str | None
    requirements: tuple[Requirement, ...]
    imports: tuple[str, ...]
    sha256: str


def _top_level_names(archive: zipfile.ZipFile, dist_info: str) -> tuple[str, ...]:
    names: set[str] = set()
    try:
        text = archive.read(f"{dist_info}/top_level.txt").decode("utf-8")
    except KeyError:
        text = ""
    for line in text.splitlines():
        if line.strip():
            names.add(line.strip().split("/")[0])
    if not names:
        record = archive.read(f"{dist_info}/RECORD").decode("utf-8")
        for row in csv.reader(io.StringIO(record)):
            if not row or not row[0]:
                continue
            parts = PurePosixPath(row[0]).parts
            first = parts[0]
            if first.endswith((".dist-info", ".data")) or first in {"..", "__pycache__"}:
                continue
            if len(parts) == 1:
                if first.endswith(".py"):
                    names.add(first[:-3])
                elif ".cpython-" in first or first.endswith((".so", ".pyd")):
                    names.add(first.split(".", 1)[0])
            else:
                names.add(first)
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
        metadata = HeaderParser().parsestr(archive.read(f"{dist_info}/METADATA").decode("utf-8"))
        imports = _top_level_names(archive, dist_info)
    name, version = metadata.get("Name"), metadata.get("Version")
    if not name or not version:
        raise RuntimeBuildError(f"{path.name}: METADATA lacks Name or Version")
    return WheelInfo(
        path=path,
        name=normalize_name(name),
        version=str(version),
        requires_python=metadata.get("Requires-Python"),
        requirements=tuple(parse_requirement(r) for r in metadata.get_all("Requires-Dist", [])),
        imports=imports,
        sha256=sha256_file(path),
    )


def _wheel_is_pure(file_name: str) -> bool:
    parts = file_name[: -len(".whl")].split("-")
    if len(parts) < 5:
        return False
    python, abi, platform = parts[-3:]
    return abi == "none" and platform == "any" and "py3" in python.split(".")


def runtime_depends(wheel: WheelInfo, environment: dict[str, str]) -> list[str]:
    """Normalized names of ``wheel``'s dependencies that apply under ``environment``."""
    names: list[str] = []
    for requirement in wheel.requirements:
        applies = requirement.marker is None or evaluate_marker(requirement.marker, environment)
        if applies and requirement.name not in names:
            names.append(requirement.name)
    return names


def lock_entries(wheels: Sequence[WheelInfo], environment: dict[str, str]) -> dict[str, Any]:
    """The ``packages`` map of the generated lock; checks the set is closed and fits."""
    by_name = {wheel.name: wheel for wheel in wheels}
    if len(by_name) != len(wheels):
        raise RuntimeBuildError("two vendored wheels share a name")
    packages: dict[str, Any] = {}
    for wheel in sorted(wheels, key=lambda w: w.name):
        if not _wheel_is_pure(wheel.path.name):
            raise RuntimeBuildError(f"{wheel.path.name} is not a pure py3-none-any wheel")
        if wheel.requires_python and not version_satisfies(
            environment["python_full_version"], wheel.requires_python
        ):
            raise RuntimeBuildError(
                f"{wheel.path.name} requires Python {wheel.requires_python}, "
                f"Pyodide has {environment['python_full_version']}"
            )
        depends = runtime_depends(wheel, environment)
        for requirement in wheel.requirements:
            if requirement.name not in depends:
                continue
            dependency = by_name.get(requirement.name)
            if dependency is None:
                raise RuntimeBuildError(
                    f"{wheel.name} needs {requirement.name} under emscripten, not vendored"
                )
            if requirement.specifier and not version_satisfies(
                dependency.version, requirement.specifier
            ):
                raise RuntimeBuildError(
                    f"{wheel.name} needs {requirement.name}{requirement.specifier}, "
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
        for dependency in entry.get("depends", []):
            if dependency not in packages:
                problems.append(f"{key}: dependency {dependency} not in the lock")
    return problems


# --- the build ----------------------------------------------------------------------


def _replace_dir(staging: Path, final: Path) -> None:
    if final.exists():
        old = final.with_name(f".old-{final.name}")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        staging.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(final)


def _build_pyodide(root: Path, lock: RuntimeLock, cache: Path, log: Log) -> None:
    runtime = runtime_dir(root)
    tarball = fetch_npm(lock.pyodide, cache / "npm", log)
    staging = Path(tempfile.mkdtemp(prefix=".staging-pyodide-", dir=runtime))
    staging.chmod(0o755)  # mkdtemp makes it 0700; a server may run as another user
    try:
        count = extract_tar_folder(tarball, "package/", staging)
        log(f"pyodide: extracted {count} files of {lock.pyodide.spec}")
        upstream = json.loads((staging / "pyodide-lock.json").read_text(encoding="utf-8"))
        info = upstream["info"]
        environment = dict(PYODIDE_ENVIRONMENT)
        environment["python_full_version"] = str(info["python"])
        environment["implementation_version"] = str(info["python"])
        environment["python_version"] = ".".join(str(info["python"]).split(".")[:2])

        wheels: list[WheelInfo] = []
        for pin in lock.wheels:
            path = fetch_wheel(pin, cache / "wheels", log)
            shutil.copy2(path, staging / pin.file_name)
            meta = read_wheel(staging / pin.file_name)
            if meta.name != normalize_name(pin.name) or meta.version != pin.version:
                raise RuntimeBuildError(
                    f"{pin.file_name} is {meta.name} {meta.version}, pinned as "
                    f"{pin.name} {pin.version}"
                )
            wheels.append(meta)
        with tempfile.TemporaryDirectory(prefix="build-", dir=cache) as outdir:
            own = build_project_wheel(root, Path(outdir), cache / "build-backend", log)
            shutil.copy2(own, staging / own.name)
        own_info = read_wheel(staging / own.name)
        if own_info.name != PROJECT_NAME:
            raise RuntimeBuildError(f"the project wheel is named {own_info.name!r}")
        wheels.append(own_info)

        generated = {"info": info, "packages": lock_entries(wheels, environment)}
        (staging / "pyodide-lock.json").write_text(
            json.dumps(generated, indent=2, sort_keys=False) + "\n", encoding="utf-8"
        )
        problems = verify_pyodide_lock(staging)
        if problems:
            raise RuntimeBuildError("generated pyodide-lock.json: " + "; ".join(problems))
        names = ", ".join(f"{w.name} {w.version}" for w in sorted(wheels, key=lambda w: w.name))
        log(f"pyodide: generated pyodide-lock.json with {len(wheels)} packages ({names})")
        _replace_dir(staging, pyodide_dir(root))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"pyodide: ready in {pyodide_dir(root)}")


def _build_pyscript(root: Path, lock: RuntimeLock, cache: Path, log: Log) -> None:
    runtime = runtime_dir(root)
    tarball = fetch_npm(lock.pyscript, cache / "npm", log)
    staging = Path(tempfile.mkdtemp(prefix=".staging-pyscript-", dir=runtime))
    staging.chmod(0o755)
    try:
        count = extract_tar_folder(tarball, "package/dist/", staging)
        log(f"pyscript: extracted {count} files of {lock.pyscript.spec} dist/")
        _replace_dir(staging, pyscript_dir(root))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log(f"pyscript: ready in {pyscript_dir(root)}")


def _outputs_present(root: Path, lock: RuntimeLock) -> dict[str, bool]:
    pyodide = pyodide_dir(root)
    return {
        "pyodide": all(
            (pyodide / name).is_file()
            for name in (
                "pyodide.mjs",
                "pyodide.asm.wasm",
                "python_stdlib.zip",
                "pyodide-lock.json",
            )
        )
        and all((pyodide / wheel.file_name).is_file() for wheel in lock.wheels),
        "pyscript": (pyscript_dir(root) / "core.js").is_file(),
    }


def ensure_runtime(root: Path = REPO_ROOT, *, force: bool = False, log: Log = print) -> Path:
    """Build or refresh ``root/runtime`` as pinned; return that directory.

    Quick when nothing changed: compares a digest of the inputs with the stamp.
    """
    root = root.resolve()
    lock = load_lock(root / LOCK_NAME)
    runtime = runtime_dir(root)
    runtime.mkdir(parents=True, exist_ok=True)
    cache = runtime / ".cache"
    stamp_path = runtime / STAMP_NAME
    started = time.monotonic()
    with _exclusive(runtime / ".lock"):
        digests = input_digests(root)
        stamp = _read_stamp(stamp_path)
        present = _outputs_present(root, lock)
        builders = {"pyodide": _build_pyodide, "pyscript": _build_pyscript}
        for part, builder in builders.items():
            if not force and stamp.get(part) == digests[part] and present[part]:
                log(f"{part}: up to date (skipped)")
                continue
            builder(root, lock, cache, log)
            stamp[part] = digests[part]
            _write_stamp(stamp_path, stamp)
    log(f"runtime: {runtime} ready in {time.monotonic() - started:.2f} s")
    return runtime


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    try:
        ensure_runtime(args.root, force=args.force)
    except RuntimeBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
