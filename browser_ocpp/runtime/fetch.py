"""Fetching what the pins name, with the ordinary clients (``npm pack``, ``pip
download``), checked against the pins before use; and safe tarball extraction."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from .errors import RuntimeBuildError
from .pins import LockedNpm, LockedWheel

__all__ = [
    "Log",
    "extract_tar_folder",
    "fetch_npm",
    "fetch_wheel",
    "npm_integrity",
    "sha256_file",
]

Log = Callable[[str], None]
TOOL_TIMEOUT = 600  # seconds, for each npm or pip call
PYODIDE_PYTHON = "3.14"  # the wheels are resolved as Pyodide 314's Python sees them

# What the tools print when the network is the problem.
_OFFLINE_SIGNS = (
    "ENOTFOUND",
    "EAI_AGAIN",
    "ECONNREFUSED",
    "ECONNRESET",
    "ETIMEDOUT",
    "ENETUNREACH",
    "network",
    "Network",
    "Temporary failure in name resolution",
    "Failed to establish a new connection",
    "No matching distribution found",
)
_WHY_FIRST_START = (
    "the first start downloads the browser runtime (Pyodide, PyScript and a few wheels, "
    "about 9 MB) with npm and pip; later starts use the cache and work offline. "
    "Or pass --runtime DIR with a runtime made elsewhere by `browser-ocpp runtime --dir DIR`."
)


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


def _run(command: Sequence[str], what: str, missing: str, cwd: Path | None = None) -> str:
    """Run a tool; return its stdout, or raise with what went wrong and what to do."""
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
            timeout=TOOL_TIMEOUT,
            cwd=cwd,
            env=env,
            check=False,
        )
    except FileNotFoundError as exc:
        raise RuntimeBuildError(f"{what}: {command[0]} was not found. {missing}") from exc
    except subprocess.TimeoutExpired as exc:
        raise RuntimeBuildError(
            f"{what}: no answer in {TOOL_TIMEOUT} s (is the network reachable?); "
            + _WHY_FIRST_START
        ) from exc
    if done.returncode != 0:
        output = (done.stdout[-3000:] + done.stderr[-3000:]).strip()
        if "No module named pip" in output:
            raise RuntimeBuildError(f"{what}: {missing}")
        hint = _WHY_FIRST_START if any(s in output for s in _OFFLINE_SIGNS) else ""
        raise RuntimeBuildError(
            f"{what} failed (exit {done.returncode}). {hint}\n{' '.join(command)}\n{output}"
        )
    return done.stdout


def fetch_npm(pin: LockedNpm, cache: Path, log: Log) -> Path:
    """The pinned npm tarball in ``cache`` (``npm pack`` unless cached), integrity-checked."""
    cache.mkdir(parents=True, exist_ok=True)
    stem = pin.name.lstrip("@").replace("/", "-")
    expected = cache / f"{stem}-{pin.version}.tgz"
    if expected.is_file() and npm_integrity(expected) in pin.integrity.split():
        return expected
    log(f"fetching {pin.spec} with npm…")
    missing = (
        "npm fetches Pyodide and PyScript the first time: install Node.js's npm "
        "(Debian: apt-get install npm). " + _WHY_FIRST_START
    )
    out = _run(
        ["npm", "pack", pin.spec, "--json", "--pack-destination", str(cache)],
        f"npm pack {pin.spec}",
        missing,
        cwd=cache,
    )
    try:
        tarball = cache / str(json.loads(out)[0]["filename"])
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
    log(f"fetched {pin.spec} ({expected.stat().st_size / 1e6:.1f} MB), integrity OK")
    return expected


def fetch_wheel(pin: LockedWheel, cache: Path, log: Log) -> Path:
    """The pinned wheel in ``cache`` (``pip download`` unless cached), sha256-checked."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / pin.file_name
    if path.is_file() and sha256_file(path) == pin.sha256:
        return path
    log(f"fetching {pin.requirement} with pip…")
    missing = f"pip is needed for {sys.executable} the first time: python -m ensurepip"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            PYODIDE_PYTHON,
            "--implementation",
            "py",
            "--platform",
            "any",
            "--dest",
            str(cache),
            pin.requirement,
        ],
        f"pip download {pin.requirement}",
        missing,
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
    return path


def extract_tar_folder(tarball: Path, prefix: str, dest: Path) -> int:
    """Extract the regular files under ``prefix`` (e.g. ``package/dist/``) into ``dest``.

    Only directories and regular files, no absolute names, no ``..``, nothing that
    lands outside ``dest``; anything else is an error. Returns the files written.
    """
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    count = 0
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive:
            if not member.name.startswith(prefix):
                continue
            relative = PurePosixPath(member.name[len(prefix) :])
            if not relative.parts:
                continue
            if relative.is_absolute() or any(part in {"..", ""} for part in relative.parts):
                raise RuntimeBuildError(f"{tarball.name}: unsafe member name {member.name!r}")
            target = root.joinpath(*relative.parts)
            if not target.resolve().is_relative_to(root):
                raise RuntimeBuildError(f"{tarball.name}: member {member.name!r} escapes {dest}")
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                source = archive.extractfile(member)
                if source is None:
                    raise RuntimeBuildError(f"{tarball.name}: cannot read {member.name!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                with source, target.open("wb") as sink:
                    shutil.copyfileobj(source, sink)
                target.chmod(0o755 if member.mode & 0o111 else 0o644)
                count += 1
            else:
                raise RuntimeBuildError(
                    f"{tarball.name}: refusing non-regular member {member.name!r}"
                )
    if count == 0:
        raise RuntimeBuildError(f"{tarball.name}: nothing under {prefix!r}")
    return count
